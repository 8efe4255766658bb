"""The training objective: the forward of SPEC §1.6 and the loss of §2. The trainer and the parity test both
use :func:`loss_and_grads` (there is no second copy)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax.traverse_util import flatten_dict, unflatten_dict

from lwl_jax.training.frozen import trainable_mask
from lwl_jax.training.loss import iou_statistic, segmentation_loss


def forward(params, batch_stats, model, batch):
    """The training forward (SPEC §1.6): mask logits (T, B, H, W) of the test frames."""
    return model.apply({"params": params, "batch_stats": batch_stats}, batch["train_images"],
                       batch["test_images"], batch["train_masks"])


def loss_fn(params, batch_stats, model, batch, loss_weight: float = 100.0):
    """``batch``: train_images (1, B, H, W, 3), test_images (T, B, H, W, 3), train_masks (1, B, H, W),
    test_masks (T, B, H, W). Returns (loss, aux with logits and the IoU statistic)."""
    logits = forward(params, batch_stats, model, batch)
    loss = segmentation_loss(logits, batch["test_masks"], loss_weight)
    return loss, {"logits": logits, "iou": iou_statistic(logits, batch["test_masks"])}


def split_trained(params, frozen_prefixes):
    """(trained, frozen) flat dicts of ``params``."""
    flat = flatten_dict(params)
    mask = flatten_dict(trainable_mask(params, frozen_prefixes))
    return {k: v for k, v in flat.items() if mask[k]}, {k: v for k, v in flat.items() if not mask[k]}


def loss_and_grads(params, batch_stats, model, batch, frozen_prefixes=(), loss_weight: float = 100.0):
    """(loss, aux, grads). Only trained parameters are differentiated (frozen ones get zero gradients, and no
    backward pass is spent on their weight gradients); aux adds ``grad_norm`` over the trained parameters."""
    trained, frozen = split_trained(params, frozen_prefixes)

    def f(trained):
        return loss_fn(unflatten_dict({**frozen, **trained}), batch_stats, model, batch, loss_weight)

    (loss, aux), g = jax.value_and_grad(f, has_aux=True)(trained)
    aux["grad_norm"] = jnp.sqrt(sum(jnp.sum(v.astype(jnp.float32) ** 2) for v in g.values()))
    grads = unflatten_dict({**{k: jnp.zeros_like(v) for k, v in frozen.items()}, **g})
    return loss, aux, grads
