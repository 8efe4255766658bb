"""State_dict keys of the reference ↔ our Flax variables.

Our modules are named after the reference's, so a key maps mechanically: split on dots, merge the decoder's
``ModuleDict`` level (``decoder.TSE.layer4`` ↔ ``decoder/TSE_layer4``), then rename the leaf:

=====================  =========================  ===========================
PyTorch                Flax                        transform
=====================  =========================  ===========================
conv ``weight``        params ``kernel``           (out, in, kh, kw) → (kh, kw, in, out)
conv ``bias``          params ``bias``
BN ``weight``/``bias``   params ``scale``/``bias``
BN ``running_mean``    batch_stats ``mean``
BN ``running_var``     batch_stats ``var``
BN ``num_batches_tracked``  —                     dropped (BatchNorm statistics are frozen)
``filter_reg``         params ``filter_reg``
=====================  =========================  ===========================
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
from flax.traverse_util import flatten_dict, unflatten_dict

from lwl_jax.convert.errors import CheckpointError
from lwl_jax.ops.layout import hwio_to_oihw, oihw_to_hwio

DECODER_DICTS = ("TSE", "RRB1", "RRB2", "CAB", "proj")


def _module_path(torch_prefix: list[str]) -> tuple[str, ...]:
    parts = list(torch_prefix)
    if len(parts) >= 3 and parts[0] == "decoder" and parts[1] in DECODER_DICTS:
        parts[1:3] = [f"{parts[1]}_{parts[2]}"]
    return tuple(parts)


def _torch_prefix(flax_path: tuple[str, ...]) -> list[str]:
    parts = list(flax_path)
    if len(parts) >= 2 and parts[0] == "decoder":
        head, _, layer = parts[1].partition("_")
        if head in DECODER_DICTS and layer:
            parts[1:2] = [head, layer]
    return parts


def torch_key(collection: str, flax_path: tuple[str, ...]) -> str:
    """The reference's state_dict key of one of our variables."""
    *prefix, leaf = flax_path
    name = {("params", "kernel"): "weight", ("params", "scale"): "weight", ("params", "bias"): "bias",
            ("batch_stats", "mean"): "running_mean", ("batch_stats", "var"): "running_var",
            ("params", "filter_reg"): "filter_reg"}[(collection, leaf)]
    return ".".join(_torch_prefix(tuple(prefix)) + [name])


def variable_table(variables) -> list[tuple[str, str, tuple, str]]:
    """Rows (torch key, flax path, flax shape, transform) for every variable of ``variables``."""
    rows = []
    for col in ("params", "batch_stats"):
        for path, value in flatten_dict(variables.get(col, {})).items():
            conv = path[-1] == "kernel"
            rows.append((torch_key(col, path), f"{col}/" + "/".join(path), tuple(value.shape),
                         "OIHW->HWIO" if conv else ""))
    return rows


def state_dict_to_variables(state_dict: Mapping[str, np.ndarray], target, *, source: str = "state_dict"):
    """Fill ``target`` (a variables pytree or its ``eval_shape``) from a reference state_dict.

    Every missing key, unexpected key and shape mismatch is collected and reported in one
    :class:`CheckpointError`. ``num_batches_tracked`` buffers are accepted and dropped.
    """
    wanted = {}
    for col in ("params", "batch_stats"):
        for path, value in flatten_dict(target.get(col, {})).items():
            wanted[torch_key(col, path)] = (col, path, tuple(value.shape))
    out = {"params": {}, "batch_stats": {}}
    unexpected, mismatched = [], []
    for key, value in state_dict.items():
        if key.endswith("num_batches_tracked"):
            continue
        if key not in wanted:
            unexpected.append(key)
            continue
        col, path, shape = wanted.pop(key)
        arr = np.asarray(value)
        if path[-1] == "kernel":
            arr = oihw_to_hwio(arr) if arr.ndim == 4 else arr
        if tuple(arr.shape) != shape:
            expect = _torch_shape(shape) if path[-1] == "kernel" else shape
            mismatched.append(f"{key} (file {tuple(np.shape(value))}, model expects {expect})")
            continue
        out[col][path] = arr.astype(np.float32)
    missing = sorted(wanted)
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing: " + ", ".join(missing))
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected: " + ", ".join(sorted(unexpected)))
        if mismatched:
            parts.append(f"{len(mismatched)} shape mismatch: " + ", ".join(mismatched))
        raise CheckpointError(f"{source}: does not fit the model: " + "; ".join(parts))
    return {col: unflatten_dict(v) for col, v in out.items() if v}


def _torch_shape(hwio):
    return (hwio[3], hwio[2], hwio[0], hwio[1]) if len(hwio) == 4 else hwio


def variables_to_state_dict(variables) -> dict[str, np.ndarray]:
    """Our variables -> a reference-layout state_dict (OIHW convs, BN buffers, ``num_batches_tracked`` = 0)."""
    sd = {}
    for col in ("params", "batch_stats"):
        for path, value in flatten_dict(variables.get(col, {})).items():
            arr = np.asarray(value)
            if path[-1] == "kernel" and arr.ndim == 4:
                arr = hwio_to_oihw(arr)
            key = torch_key(col, path)
            sd[key] = np.ascontiguousarray(arr)
            if col == "batch_stats" and path[-1] == "mean":
                sd[key[: -len("running_mean")] + "num_batches_tracked"] = np.zeros((), np.int64)
    return sd
