"""Cotangents of custom VJPs inside ``shard_map`` with ``check_vma=True``."""
from __future__ import annotations

import jax
from jax import lax


def varying(a) -> frozenset:
    """Mesh axes along which ``a`` varies inside shard_map (empty outside)."""
    t = jax.typeof(a)
    mat = getattr(t, "manual_axis_type", None)
    if mat is not None:
        return frozenset(mat.varying)
    return frozenset(getattr(t, "vma", frozenset()))


def ct_like(ct, primal):
    """Inside shard_map, the cotangent of an input replicated over an axis is summed over that axis."""
    extra = tuple(sorted(varying(ct) - varying(primal)))
    return lax.psum(ct, extra) if extra else ct
