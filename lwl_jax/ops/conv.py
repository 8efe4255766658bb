"""2-D convolution (NHWC input, HWIO kernel) whose backward passes are again plain NHWC/HWIO convolutions.

JAX differentiates ``lax.conv_general_dilated`` into convolutions with transposed dimension numbers; XLA's CPU
backend runs those well below its forward-convolution speed. Here the input gradient is a forward convolution of
the output gradient with the flipped, in/out-swapped kernel (input-dilated by the stride), and the kernel gradient
a forward convolution in which the input channels act as the batch and the images as the contracted channels
(kernel-dilated by the stride). Same numbers up to float32 summation order. Used by every ``layers.conv``.
"""
from __future__ import annotations

import functools

import jax
from jax import lax

_DN = ("NHWC", "HWIO", "NHWC")


def _forward(x, w, strides, padding):
    return lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=_DN)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv2d(x, w, strides: tuple, padding: tuple):
    """x (N, H, W, Cin), w (kh, kw, Cin, Cout), strides (sh, sw), padding ((top, bottom), (left, right))."""
    return _forward(x, w, strides, padding)


def _fwd(x, w, strides, padding):
    return _forward(x, w, strides, padding), (x, w)


def _bwd(strides, padding, res, g):
    x, w = res
    k = w.shape[:2]
    # size left over at the bottom/right when (in + pads − k) is not a multiple of the stride
    rest = [(x.shape[1 + a] + padding[a][0] + padding[a][1] - k[a]) % strides[a] for a in range(2)]
    in_pad = [(k[a] - 1 - padding[a][0], k[a] - 1 - padding[a][1] + rest[a]) for a in range(2)]
    dx = lax.conv_general_dilated(g, jax.numpy.flip(w, (0, 1)).transpose(0, 1, 3, 2), (1, 1), in_pad,
                                  lhs_dilation=strides, dimension_numbers=_DN)
    w_pad = [(padding[a][0], padding[a][1] - rest[a]) for a in range(2)]
    dw = lax.conv_general_dilated(x.transpose(3, 1, 2, 0), g.transpose(1, 2, 0, 3), (1, 1), w_pad,
                                  rhs_dilation=strides, dimension_numbers=_DN)
    return dx.astype(x.dtype), dw.transpose(1, 2, 0, 3).astype(w.dtype)


conv2d.defvjp(_fwd, _bwd)


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                         dimension_numbers=None, feature_group_count=1, precision=None, **kwargs):
    """Drop-in for ``lax.conv_general_dilated`` in ``flax.linen.Conv``: the plain case (NHWC/HWIO, explicit
    padding, no dilation, no groups, default precision) goes through :func:`conv2d`, anything else to lax."""
    plain = (lhs.ndim == 4 and feature_group_count == 1 and precision is None and not kwargs
             and not isinstance(padding, str) and all(d in (None, 1) for d in (lhs_dilation or (1,)))
             and all(d in (None, 1) for d in (rhs_dilation or (1,)))
             and lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
             == lax.conv_dimension_numbers(lhs.shape, rhs.shape, _DN))
    if plain:
        return conv2d(lhs, rhs, tuple(window_strides), tuple(tuple(p) for p in padding))
    return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                    dimension_numbers, feature_group_count, precision=precision, **kwargs)
