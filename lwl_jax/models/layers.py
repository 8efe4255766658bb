"""Small building blocks with PyTorch semantics (explicit symmetric padding, eval-mode BatchNorm)."""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from lwl_jax.ops.conv import conv2d

Dtype = Any


class Conv(nn.Module):
    """``torch.nn.Conv2d`` in NHWC with Flax's parameter names and shapes (``kernel`` (k, k, in, out), ``bias``),
    computed by :func:`lwl_jax.ops.conv.conv2d` (XLA's forward convolution, faster gradients on CPU)."""
    features: int
    kernel: int
    stride: int = 1
    padding: int = 0
    use_bias: bool = True
    dtype: Dtype = jnp.float32
    kernel_init: Any = nn.initializers.lecun_normal()
    bias_init: Any = nn.initializers.zeros

    @nn.compact
    def __call__(self, x):
        k = self.param("kernel", self.kernel_init, (self.kernel, self.kernel, x.shape[-1], self.features),
                       jnp.float32)
        y = conv2d(x.astype(self.dtype), k.astype(self.dtype), self.stride, self.padding)
        if self.use_bias:
            y = y + self.param("bias", self.bias_init, (self.features,), jnp.float32).astype(self.dtype)
        return y


def conv(features: int, kernel: int, stride: int = 1, use_bias: bool = True, name: str | None = None,
         dtype: Dtype = jnp.float32, padding: int | None = None, **inits) -> Conv:
    """``torch.nn.Conv2d(in, features, kernel, stride, padding=kernel // 2, bias=use_bias)`` in NHWC."""
    p = kernel // 2 if padding is None else padding
    return Conv(features, kernel, stride, p, use_bias, dtype, name=name, **inits)


def batch_norm(name: str | None = None, dtype: Dtype = jnp.float32) -> nn.BatchNorm:
    """``torch.nn.BatchNorm2d(eps=1e-5)`` in eval mode: LWL never uses or updates batch statistics."""
    return nn.BatchNorm(use_running_average=True, epsilon=1e-5, momentum=0.9, dtype=dtype,
                        param_dtype=jnp.float32, name=name)


def max_pool_3x3_s2(x):
    """``torch.nn.MaxPool2d(3, stride=2, padding=1)`` (padding never wins the max)."""
    return nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))


class ConvReLU(nn.Module):
    """``Sequential(Conv2d, ReLU)`` whose conv is child ``'0'`` (PyTorch keys ``<name>.0.weight``)."""
    features: int
    kernel: int = 3
    stride: int = 1
    use_bias: bool = True
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        return nn.relu(conv(self.features, self.kernel, self.stride, self.use_bias, name="0", dtype=self.dtype)(x))


class ResBlock(nn.Module):
    """Residual block of the label and box encoders: conv3×3(stride) → ReLU → conv3×3, plus a 3×3 conv
    shortcut with bias (``downsample``); sum → ReLU. Convs in the main branch have no bias."""
    features: int
    stride: int = 1
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        out = nn.relu(conv(self.features, 3, self.stride, use_bias=False, name="conv1", dtype=self.dtype)(x))
        out = conv(self.features, 3, 1, use_bias=False, name="conv2", dtype=self.dtype)(out)
        shortcut = conv(self.features, 3, self.stride, use_bias=True, name="downsample", dtype=self.dtype)(x)
        return nn.relu(out + shortcut)
