"""2-D convolution (NHWC, HWIO) with a hand-written backward pass in standard layouts.

Same function as ``lax.conv_general_dilated`` with symmetric padding; only the formulation of the gradients
differs (float32 summation order). Why: XLA's CPU backend computes the kernel gradient of a convolution by first
transposing the activations to a (C, H, W, N) layout, which cost more than the arithmetic in the training step
(README, "Training step"). Here:

* 1×1 convolutions (strided or not): the kernel gradient is the matrix product ``xᵀ @ dy`` over the N·H·W rows
  (a contraction over the row axis of row-major arrays, which needs no relayout); the input gradient is the forward
  1×1 convolution of ``dy`` with the transposed kernel, scattered back to the strided positions by an interior pad;
* k×k convolutions keep XLA's own gradients (measured: a tap-by-tap kernel gradient was 1.7–4.7× slower).

``tap_sum3x3`` is the last step of a 3×3 convolution whose per-tap channel contractions were done elsewhere (the
decoder's up-sampler contracts before resizing, ``lwl_jax.models.decoder.ResizedConv3x3``).
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from lwl_jax.ops.vma import ct_like

_DN = ("NHWC", "HWIO", "NHWC")


def _xla_conv(x, w, stride: int, padding: int):
    return lax.conv_general_dilated(x, w, (stride, stride), [(padding, padding)] * 2, dimension_numbers=_DN)


def _rows(a):
    return a.reshape(-1, a.shape[-1])


def _contract_rows(a, b):
    """aᵀ @ b over the rows of two (..., C) arrays."""
    return lax.dot_general(_rows(a), _rows(b), (((0,), (0,)), ((), ())))


def _is_pointwise(w, padding):
    return w.shape[0] == 1 and w.shape[1] == 1 and padding == 0


@partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv2d(x, w, stride: int = 1, padding: int = 0):
    """``torch.nn.functional.conv2d(x, w, stride=stride, padding=padding)`` in NHWC / HWIO."""
    return _xla_conv(x, w, stride, padding)


def _conv2d_fwd(x, w, stride, padding):
    return _xla_conv(x, w, stride, padding), (x, w)


def _conv2d_bwd(stride, padding, res, dy):
    x, w = res
    if not _is_pointwise(w, padding):
        _, vjp = jax.vjp(lambda a, b: _xla_conv(a, b, stride, padding), x, w)
        dx, dw = vjp(dy)
        return ct_like(dx, x), ct_like(dw, w)
    xs = x[:, ::stride, ::stride] if stride > 1 else x
    dw = _contract_rows(xs, dy).reshape(w.shape)
    dxs = _xla_conv(dy, jnp.swapaxes(w, 2, 3), 1, 0)
    if stride > 1:
        cfg = [(0, 0, 0)] + [(0, x.shape[i] - (xs.shape[i] - 1) * stride - 1, stride - 1) for i in (1, 2)] \
            + [(0, 0, 0)]
        dxs = lax.pad(dxs, jnp.zeros((), dxs.dtype), cfg)
    return ct_like(dxs, x), ct_like(dw, w)


conv2d.defvjp(_conv2d_fwd, _conv2d_bwd)


@partial(jax.custom_vjp, nondiff_argnums=(1,))
def tap_sum3x3(taps, features: int):
    """y[p] = Σ_{i,j} taps[p + (i - 1, j - 1), (3i + j)·f : (3i + j + 1)·f] (zero outside): the last step of a 3×3
    convolution (stride 1, padding 1) whose 9 per-tap channel contractions ``taps`` (N, H, W, 9·f) are already
    done. The backward is one concatenation of 9 shifted slices of the padded output gradient (the transposes of
    the 9 slices would be 9 image-sized pads)."""
    return _tap_sum3x3(taps, features)


def _tap_sum3x3(taps, f):
    h, w = taps.shape[1:3]
    p = jnp.pad(taps, ((0, 0), (1, 1), (1, 1), (0, 0)))
    return sum(p[:, i:i + h, j:j + w, (3 * i + j) * f:(3 * i + j + 1) * f] for i in range(3) for j in range(3))


def _tap_sum3x3_fwd(taps, features):
    return _tap_sum3x3(taps, features), None


def _tap_sum3x3_bwd(features, _, dy):
    h, w = dy.shape[1:3]
    p = jnp.pad(dy, ((0, 0), (1, 1), (1, 1), (0, 0)))
    return (jnp.concatenate([p[:, 2 - i:2 - i + h, 2 - j:2 - j + w] for i in range(3) for j in range(3)], -1),)


tap_sum3x3.defvjp(_tap_sum3x3_fwd, _tap_sum3x3_bwd)
