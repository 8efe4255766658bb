"""The training objective: the training forward of paper §3.6 (or the box-init forward of §3.7) and its Lovász loss. The
trainer and the parity test both use these functions (there is no second copy)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax.traverse_util import flatten_dict, unflatten_dict

from lwl_jax.errors import ConfigError
from lwl_jax.training.loss import iou_statistic, segmentation_loss
from lwl_jax.training.rules import trainable_mask

FORWARDS = ("segmentation", "box")


def forward(params, batch_stats, model, batch, kind: str = "segmentation"):
    """Mask logits: of the test frames (T, B, H, W) for ``kind="segmentation"`` (paper §3.6), of the train frames
    decoded from their boxes (1, B, H, W) for ``kind="box"`` (box-init training, paper §3.7)."""
    variables = {"params": params, "batch_stats": batch_stats}
    if kind == "box":
        return model.apply(variables, batch["train_images"], batch["train_masks"], method=type(model).box_forward)
    if kind != "segmentation":
        raise ConfigError(f"unknown training forward {kind!r}; expected one of {FORWARDS}")
    return model.apply(variables, batch["train_images"], batch["test_images"], batch["train_masks"])


def targets(batch, kind: str = "segmentation"):
    """The masks the logits of :func:`forward` are compared with."""
    return batch["train_masks"] if kind == "box" else batch["test_masks"]


def loss_fn(params, batch_stats, model, batch, loss_weight: float = 100.0, loss_kind: str = "lovasz",
            kind: str = "segmentation"):
    """``batch``: train_images (1, B, H, W, 3), test_images (T, B, H, W, 3), train_masks (1, B, H, W),
    test_masks (T, B, H, W). Returns (loss, aux with logits and the IoU statistic)."""
    logits = forward(params, batch_stats, model, batch, kind)
    labels = targets(batch, kind)
    loss = segmentation_loss(logits, labels, loss_weight, loss_kind)
    return loss, {"logits": logits, "iou": iou_statistic(logits, labels)}


def split_trained(params, rules):
    """(trained, frozen) flat dicts of ``params`` under ``rules`` (``lwl_jax/training/rules.py``)."""
    flat = flatten_dict(params)
    mask = flatten_dict(trainable_mask(params, rules))
    return {k: v for k, v in flat.items() if mask[k]}, {k: v for k, v in flat.items() if not mask[k]}


def loss_and_grads(params, batch_stats, model, batch, rules=((".*", "default"),), loss_weight: float = 100.0,
                   loss_kind: str = "lovasz", kind: str = "segmentation"):
    """(loss, aux, grads). Only trained parameters are differentiated (frozen ones get zero gradients, and no
    backward pass is spent on their weight gradients); aux adds ``grad_norm`` over the trained parameters."""
    trained, frozen = split_trained(params, rules)

    def f(trained):
        return loss_fn(unflatten_dict({**frozen, **trained}), batch_stats, model, batch, loss_weight, loss_kind,
                       kind)

    (loss, aux), g = jax.value_and_grad(f, has_aux=True)(trained)
    aux["grad_norm"] = jnp.sqrt(sum(jnp.sum(v.astype(jnp.float32) ** 2) for v in g.values()))
    grads = unflatten_dict({**{k: jnp.zeros_like(v) for k, v in frozen.items()}, **g})
    return loss, aux, grads
