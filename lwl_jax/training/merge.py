"""Strict loading of foreign weights into a freshly initialised model (like big_vision's ``merge_params``).

Every array of the model must come from the checkpoint with the same shape, and every array of the checkpoint must
have a place in the model, except where a regular expression of the config key ``init_skip`` matches the array's
name (``params/decoder/…``, ``batch_stats/feature_extractor/…``): a skipped model array keeps its initialisation,
a skipped checkpoint array is ignored. Anything else is an error that names the arrays; nothing is merged silently.
"""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np
from flax.traverse_util import flatten_dict, unflatten_dict

from lwl_jax.errors import CheckpointError


def _flat(variables) -> dict:
    return {"/".join((col,) + k): v for col, tree in variables.items() for k, v in flatten_dict(tree).items()}


def merge_params(variables, loaded, init_skip: Sequence[str] = (), source: str = "init_checkpoint"):
    """(merged variables, report lines). ``variables``: the model's initialised {collection: tree}; ``loaded``:
    the checkpoint's. Raises CheckpointError listing every mismatch no ``init_skip`` pattern covers."""
    model, ckpt = _flat(variables), _flat(loaded)
    skip = [re.compile(p) for p in init_skip]

    def skipped(name):
        return any(p.search(name) for p in skip)

    missing = [k for k in model if k not in ckpt]
    extra = [k for k in ckpt if k not in model]
    reshaped = [k for k in model if k in ckpt and tuple(np.shape(ckpt[k])) != tuple(np.shape(model[k]))]
    problems = [f"missing {k}" for k in missing if not skipped(k)] + \
        [f"extra {k}" for k in extra if not skipped(k)] + \
        [f"shape of {k}: {tuple(np.shape(ckpt[k]))} in the checkpoint, {tuple(np.shape(model[k]))} in the model"
         for k in reshaped if not skipped(k)]
    if problems:
        shown = "; ".join(problems[:6]) + (f"; … ({len(problems) - 6} more)" if len(problems) > 6 else "")
        raise CheckpointError(f"{source}: does not fit the model — {len(problems)} arrays not covered by the "
                              f"config key init_skip {tuple(init_skip)}: {shown}")
    kept = set(missing) | set(reshaped)
    merged = {k: (v if k in kept else np.asarray(ckpt[k], dtype=np.asarray(v).dtype)) for k, v in model.items()}
    out = {}
    for name, v in merged.items():
        col, *path = name.split("/")
        out.setdefault(col, {})[tuple(path)] = v
    report = [f"{source}: loaded {len(model) - len(kept)} of {len(model)} arrays"]
    if kept:
        report.append(f"  kept the initialisation of {len(kept)} (init_skip): {_summary(sorted(kept))}")
    if extra:
        report.append(f"  ignored {len(extra)} checkpoint arrays (init_skip): {_summary(sorted(extra))}")
    return {col: unflatten_dict(tree) for col, tree in out.items()}, report


def _summary(names, limit: int = 4) -> str:
    """The distinct two-level prefixes of ``names`` (e.g. ``params/decoder``), at most ``limit`` of them."""
    prefixes = sorted({"/".join(n.split("/")[:2]) for n in names})
    return ", ".join(prefixes[:limit]) + (", …" if len(prefixes) > limit else "")
