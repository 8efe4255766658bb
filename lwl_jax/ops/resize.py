"""PyTorch-exact image resizing (``F.interpolate`` with ``align_corners=False``, no antialiasing).

``jax.image.resize`` uses a different cubic kernel (a = -0.5) and antialiases when down-sampling, so it does
not reproduce PyTorch. Here the interpolation weights of each spatial axis are built in NumPy from the static
shapes (:func:`resize_matrix`); integer scale factors (all of LWL's large resizes) apply them as a few shifted
slices, other sizes as a dense matrix. Exact up to float rounding, and differentiable.

Coordinate rule (PyTorch, ``align_corners=False``): ``src = (dst + 0.5) * scale - 0.5`` where ``scale`` is
``in / out`` when a size is given, or ``1 / scale_factor`` when a scale factor is given.
* bilinear: ``src`` is clamped at 0; neighbours ``floor(src)`` and ``min(floor(src) + 1, in - 1)``.
* bicubic: Keys kernel with a = -0.75 on ``floor(src) - 1 .. floor(src) + 2``, indices clamped to the border.
* nearest: ``min(floor(dst * scale), in - 1)``.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

CUBIC_A = -0.75


def _cubic_weights(t: np.ndarray) -> np.ndarray:
    """Keys cubic convolution weights for the 4 taps at offsets -1, 0, 1, 2 (PyTorch's a = -0.75)."""
    a = CUBIC_A

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=-1)


@functools.lru_cache(maxsize=512)
def resize_matrix(in_size: int, out_size: int, method: str, scale: float | None = None) -> np.ndarray:
    """(out_size, in_size) float32 matrix M with ``out = M @ in`` along one axis.

    ``scale`` overrides the coordinate scale (PyTorch's ``1 / scale_factor``); by default ``in / out``.
    """
    if in_size < 1 or out_size < 1:
        raise ValueError(f"resize sizes must be positive, got {in_size} -> {out_size}")
    s = in_size / out_size if scale is None else scale
    dst = np.arange(out_size, dtype=np.float64)
    m = np.zeros((out_size, in_size), dtype=np.float64)
    rows = np.arange(out_size)
    if method == "nearest":  # PyTorch computes this index in float32
        idx = np.floor(dst.astype(np.float32) * np.float32(s)).astype(np.int64)
        idx = np.minimum(idx, in_size - 1)
        m[rows, idx] = 1.0
    elif method == "bilinear":
        src = np.maximum((dst + 0.5) * s - 0.5, 0.0)
        i0 = np.floor(src).astype(np.int64)
        i0 = np.minimum(i0, in_size - 1)
        i1 = np.minimum(i0 + 1, in_size - 1)
        l1 = src - i0
        np.add.at(m, (rows, i0), 1.0 - l1)
        np.add.at(m, (rows, i1), l1)
    elif method == "bicubic":
        src = (dst + 0.5) * s - 0.5
        i = np.floor(src).astype(np.int64)
        w = _cubic_weights(src - i)
        for k in range(4):
            np.add.at(m, (rows, np.clip(i - 1 + k, 0, in_size - 1)), w[:, k])
    else:
        raise ValueError(f"unknown resize method {method!r}")
    return m.astype(np.float32)


@functools.lru_cache(maxsize=512)
def periodic_plan(in_size: int, out_size: int, method: str):
    """For integer up- or down-scaling, the interpolation is the same few taps repeated with period r:
    returns ('up', r, [[(offset, weight), …] per phase]) or ('down', r, [(column, weight), …]) when that rule
    reproduces :func:`resize_matrix` exactly (borders: replicate), else None."""
    if method not in ("bilinear", "bicubic") or in_size < 4:
        return None
    m = resize_matrix(in_size, out_size, method)
    if out_size % in_size == 0:
        r = out_size // in_size
        mid = in_size // 2
        phases = [[(int(c) - mid, float(m[r * mid + p, c])) for c in np.nonzero(m[r * mid + p])[0]]
                  for p in range(r)]
        rebuilt = np.zeros_like(m)
        for i in range(in_size):
            for p, taps in enumerate(phases):
                for off, w in taps:
                    rebuilt[r * i + p, min(max(i + off, 0), in_size - 1)] += w
        if np.allclose(rebuilt, m, atol=1e-7) and all(abs(o) <= 2 for t in phases for o, _ in t):
            return ("up", r, phases)
    elif in_size % out_size == 0:
        r = in_size // out_size
        taps = [(int(c), float(m[0, c])) for c in np.nonzero(m[0])[0]]
        if not all(0 <= c < r for c, _ in taps):
            return None
        rebuilt = np.zeros_like(m)
        for o in range(out_size):
            for c, w in taps:
                rebuilt[o, r * o + c] += w
        if np.allclose(rebuilt, m, atol=1e-7):
            return ("down", r, taps)
    return None


