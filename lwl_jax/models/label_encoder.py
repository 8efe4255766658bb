"""E and W: the few-shot label generator and the importance-weight predictor ("learning what to learn").

A shared mask trunk at stride 16 feeds two heads: E(y) = ReLU(conv3×3) gives the D = 16 channel labels the target
model is trained to produce, W(y) = conv3×3 (no activation; only W² enters the learner's loss) gives per-element
importance weights. Input masks are binary ground truth or soft probabilities in [0, 1].
"""
from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from lwl_jax.models.layers import ConvReLU, ResBlock, conv, max_pool_3x3_s2


class LabelEncoder(nn.Module):
    """Reference ``ResidualDS16SW`` without BatchNorm. ``__call__(masks (..., H, W)) -> (E, W)``, each
    ``(..., H/16, W/16, num_filters)`` (sizes halve with ceil four times)."""
    dims: Sequence[int] = (16, 32, 64)
    num_filters: int = 16
    dtype: Any = jnp.float32
    stride: int = 16                      # 8: the last residual block keeps its resolution (LWLNet.target_stride)

    @nn.compact
    def __call__(self, masks):
        lead = masks.shape[:-2]
        x = masks.reshape((-1,) + masks.shape[-2:] + (1,)).astype(self.dtype)
        x = ConvReLU(self.dims[0], 3, 2, dtype=self.dtype, name="conv_block")(x)
        x = max_pool_3x3_s2(x)
        x = ResBlock(self.dims[1], 2, self.dtype, name="res1")(x)
        x = ResBlock(self.dims[2], 2 if self.stride == 16 else 1, self.dtype, name="res2")(x)
        labels = ConvReLU(self.num_filters, 3, dtype=self.dtype, name="label_pred")(x)
        # W starts as the constant 1 (reference initialisation): weight 0, bias 1.
        weights = conv(self.num_filters, 3, dtype=self.dtype, kernel_init=nn.initializers.zeros,
                       bias_init=nn.initializers.ones, name="samp_w_pred")(x)
        return labels.reshape(lead + labels.shape[1:]), weights.reshape(lead + weights.shape[1:])
