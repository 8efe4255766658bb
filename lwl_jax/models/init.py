"""The reference's initialisation (SPEC §4), generated leaf by leaf with NumPy from the variables' shapes.

Building the variables this way takes milliseconds, where ``jax.jit(model.init)`` spends seconds compiling
hundreds of random-number kernels. Rules:
* convs of the target-feature projection, label encoder and box encoder: N(0, 2 / (k·k·out)) (bias 0);
* the importance-weight predictor W: weight 0, bias 1 (W starts as the constant 1);
* decoder convs: PyTorch's default, U(±1/sqrt(fan_in)) for weight and bias;
* backbone convs: N(0, 2 / (k·k·out)) (the backbone is normally loaded from pretrained weights);
* BatchNorm: scale 1, bias 0, running mean 0, running variance 1;
* the learner's ρ (``filter_reg``): ``model.init_filter_reg``.
"""
from __future__ import annotations

import jax
import numpy as np
from flax.traverse_util import flatten_dict, unflatten_dict


def _leaf(path, shape, params_flat, bn_modules, rng, filter_reg):
    leaf, module = path[-1], tuple(path[:-1])
    if leaf == "filter_reg":
        return np.full(shape, filter_reg, np.float32)
    if module in bn_modules:
        return (np.ones if leaf in ("scale", "var") else np.zeros)(shape, np.float32)
    if "samp_w_pred" in module:
        return (np.zeros if leaf == "kernel" else np.ones)(shape, np.float32)
    kernel = params_flat[module + ("kernel",)].shape
    if path[0] == "decoder":
        bound = 1.0 / np.sqrt(np.prod(kernel[:-1]))
        return rng.uniform(-bound, bound, shape).astype(np.float32)
    if leaf == "kernel":
        fan_out = kernel[0] * kernel[1] * kernel[3]
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_out)).astype(np.float32)
    return np.zeros(shape, np.float32)


def reference_init(shapes, seed: int = 0, filter_reg: float = 0.01):
    """Variables with the shapes of ``shapes`` (e.g. ``jax.eval_shape`` of ``model.init``)."""
    rng = np.random.default_rng(seed)
    params_flat = flatten_dict(shapes.get("params", {}))
    bn_modules = {tuple(p[:-1]) for p in flatten_dict(shapes.get("batch_stats", {}))}
    out = {}
    for col, tree in shapes.items():
        out[col] = unflatten_dict({p: jax.numpy.asarray(_leaf(p, s.shape, params_flat, bn_modules, rng, filter_reg))
                                   for p, s in flatten_dict(tree).items()})
    return out
