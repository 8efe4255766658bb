"""The fixtures' deterministic synthetic weights, rebuilt from a manifest and the folder's ``weight_rules``.

Rule (fixture README): entry i of the manifest draws ``n = default_rng([seed, i]).standard_normal(shape)``
(float64) and becomes, cast to float32:
BatchNorm ``weight = 1 + 0.1 n``, ``bias = 0.1 n``, ``running_mean = 0.1 n``, ``running_var = 1 + 0.1 |n|``;
``num_batches_tracked = 0`` (int64, no draw); the learner's ``filter_reg`` and the decoder's output bias are
constants; conv weights ``n · sqrt(2 / fan_in) · gain`` (gains for the stem, the last conv of each bottleneck and
the decoder's output conv); other 1-d entries ``0.1 n``.
"""
from __future__ import annotations

import math
import re

import numpy as np

FILTER_REG_KEY = "target_model.filter_optimizer.residual_module.filter_reg"
DECODER_OUT_BIAS_KEY = "decoder.project.conv2.bias"
_BN_LEAVES = ("weight", "bias", "running_mean", "running_var")


def _gain(name: str, rules: dict) -> float:
    if name == "feature_extractor.conv1.weight":
        return float(rules["STEM_GAIN"])
    if re.fullmatch(r"feature_extractor\.layer\d+\.\d+\.conv3\.weight", name):
        return float(rules["RESIDUAL_BRANCH_GAIN"])
    if name == "decoder.project.conv2.weight":
        return float(rules["DECODER_OUT_GAIN"])
    return 1.0


def make_state_dict(entries: list[dict], rules: dict) -> dict[str, np.ndarray]:
    """The synthetic state_dict for manifest ``entries`` under ``rules`` (``fixtures_index.json`` weight_rules)."""
    seed = int(rules["seed"])
    names = {e["name"] for e in entries}
    bn_modules = {n.rsplit(".", 1)[0] for n in names if n.endswith(".running_mean")}
    sd = {}
    for i, entry in enumerate(entries):
        name, shape = entry["name"], tuple(entry["shape"])
        module, leaf = name.rsplit(".", 1)
        if leaf == "num_batches_tracked":
            sd[name] = np.zeros(shape, np.int64)
            continue
        n = np.random.default_rng([seed, i]).standard_normal(shape)
        if module in bn_modules and leaf in _BN_LEAVES:
            value = {"weight": 1.0 + 0.1 * n, "bias": 0.1 * n, "running_mean": 0.1 * n,
                     "running_var": 1.0 + 0.1 * np.abs(n)}[leaf]
        elif name == FILTER_REG_KEY:
            value = np.full(shape, float(rules["filter_reg"]))
        elif name == DECODER_OUT_BIAS_KEY:
            value = np.full(shape, float(rules["decoder_out_bias"]))
        elif len(shape) >= 2:
            value = n * math.sqrt(2.0 / int(np.prod(shape[1:]))) * _gain(name, rules)
        else:
            value = 0.1 * n
        sd[name] = value.astype(np.float32)
    return sd
