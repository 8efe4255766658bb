"""Projection of backbone layer3 to the target-model features x (C = 512, stride 16).

``target_model.feature_extractor`` = conv3×3 (no bias) followed by instance L2 normalisation: each sample's
feature map is rescaled to RMS = ``sqrt(1 / (C·k·k))``: ``y = x · scale · sqrt(C·H·W / (Σ x² + eps))``.
"""
from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from lwl_jax.models.layers import conv


def instance_l2_norm(x, scale: float, eps: float = 1e-5):
    """Per-sample L2 normalisation of an NHWC map (sums over H, W, C)."""
    x32 = x.astype(jnp.float32)
    numel = x.shape[-3] * x.shape[-2] * x.shape[-1]
    ss = jnp.sum(x32 * x32, axis=(-3, -2, -1), keepdims=True)
    return (x32 * (scale * jnp.sqrt(numel / (ss + eps)))).astype(x.dtype)


class TargetFeatures(nn.Module):
    """x = InstanceL2Norm(conv3×3(layer3)); the conv is child ``'0'`` (key ``feature_extractor.0.weight``)."""
    out_dim: int = 512
    filter_size: int = 3
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, layer3):
        x = conv(self.out_dim, 3, use_bias=False, name="0", dtype=self.dtype)(layer3)
        return instance_l2_norm(x, math.sqrt(1.0 / (self.out_dim * self.filter_size * self.filter_size)))
