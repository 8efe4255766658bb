"""D: the segmentation decoder (TSE, RRB and CAB blocks, then a bicubic up-sampler), paper §3.4 and appendix B.2.

Stages run from the deepest backbone layer to the shallowest. In each stage the target-model mask encoding is
resized to the stage's resolution and fused with the backbone feature (TSE), refined (RRB), combined with the
deeper stage through channel attention (CAB) and refined again (RRB). ``layer4_dec`` … ``layer1_dec`` are the
outputs of each stage's last RRB. All resizes are PyTorch-exact (``lwl_jax.ops.resize``).
"""
from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from lwl_jax.models.layers import ConvReLU, batch_norm, conv
from lwl_jax.ops.conv import conv2d, tap_sum3x3
from lwl_jax.ops.resize import resize

STAGE_WIDTH_FACTORS = {"layer4": 4, "layer3": 2, "layer2": 2, "layer1": 1}


def _mean_hw(x):
    return jnp.mean(x, axis=(1, 2), keepdims=True)


class TSE(nn.Module):
    """Target segmentation encoder: ``reduce`` the backbone feature, concatenate the mask encoding, ``transform``."""
    width: int
    num_filters: int
    global_pool: bool
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, feature, encoding, previous):
        h0 = ConvReLUConv(self.width, self.dtype, name="reduce")(feature)
        g = _mean_hw(h0) if self.global_pool else previous
        s = resize(encoding, h0.shape[1:3], "bilinear")
        h = Transform(self.width, self.num_filters, self.dtype, name="transform")(jnp.concatenate([h0, s], -1))
        return h, g


class Transform(nn.Module):
    """conv3×3 → ReLU → conv3×3 → ReLU → conv3×3 → ReLU (keys ``transform.0/2/4``)."""
    width: int
    num_filters: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        c = self.width + self.num_filters
        x = nn.relu(conv(c, 3, name="0", dtype=self.dtype)(x))
        x = nn.relu(conv(c, 3, name="2", dtype=self.dtype)(x))
        return nn.relu(conv(self.width, 3, name="4", dtype=self.dtype)(x))


class RRB(nn.Module):
    """Residual refinement block: u = conv1×1(x); ReLU(u + conv3×3(ReLU(BN(conv3×3(u)))))."""
    width: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        u = conv(self.width, 1, name="conv1x1", dtype=self.dtype)(x)
        return nn.relu(u + BBlock(self.width, self.dtype, name="bblock")(u))


class BBlock(nn.Module):
    """conv3×3 (bias) → BatchNorm → ReLU → conv3×3 (no bias) (keys ``bblock.0``, ``.1``, ``.3``)."""
    width: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        x = conv(self.width, 3, name="0", dtype=self.dtype)(x)
        x = nn.relu(batch_norm(name="1", dtype=self.dtype)(x))
        return conv(self.width, 3, use_bias=False, name="3", dtype=self.dtype)(x)


class CAB(nn.Module):
    """Channel attention block: ``h ⊙ σ(conv(ReLU(conv([mean h, mean g])))) + upsample(g)``."""
    width: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, deeper, shallower):
        a = jnp.concatenate([_mean_hw(shallower), _mean_hw(deeper)], -1)
        a = nn.sigmoid(ConvReLUConv(self.width, self.dtype, name="convreluconv")(a))
        if deeper.shape[1:3] == (1, 1):
            up = deeper
        else:
            up = resize(deeper, shallower.shape[1:3], "bilinear")
        return shallower * a + up


class ConvReLUConv(nn.Module):
    """conv1×1 → ReLU → conv1×1 (keys ``<name>.0``, ``<name>.2``): TSE's ``reduce`` and CAB's ``convreluconv``."""
    width: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        x = nn.relu(conv(self.width, 1, name="0", dtype=self.dtype)(x))
        return conv(self.width, 1, name="2", dtype=self.dtype)(x)


class Upsampler(nn.Module):
    """``project``: bicubic ×2 → conv3×3(→32) → ReLU → bicubic to the image size → conv3×3(→1)."""
    in_dim: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, image_size):
        x = resize(x, (2 * x.shape[1], 2 * x.shape[2]), "bicubic")
        x = nn.relu(conv(self.in_dim // 2, 3, name="conv1", dtype=self.dtype)(x))
        return ResizedConv3x3(1, self.dtype, name="conv2")(x, tuple(image_size))


class ResizedConv3x3(nn.Module):
    """conv3×3(bicubic(x, size)) with the parameters of ``conv(features, 3)``, computed in the other order.

    Both steps are linear and the resize acts on each channel alone, so the kernel's channel contraction commutes
    with it: each of the 9 taps contracts x's channels at x's resolution (one 1×1 convolution to 9·features
    channels), only those are resized, and the output sums each tap's map shifted by its offset (zero outside,
    as the convolution's padding). The same function up to float32 rounding; for the up-sampler's 32 → 1
    convolution it resizes 9 channels instead of 32 and never holds a 32-channel image-sized tensor (forward or
    backward).
    """
    features: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, size):
        f, c = self.features, x.shape[-1]
        k = self.param("kernel", nn.initializers.lecun_normal(), (3, 3, c, f), jnp.float32)
        b = self.param("bias", nn.initializers.zeros, (f,), jnp.float32)
        taps = conv2d(x.astype(self.dtype), jnp.moveaxis(k, 2, 0).reshape(1, 1, c, 9 * f).astype(self.dtype))
        return tap_sum3x3(resize(taps, size, "bicubic"), f) + b.astype(self.dtype)


class Decoder(nn.Module):
    """D(mask encoding, backbone features, image size) -> mask logits.

    ``__call__(encoding (N, h16, w16, D), features {layer: (N, h, w, C)}, image_size (H, W))`` returns
    ``(logits (N, H, W), {"<layer>_dec": stage outputs})``.
    """
    num_filters: int = 16
    mdim: int = 64
    input_layers: Sequence[str] = ("layer4", "layer3", "layer2", "layer1")
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, encoding, features, image_size):
        encoding = encoding.astype(self.dtype)
        x = None
        stages = {}
        for i, layer in enumerate(self.input_layers):
            width = self.mdim * STAGE_WIDTH_FACTORS[layer]
            first = i == 0
            if not first:
                x = ConvReLU(width, 1, dtype=self.dtype, name=f"proj_{layer}")(x)
            h, g = TSE(width, self.num_filters, first, self.dtype, name=f"TSE_{layer}")(
                features[layer].astype(self.dtype), encoding, x)
            h = RRB(width, self.dtype, name=f"RRB1_{layer}")(h)
            h = CAB(width, self.dtype, name=f"CAB_{layer}")(g, h)
            x = RRB(width, self.dtype, name=f"RRB2_{layer}")(h)
            stages[f"{layer}_dec"] = x
        logits = Upsampler(x.shape[-1], self.dtype, name="project")(x, image_size)
        return logits[..., 0].astype(jnp.float32), stages
