"""The tracker's device work: a few jitted functions with fixed shapes (compiled once per video size).

Objects of a frame run as one batch (axis K). Crops and paste-back are linear maps from
``lwl_jax.tracking.geometry`` applied with two contractions.
"""
from __future__ import annotations

import functools

import flax.struct
import jax
import jax.numpy as jnp

from lwl_jax.models.lwl import LWLNet, normalize


def _apply(model, fn, variables, *args):
    return model.apply(variables, *args, method=lambda m, *a: fn(m, *a))


def axis_maps(axes, out: int, frame: int, is_mask: bool):
    """Crop maps from their integer decisions (``geometry.crop_params``): axes (K, 5) int32 of one axis
    (start, length, src, offset, step) -> (K, out, frame) float32, the device twin of ``geometry._axis_map``
    (bilinear with replicate padding for images, nearest with zero padding for masks; PyTorch's
    ``align_corners=False`` coordinates, computed in float32)."""
    start, length, src, offset, step = (axes[:, i, None] for i in range(5))
    pixels = jnp.arange(frame)
    if is_mask:   # PyTorch's nearest index, computed in float32
        scale = length.astype(jnp.float32) / jnp.float32(out)
        dst = jnp.arange(out, dtype=jnp.float32)[None]
        idx = start + jnp.minimum(jnp.floor(dst * scale).astype(jnp.int32), length - 1)
        hit = (offset + step * idx)[..., None] == pixels
        return (hit & ((idx >= 0) & (idx < src))[..., None]).astype(jnp.float32)
    # source coordinate (dst + ½)·length/out − ½ = n / (2·out) with the integer n = (2·dst + 1)·length − out:
    # integer part and fraction exactly, clamped at 0 as PyTorch does
    n = jnp.maximum((2 * jnp.arange(out)[None] + 1) * length - out, 0)
    i0 = jnp.minimum(n // (2 * out), length - 1)
    l1 = (n - 2 * out * i0).astype(jnp.float32) / jnp.float32(2 * out)
    i1 = jnp.minimum(i0 + 1, length - 1)
    j0 = offset + step * jnp.clip(start + i0, 0, src - 1)
    j1 = offset + step * jnp.clip(start + i1, 0, src - 1)
    return ((1.0 - l1)[..., None] * (j0[..., None] == pixels) + l1[..., None] * (j1[..., None] == pixels))


def paste_axis_maps(params, n_in: int, n_frame: int):
    """Paste maps from ``geometry.paste_params`` of one axis, (K, 3) float32 (start, n_out, coordinate scale)
    -> (maps (K, n_frame, n_in), covered (K, n_frame) bool), the device twin of ``geometry.paste_maps``."""
    start = params[:, 0, None].astype(jnp.int32)
    n_out = params[:, 1, None].astype(jnp.int32)
    scale = params[:, 2, None]
    j = jnp.arange(n_frame)[None] - start
    covered = (j >= 0) & (j < n_out)
    # source coordinate (j + ½)·scale − ½, its integer part and fraction as exactly as float64 would give them:
    # scale = hi + lo with hi of 11 significant bits, so (j + ½)·hi and the subtraction of ½ are exact in float32
    hi = jax.lax.bitcast_convert_type(jax.lax.bitcast_convert_type(scale, jnp.uint32) & jnp.uint32(0xFFFFE000),
                                      jnp.float32)
    u = j.astype(jnp.float32) + 0.5
    a = u * hi - 0.5
    whole = jnp.floor(a)
    frac = (a - whole) + u * (scale - hi)
    carry = jnp.floor(frac)
    whole, frac = whole + carry, frac - carry
    negative = whole < 0                       # PyTorch clamps the coordinate at 0
    i0 = jnp.minimum(jnp.where(negative, 0, whole.astype(jnp.int32)), n_in - 1)
    l1 = jnp.where(negative, 0.0, frac + (whole - i0.astype(jnp.float32)))
    i1 = jnp.minimum(i0 + 1, n_in - 1)
    cols = jnp.arange(n_in)
    m = (1.0 - l1)[..., None] * (i0[..., None] == cols) + l1[..., None] * (i1[..., None] == cols)
    return jnp.where(covered[..., None], m, 0.0), covered


@jax.jit
def crop_frame(frame_rgb, rows, cols):
    """uint8 RGB frame (H, W, 3), rows (K, h, H), cols (K, w, W) -> normalised BGR crops (K, h, w, 3)."""
    t = jnp.einsum("khH,HWc->khWc", rows, frame_rgb.astype(jnp.float32))
    crops = jnp.einsum("kwW,khWc->khwc", cols, t)
    return normalize(crops)


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
def encode_fn(model: LWLNet):
    """jit(variables, masks (K, H, W)) -> (E, W) each (K, h, w, D)."""
    return jax.jit(lambda v, masks: _apply(model, lambda m, a: m.encode_labels(a), v, masks))


@functools.lru_cache(maxsize=None)
def init_learn_fn(model: LWLNet, num_iter: int):
    """jit(variables, x (K, h, w, C), E, W (K, h, w, D)) -> (τ (K, …), T_τ(x) (K, h, w, D)): the first frame's
    learning from τ⁰ = 0 (whose prediction is exactly 0)."""

    def run(m, x, e, w):
        tau, _, u = m.learn(x[None], e[None], w[None], num_iter, prediction=jnp.zeros_like(e[None]))
        return tau, u[0]

    return jax.jit(lambda v, x, e, w: _apply(model, run, v, x, e, w))


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


# --- the tracker's per-frame device calls -------------------------------------------------------------------

@flax.struct.dataclass
class DeviceState:
    """What the tracker keeps on the device, objects on axis K (memory slots on axis M first):
    τ (K, k, k, C, D); memory features x, labels E(y), weights W(y) and predictions T_τ(x) for the current τ
    (M, K, h, w, ·); the features x and T_τ(x) of the last predicted frame and its merged probabilities (K, H, W)."""
    tau: jax.Array
    mem_x: jax.Array
    mem_e: jax.Array
    mem_w: jax.Array
    mem_u: jax.Array
    prev_x: jax.Array
    prev_u: jax.Array
    prev_probs: jax.Array

    def concat(self, other: "DeviceState") -> "DeviceState":
        """Objects of ``other`` appended after those of ``self`` (memory buffers on axis 1, the rest on axis 0)."""
        return jax.tree_util.tree_map(lambda name, a, b: jnp.concatenate([a, b], axis=1 if name else 0),
                                      self._memory_axes(), self, other)

    def _memory_axes(self):
        return DeviceState(*(n.startswith("mem_") for n in self.__dataclass_fields__))


def merge_outputs(scores, ids):
    """Soft aggregation -> (probabilities (K, H, W), uint8 label map (H, W) of object ids, row sums (K, H),
    column sums (K, W)); the sums are all the host needs for the next search regions and the boxes."""
    probs, index = soft_aggregate(scores)
    return probs, ids[index].astype(jnp.uint8), probs.sum(axis=2), probs.sum(axis=1)


merge = jax.jit(merge_outputs)   # its own call on first frames and frames where objects start


@functools.lru_cache(maxsize=None)
def update_fn(model: LWLNet, num_iter: int, memory_prefix: int, sample_size: tuple):
    """One call: the previous frame's merged probabilities are cropped (nearest, zero padding) where they were
    predicted, label-encoded once (E, W), written to each object's memory slot, and τ takes ``num_iter``
    steepest-descent steps over the first ``memory_prefix`` slots.

    jit(variables, state, axes (K, 2, 5) int32 of the crops, slots (K,), insert (K,) bool, learn (K,) bool,
    temporal weights (memory_prefix, K)) -> state; the state's buffers are donated."""

    def run(m, st, axes, slots, insert, learn, tw):
        h, w = st.prev_probs.shape[1:]
        rows = axis_maps(axes[:, 0], sample_size[0], h, True)
        cols = axis_maps(axes[:, 1], sample_size[1], w, True)
        e, wgt = m.encode_labels(crop_maps(st.prev_probs, rows, cols))
        mem_x = memory_insert(st.mem_x, slots, st.prev_x, insert)
        mem_e = memory_insert(st.mem_e, slots, e, insert)
        mem_w = memory_insert(st.mem_w, slots, wgt, insert)
        mem_u = memory_insert(st.mem_u, slots, st.prev_u, insert)
        p = memory_prefix
        tau, _, u = m.learn(mem_x[:p], mem_e[:p], mem_w[:p] * tw[:, :, None, None, None], num_iter, st.tau,
                            prediction=mem_u[:p])
        tau = jnp.where(learn.reshape((-1,) + (1,) * (tau.ndim - 1)), tau, st.tau)
        u = jnp.where(learn.reshape((1, -1) + (1,) * (u.ndim - 2)), u, mem_u[:p])
        return st.replace(tau=tau, mem_x=mem_x, mem_e=mem_e, mem_w=mem_w, mem_u=mem_u.at[:p].set(u))

    return jax.jit(lambda v, st, *a: _apply(model, run, v, st, *a), donate_argnums=(1,))


@functools.lru_cache(maxsize=None)
def track_fn(model: LWLNet, sample_size: tuple):
    """One call per frame: crop every object's search region from the uint8 frame, backbone, x, T_τ(x), decoder,
    paste back (−100 outside the region), soft-aggregate.

    jit(variables, state, frame (H, W, 3) uint8, axes (K, 2, 5) int32, paste (K, 2, 3) float32, ids (K + 1,))
    -> (state with x and probabilities of this frame, outputs): outputs = dict(labels (H, W) uint8, rows (K, H),
    cols (K, W) probability sums, scores (K, H, W), crops, encoding, logits). Only labels, rows and cols are
    meant for the host."""

    def run(m, st, frame, axes, paste, ids):
        h, w = frame.shape[:2]
        images = crop_frame(frame, axis_maps(axes[:, 0], sample_size[0], h, False),
                            axis_maps(axes[:, 1], sample_size[1], w, False))
        feats = m.backbone(images)
        x = m.target_features(feats["layer3"])
        enc = m.apply_target_model(x[None], st.tau)[0]
        logits, _ = m.decode(enc, feats, images.shape[1:3])
        prow, rmask = paste_axis_maps(paste[:, 0], sample_size[0], h)
        pcol, cmask = paste_axis_maps(paste[:, 1], sample_size[1], w)
        scores = paste_scores(logits, prow, pcol, rmask, cmask)
        probs, labels, rsum, csum = merge_outputs(scores, ids)
        out = dict(labels=labels, rows=rsum, cols=csum, scores=scores, crops=images, encoding=enc, logits=logits)
        return st.replace(prev_x=x, prev_u=enc, prev_probs=probs), out

    return jax.jit(lambda v, st, *a: _apply(model, run, v, st, *a), donate_argnums=(1,))
