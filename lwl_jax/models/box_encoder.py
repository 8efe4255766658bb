"""B: the box encoder, so that a bounding box alone can start a track (paper §3.7, appendix B.3).

The box is rasterised to a mask at image resolution, resized to the target-feature resolution and concatenated
after the 512 feature channels; two residual blocks and a ReLU conv head produce a 16-channel mask encoding that
is fed to the decoder D in place of T_τ(x). The decoder's output is the first-frame mask.
"""
from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from lwl_jax.models.layers import ConvReLU, ResBlock
from lwl_jax.ops.resize import resize


def box_to_mask(boxes, image_size):
    """Rasterise (x, y, w, h) boxes ``(..., 4)`` to masks ``(..., H, W)`` like the reference: each coordinate is
    truncated to an integer and ``mask[y:y+h, x:x+w] = 1``. (The reference's Python slicing wraps negative
    coordinates around; here the box is clipped at the image border instead.)"""
    b = jnp.trunc(jnp.asarray(boxes, jnp.float32)).astype(jnp.int32)
    x0, y0 = jnp.maximum(b[..., 0], 0), jnp.maximum(b[..., 1], 0)
    x1, y1 = b[..., 0] + b[..., 2], b[..., 1] + b[..., 3]
    rows = jnp.arange(image_size[0])
    cols = jnp.arange(image_size[1])
    in_rows = (rows >= y0[..., None]) & (rows < y1[..., None])
    in_cols = (cols >= x0[..., None]) & (cols < x1[..., None])
    return (in_rows[..., :, None] & in_cols[..., None, :]).astype(jnp.float32)


class ResStack(nn.Module):
    """``res``: residual blocks named ``'0'``, ``'1'``, … (PyTorch ``Sequential`` keys)."""
    dims: Sequence[int]
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        for i, d in enumerate(self.dims):
            x = ResBlock(d, 1, self.dtype, name=str(i))(x)
        return x


class BoxEncoder(nn.Module):
    """``__call__(box_masks (N, H, W), features x (N, h, w, C)) -> box mask encoding (N, h, w, num_filters)``."""
    dims: Sequence[int] = (64, 64)
    num_filters: int = 16
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, box_masks, features):
        m = resize(box_masks[..., None].astype(features.dtype), features.shape[-3:-1], "bilinear")
        x = jnp.concatenate([features, m], axis=-1).astype(self.dtype)
        x = ResStack(tuple(self.dims), self.dtype, name="res")(x)
        return ConvReLU(self.num_filters, 3, dtype=self.dtype, name="label_pred")(x)