def _up_periodic(x, axis: int, r: int, phases):
    """Up-sampling by an integer factor r along ``axis``: output position r·i + p is Σ w · x[clamp(i + off)] over
    the taps (off, w) of phase p."""
    n = x.shape[axis]
    pad = [(0, 0)] * x.ndim
    pad[axis] = (2, 2)
    xp = jnp.pad(x, pad, mode="edge")
    outs = [sum(w * jax.lax.slice_in_dim(xp, 2 + off, 2 + off + n, axis=axis) for off, w in taps)
            for taps in phases]
    y = jnp.stack(outs, axis=axis + 1)
    return y.reshape(x.shape[:axis] + (r * n,) + x.shape[axis + 1:])


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def _up_axis(x, axis: int, r: int, phases):
    return _up_periodic(x, axis, r, phases)


def _up_axis_fwd(x, axis, r, phases):
    return _up_periodic(x, axis, r, phases), None


def _up_axis_bwd(axis, r, phases, _, dy):
    """The adjoint, written as shifted slices of the per-phase gradients (one fused sum), where automatic
    differentiation would materialise one full-size padded array per tap."""
    n = dy.shape[axis] // r
    dy = dy.reshape(dy.shape[:axis] + (n, r) + dy.shape[axis + 1:])
    pad = [(0, 0)] * (dy.ndim - 1)
    pad[axis] = (4, 4)
    # d xp[j] (j = 0 … n + 3, xp = x edge-padded by 2) = Σ_p Σ_(off, w) w · dy_p[j − 2 − off]
    dxp = 0
    for p, taps in enumerate(phases):
        dyp = jnp.pad(jax.lax.index_in_dim(dy, p, axis + 1, keepdims=False), pad)
        for off, w in taps:
            dxp = dxp + w * jax.lax.slice_in_dim(dyp, 2 - off, 2 - off + n + 4, axis=axis)
    # the edge padding's adjoint: the two cells each side fold onto the border cells
    inner = jax.lax.slice_in_dim(dxp, 2, 2 + n, axis=axis)
    first = jax.lax.slice_in_dim(dxp, 0, 2, axis=axis).sum(axis, keepdims=True)
    last = jax.lax.slice_in_dim(dxp, n + 2, n + 4, axis=axis).sum(axis, keepdims=True)
    border = [(0, 0)] * dxp.ndim
    border[axis] = (0, n - 1)
    lead = jnp.pad(first, border)
    border[axis] = (n - 1, 0)
    return (inner + lead + jnp.pad(last, border),)


_up_axis.defvjp(_up_axis_fwd, _up_axis_bwd)


def _resize_axis(x, axis: int, in_size: int, out_size: int, method: str, scale):
    """Interpolate one axis. Integer scale factors use shifted slices with the periodic taps (memory-bound, no
    gathers); other sizes a dense interpolation matrix."""
    axis = axis % x.ndim
    plan = periodic_plan(in_size, out_size, method) if scale is None else None
    if plan is not None and plan[0] == "up":
        _, r, phases = plan
        return _up_axis(x, axis, r, tuple(tuple(t) for t in phases))
    if plan is not None and plan[0] == "down":
        _, r, taps = plan
        xr = x.reshape(x.shape[:axis] + (out_size, r) + x.shape[axis + 1:])
        return sum(w * jax.lax.index_in_dim(xr, c, axis + 1, keepdims=False) for c, w in taps)
    m = jnp.asarray(resize_matrix(in_size, out_size, method, scale), x.dtype)
    y = jnp.tensordot(m, x, axes=[[1], [axis]])          # (out, … other axes)
    return jnp.moveaxis(y, 0, axis)


def resize(x, size, method: str = "bilinear", scale_factor: float | None = None, layout: str = "NHWC"):
    """Resize the spatial axes of ``x`` like ``torch.nn.functional.interpolate(align_corners=False)``.

    ``x``: (..., H, W, C) for ``layout='NHWC'`` or (..., H, W) for ``layout='HW'``.
    ``size``: (out_h, out_w), or None with ``scale_factor`` (output ``floor(in * scale_factor)`` and the
    coordinate scale ``1 / scale_factor``, as PyTorch does without ``recompute_scale_factor``).
    """
    if layout == "NHWC":
        h, w = x.shape[-3], x.shape[-2]
    elif layout == "HW":
        h, w = x.shape[-2], x.shape[-1]
    else:
        raise ValueError(f"unknown layout {layout!r}")
    if size is None:
        if scale_factor is None:
            raise ValueError("resize needs a size or a scale_factor")
        size = (int(math.floor(h * scale_factor)), int(math.floor(w * scale_factor)))
        coord = 1.0 / scale_factor
    else:
        coord = None
    oh, ow = int(size[0]), int(size[1])
    if (oh, ow) == (h, w) and coord is None:
        return x
    h_axis, w_axis = (-3, -2) if layout == "NHWC" else (-2, -1)
    x = _resize_axis(x, h_axis, h, oh, method, coord)
    return _resize_axis(x, w_axis, w, ow, method, coord)
