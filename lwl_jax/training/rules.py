"""Which parameters train, and in which learning-rate group: the config's ``param_rules``, a tuple of
``(regex, label)`` pairs. A parameter's path (``feature_extractor/layer2/0/conv1/kernel``) must fully match exactly
one rule's regex; its label is ``"frozen"`` or a learning-rate group (the rate is ``cfg.lr[group]``, else
``cfg.lr.default``). A parameter matched by no rule or by two is an error naming it, so a new recipe is a config,
never a code change, and nothing is frozen or trained by accident. BatchNorm statistics are never updated.

The reference's stages (paper §4 and appendix D), as rules:
``stage1`` the backbone frozen; ``stage2`` conv1, bn1 and layer1 frozen, layers 2–4 trained with the rest;
``boxinit`` only the box encoder B trained; ``all`` everything trained (training from scratch).
"""
from __future__ import annotations

import re

from flax.traverse_util import flatten_dict, unflatten_dict

from lwl_jax.errors import ConfigError

FROZEN = "frozen"
# the reference optimiser's groups
GROUPS = {"filter_optimizer": r"target_model/filter_optimizer/.*",
          "target_features": r"target_model/feature_extractor/.*",
          "decoder": r"decoder/.*",
          "label_encoder": r"label_encoder/.*",
          "box_encoder": r"box_label_encoder/.*"}
HEADS = tuple((p, g) for g, p in GROUPS.items())


def stage_rules(stage: str) -> tuple:
    """The rules of one of the reference's stages (see the module docstring)."""
    if stage == "stage1":
        return ((r"feature_extractor/.*", FROZEN),) + HEADS
    if stage == "stage2":
        return ((r"feature_extractor/(conv1|bn1|layer1)/.*", FROZEN),
                (r"feature_extractor/(layer2|layer3|layer4)/.*", "backbone")) + HEADS
    if stage == "boxinit":
        return ((r"(feature_extractor|target_model|decoder|label_encoder)/.*", FROZEN),
                (GROUPS["box_encoder"], "box_encoder"))
    if stage == "all":
        return ((r"feature_extractor/.*", "backbone"),) + HEADS
    raise ConfigError(f"unknown stage {stage!r}; expected stage1, stage2, boxinit or all")


def param_labels(params, rules) -> dict:
    """A pytree like ``params`` holding each parameter's label; ConfigError naming any parameter matched by no
    rule or by more than one."""
    compiled = []
    for rule in rules:
        try:
            pattern, label = rule
            compiled.append((re.compile(pattern), str(label)))
        except (TypeError, ValueError, re.error) as e:
            raise ConfigError(f"config key param_rules: {rule!r} is not a (regex, label) pair ({e})") from None
    out = {}
    for path in flatten_dict(params):
        name = "/".join(path)
        hits = [(p.pattern, label) for p, label in compiled if p.fullmatch(name)]
        if len(hits) != 1:
            what = "no rule" if not hits else f"{len(hits)} rules ({', '.join(p for p, _ in hits)})"
            raise ConfigError(f"config key param_rules: parameter {name} is matched by {what}; each parameter "
                              "must match exactly one")
        out[path] = hits[0][1]
    return unflatten_dict(out)


def trainable_mask(params, rules) -> dict:
    """A pytree of bools like ``params``: True where the parameter is trained."""
    labels = flatten_dict(param_labels(params, rules))
    return unflatten_dict({k: v != FROZEN for k, v in labels.items()})
