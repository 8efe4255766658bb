"""The tracker's device work: a few jitted functions with fixed shapes (compiled once per video size).

Objects of a frame run as one batch (axis K). Crops and paste-back are linear maps from
``lwl_jax.tracking.geometry`` applied with two contractions.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from lwl_jax.models.learner import apply_filter
from lwl_jax.models.lwl import IMAGE_MEAN_BGR, LWLNet


def _apply(model, fn, variables, *args):
    return model.apply(variables, *args, method=lambda m, *a: fn(m, *a))


@jax.jit
def crop_frame(frame_rgb, rows, cols):
    """uint8 RGB frame (H, W, 3), rows (K, h, H), cols (K, w, W) -> normalised BGR crops (K, h, w, 3)."""
    t = jnp.einsum("khH,HWc->khWc", rows, frame_rgb.astype(jnp.float32))
    crops = jnp.einsum("kwW,khWc->khwc", cols, t)
    return crops[..., ::-1] - IMAGE_MEAN_BGR


@jax.jit
def crop_maps(maps, rows, cols):
    """Per-object maps (K, H, W), rows (K, h, H), cols (K, w, W) -> crops (K, h, w)."""
    return jnp.einsum("khH,kHW,kwW->khw", rows, maps, cols)


@jax.jit
def paste_scores(logits, rows, cols, row_mask, col_mask):
    """Crop logits (K, h, w) -> frame scores (K, H, W), −100 outside each object's search region."""
    s = jnp.einsum("kHh,khw,kWw->kHW", rows, logits, cols)
    inside = row_mask[:, :, None] & col_mask[:, None, :]
    return jnp.where(inside, s, -100.0)


@jax.jit
def soft_aggregate(scores):
    """Soft aggregation of per-object scores (K, H, W) -> (probabilities (K, H, W), label index map (H, W)):
    p_bg = clamp(Π(1 − σ(s_k)), 1e-7, 1 − 1e-7); softmax over (logit(p_bg), s_1 … s_K); argmax (0 = background)."""
    p = jax.nn.sigmoid(scores)
    bg = jnp.clip(jnp.prod(1.0 - p, axis=0), 1e-7, 1.0 - 1e-7)
    all_scores = jnp.concatenate([jnp.log(bg / (1.0 - bg))[None], scores], axis=0)
    probs = jax.nn.softmax(all_scores, axis=0)
    return probs[1:], jnp.argmax(probs, axis=0)


@functools.lru_cache(maxsize=None)
def features_fn(model: LWLNet):
    """jit(variables, crops (K, H, W, 3)) -> target-model features x (K, h, w, C)."""

    def run(m, crops):
        return m.target_features(m.backbone(crops)["layer3"])

    return jax.jit(lambda v, crops: _apply(model, run, v, crops))


@functools.lru_cache(maxsize=None)
def predict_fn(model: LWLNet):
    """jit(variables, τ (K, k, k, C, D), crops (K, H, W, 3)) -> (logits (K, H, W), x (K, h, w, C),
    mask encoding T_τ(x) (K, h, w, D))."""

    def run(m, tau, crops):
        feats = m.backbone(crops)
        x = m.target_features(feats["layer3"])
        enc = apply_filter(x[None], tau)[0]
        logits, _ = m.decode(enc, feats, crops.shape[1:3])
        return logits, x, enc

    return jax.jit(lambda v, tau, crops: _apply(model, run, v, tau, crops))


@functools.lru_cache(maxsize=None)
def encode_fn(model: LWLNet):
    """jit(variables, masks (K, H, W)) -> (E, W) each (K, h, w, D)."""
    return jax.jit(lambda v, masks: _apply(model, lambda m, a: m.encode_labels(a), v, masks))


@functools.lru_cache(maxsize=None)
def learn_fn(model: LWLNet, num_iter: int):
    """jit(variables, τ (K, …), x (M, K, h, w, C), E, W (M, K, h, w, D), temporal weights (M, K)) -> τ.

    v = W · temporal weight; memory slots of weight 0 do not contribute."""

    def run(m, tau, x, e, w, tw):
        return m.learn(x, e, w * tw[:, :, None, None, None], num_iter, tau)[0]

    return jax.jit(lambda v, tau, x, e, w, tw: _apply(model, run, v, tau, x, e, w, tw))


@functools.lru_cache(maxsize=None)
def box_init_fn(model: LWLNet):
    """jit(variables, frame (1, H, W, 3) normalised, boxes (K, 4)) -> first-frame logits (K, H, W) from B and D."""

    def run(m, img, boxes):
        feats = m.backbone(img)
        x = m.target_features(feats["layer3"])
        k = boxes.shape[0]
        x = jnp.broadcast_to(x, (k,) + x.shape[1:])
        _, enc = m.encode_box(boxes, x, img.shape[1:3])
        feats = {n: jnp.broadcast_to(f, (k,) + f.shape[1:]) for n, f in feats.items()}
        logits, _ = m.decode(enc, feats, img.shape[1:3])
        return logits

    return jax.jit(lambda v, img, boxes: _apply(model, run, v, img, boxes))


@functools.partial(jax.jit, donate_argnums=(0,))
def memory_insert(memory, slots, values, do):
    """memory (M, K, …), slots (K,), values (K, …), do (K,) bool -> memory with values written where ``do``."""
    k = jnp.arange(memory.shape[1])
    old = memory[slots, k]
    keep = do.reshape((-1,) + (1,) * (values.ndim - 1))
    return memory.at[slots, k].set(jnp.where(keep, values.astype(memory.dtype), old))


def zeros_tau(model: LWLNet, num_objects: int, feature_dim: int | None = None):
    c = feature_dim or model.feature_dim
    return jnp.zeros((num_objects, model.filter_size, model.filter_size, c, model.num_filters), jnp.float32)
