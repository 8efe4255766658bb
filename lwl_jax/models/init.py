"""The reference's initialisation (appendix D), generated leaf by leaf with NumPy from the variables' shapes.

Building the variables this way takes milliseconds, where ``jax.jit(model.init)`` spends seconds compiling
hundreds of random-number kernels. Rules:
* convs of the target-feature projection, label encoder and box encoder: N(0, 2 / (k·k·out)) (bias 0);
* the importance-weight predictor W: weight 0, bias 1 (W starts as the constant 1);
* decoder convs: PyTorch's default, U(±1/sqrt(fan_in)) for weight and bias;
* backbone convs: N(0, 2 / (k·k·out)) (the backbone is normally loaded from pretrained weights);
* BatchNorm: scale 1, bias 0, running mean 0, running variance 1;
* the learner's ρ (``filter_reg``): ``model.init_filter_reg``.

``scheme="from_scratch"`` (training the small synthetic model without pretrained weights, where BatchNorm keeps
its initial statistics and so normalises nothing): backbone convs He-normal (fan-in) with gain 1/64 on the stem
(inputs are 0..255) and 0.25 on the last conv of each bottleneck, decoder convs He-normal with gain 0.25 on the
output conv — the scaling the reference fixtures use to keep activations bounded. Measured: with the reference
scheme the small synthetic model's logits stayed at |logit| ≈ 0.005 and the loss at 50.0 (no learning).
"""
from __future__ import annotations

import jax
import numpy as np
from flax.traverse_util import flatten_dict, unflatten_dict


def _he(rng, shape, gain=1.0):
    fan_in = int(np.prod(shape[:-1]))
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in) * gain).astype(np.float32)


def _leaf(path, shape, params_flat, bn_modules, rng, filter_reg, scheme="reference"):
    leaf, module = path[-1], tuple(path[:-1])
    if leaf == "filter_reg":
        return np.full(shape, filter_reg, np.float32)
    if module in bn_modules:
        return (np.ones if leaf in ("scale", "var") else np.zeros)(shape, np.float32)
    if "samp_w_pred" in module:
        return (np.zeros if leaf == "kernel" else np.ones)(shape, np.float32)
    kernel = params_flat[module + ("kernel",)].shape
    if scheme == "from_scratch" and leaf == "kernel" and path[0] in ("feature_extractor", "decoder"):
        gain = 1.0
        if path[0] == "feature_extractor":
            gain = 1 / 64 if path[1] == "conv1" else (0.25 if path[-2] == "conv3" else 1.0)
        elif path[1] == "project" and path[2] == "conv2":
            gain = 0.25
        return _he(rng, shape, gain)
    if path[0] == "decoder":
        bound = 1.0 / np.sqrt(np.prod(kernel[:-1]))
        return rng.uniform(-bound, bound, shape).astype(np.float32)
    if leaf == "kernel":
        fan_out = kernel[0] * kernel[1] * kernel[3]
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_out)).astype(np.float32)
    return np.zeros(shape, np.float32)


def reference_init(shapes, seed: int = 0, filter_reg: float = 0.01, scheme: str = "reference"):
    """Variables with the shapes of ``shapes`` (e.g. ``jax.eval_shape`` of ``model.init``)."""
    rng = np.random.default_rng(seed)
    params_flat = flatten_dict(shapes.get("params", {}))
    bn_modules = {tuple(p[:-1]) for p in flatten_dict(shapes.get("batch_stats", {}))}
    out = {}
    for col, tree in shapes.items():
        out[col] = unflatten_dict({p: jax.numpy.asarray(_leaf(p, s.shape, params_flat, bn_modules, rng, filter_reg,
                                                              scheme))
                                   for p, s in flatten_dict(tree).items()})
    return out
