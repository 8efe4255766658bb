"""The tracker's device work as a few jitted functions with fixed shapes (one compilation per crop size).

``predict``: object crops -> backbone, target features x, T_τ(x), decoder -> mask logits (objects as one batch).
``learn``: (E, W) of masks, then the learner from τ over a fixed-size memory (frames, objects).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from lwl_jax.models.learner import apply_filter
from lwl_jax.models.lwl import LWLNet


@functools.lru_cache(maxsize=None)
def predict_fn(model: LWLNet):
    """jit(variables, τ (K, k, k, C, D), crops (K, H, W, 3)) -> (logits (K, H, W), x (K, h, w, C))."""

    def predict(variables, tau, crops):
        def run(m, tau, crops):
            feats = m.backbone(crops)
            x = m.target_features(feats["layer3"])
            enc = apply_filter(x[None], tau)[0]
            logits, _ = m.decode(enc, feats, crops.shape[1:3])
            return logits, x

        return nn_apply(model, run, variables, tau, crops)

    return jax.jit(predict)


@functools.lru_cache(maxsize=None)
def learn_fn(model: LWLNet, num_iter: int):
    """jit(variables, τ (K, …), x (M, K, h, w, C), masks (M, K, H, W), temporal weights (M, K)) -> (τ, losses).

    Memory slots with weight 0 do not contribute (their residuals vanish)."""

    def learn(variables, tau, x, masks, frame_weights):
        def run(m, tau, x, masks, frame_weights):
            e, w = m.encode_labels(masks)
            w = w * frame_weights[:, :, None, None, None]
            return m.learn(x, e, w, num_iter, tau)

        return nn_apply(model, run, variables, tau, x, masks, frame_weights)

    return jax.jit(learn)


def nn_apply(model, fn, variables, *args):
    """Run ``fn(bound_model, *args)`` with ``variables`` bound to ``model``."""
    return model.apply(variables, *args, method=lambda m, *a: fn(m, *a))


def zeros_tau(model: LWLNet, num_objects: int, feature_dim: int | None = None):
    c = feature_dim or model.feature_dim
    return jnp.zeros((num_objects, model.filter_size, model.filter_size, c, model.num_filters), jnp.float32)
