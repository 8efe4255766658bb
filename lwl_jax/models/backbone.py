"""F: the ResNet backbone, returning layer1..layer4 (output strides 4, 8, 16, 32), NHWC.

Variants (``stride_in_1x1``):
* ``True``  — the reference's "mrcnn" ResNet-50 (Detectron/Caffe2 style, stride in the first 1×1 conv of a
  bottleneck); the paper's model and the layout of ``lwl_stage2.pth``.
* ``False`` — torchvision's ResNet-50 (stride in the 3×3 conv), so ImageNet torchvision weights load.
Depth and width are configurable (``blocks``, ``base_width``) for CPU-scale experiments. BatchNorm is always in
eval mode (frozen statistics), as in the reference.
"""
from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from lwl_jax.models.layers import batch_norm, conv, max_pool_3x3_s2
from lwl_jax.ops.materialize import materialize

LAYERS = ("layer1", "layer2", "layer3", "layer4")


class Downsample(nn.Module):
    """Shortcut projection ``Sequential(conv1x1(stride), BatchNorm)`` (keys ``downsample.0`` / ``.1``)."""
    features: int
    stride: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        x = conv(self.features, 1, self.stride, use_bias=False, name="0", dtype=self.dtype)(x)
        return batch_norm(name="1", dtype=self.dtype)(x)


class Bottleneck(nn.Module):
    planes: int
    stride: int = 1
    downsample: bool = False
    stride_in_1x1: bool = True
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        s1, s3 = (self.stride, 1) if self.stride_in_1x1 else (1, self.stride)
        out = conv(self.planes, 1, s1, use_bias=False, name="conv1", dtype=self.dtype)(x)
        out = nn.relu(batch_norm(name="bn1", dtype=self.dtype)(out))
        out = conv(self.planes, 3, s3, use_bias=False, name="conv2", dtype=self.dtype)(out)
        out = nn.relu(batch_norm(name="bn2", dtype=self.dtype)(out))
        out = conv(self.planes * 4, 1, 1, use_bias=False, name="conv3", dtype=self.dtype)(out)
        out = batch_norm(name="bn3", dtype=self.dtype)(out)
        shortcut = Downsample(self.planes * 4, self.stride, self.dtype, name="downsample")(x) \
            if self.downsample else x
        return nn.relu(out + shortcut)


class ResLayer(nn.Module):
    """``layerN``: a run of bottlenecks named ``'0'``, ``'1'``, … (PyTorch ``Sequential`` keys)."""
    planes: int
    blocks: int
    stride: int
    stride_in_1x1: bool = True
    remat: bool = False
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        block_cls = nn.remat(Bottleneck) if self.remat else Bottleneck
        for i in range(self.blocks):
            x = block_cls(self.planes, self.stride if i == 0 else 1, i == 0, self.stride_in_1x1,
                          self.dtype, name=str(i))(x)
        return x


class ResNet(nn.Module):
    """F. Input NHWC BGR image in 0..255 minus the mean (std 1); returns ``{layer: features}``."""
    blocks: Sequence[int] = (3, 4, 6, 3)
    base_width: int = 64
    stride_in_1x1: bool = True
    output_layers: Sequence[str] = LAYERS
    remat: bool = False
    dtype: Any = jnp.float32
    layer3_stride: int = 2                # 1: layer3 stays at stride 8 (and layer4 at 16), for small inputs

    @nn.compact
    def __call__(self, x, output_layers: Sequence[str] | None = None):
        """``output_layers`` (default: the field) chooses the layers returned; layers after the last are skipped."""
        output_layers = self.output_layers if output_layers is None else output_layers
        out = {}
        last = max(LAYERS.index(name) for name in output_layers)
        x = conv(self.base_width, 7, 2, use_bias=False, name="conv1", dtype=self.dtype, padding=3)(x)
        x = nn.relu(batch_norm(name="bn1", dtype=self.dtype)(x))
        x = max_pool_3x3_s2(x)
        for i, name in enumerate(LAYERS[: last + 1]):
            stride = 1 if i == 0 else self.layer3_stride if name == "layer3" else 2
            x = ResLayer(self.base_width * 2 ** i, self.blocks[i], stride, self.stride_in_1x1,
                         self.remat, self.dtype, name=name)(x)
            x = materialize(x)              # one buffer, not recomputed in the backward (lwl_jax/ops/materialize.py)
            if name in output_layers:
                out[name] = x
        return out
