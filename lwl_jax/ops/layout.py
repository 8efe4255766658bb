"""Layout helpers: the models are NHWC inside; fixtures and PyTorch checkpoints are NCHW / OIHW."""
from __future__ import annotations

import numpy as np


def nchw_to_nhwc(x):
    """(..., C, H, W) -> (..., H, W, C)."""
    nd = x.ndim
    return x.transpose(*range(nd - 3), nd - 2, nd - 1, nd - 3)


def nhwc_to_nchw(x):
    """(..., H, W, C) -> (..., C, H, W)."""
    nd = x.ndim
    return x.transpose(*range(nd - 3), nd - 1, nd - 3, nd - 2)


def oihw_to_hwio(w):
    """PyTorch conv weight (out, in, kh, kw) -> Flax kernel (kh, kw, in, out)."""
    return np.transpose(w, (2, 3, 1, 0))


def hwio_to_oihw(w):
    """Flax kernel (kh, kw, in, out) -> PyTorch conv weight (out, in, kh, kw)."""
    return np.transpose(w, (3, 2, 0, 1))


def tau_torch_to_jax(tau):
    """Target-model filters τ: (S, 16, 512, kh, kw) -> (S, kh, kw, 512, 16)."""
    return np.transpose(tau, (0, 3, 4, 2, 1))


def tau_jax_to_torch(tau):
    """Target-model filters τ: (S, kh, kw, 512, 16) -> (S, 16, 512, kh, kw)."""
    return np.transpose(tau, (0, 4, 3, 1, 2))
