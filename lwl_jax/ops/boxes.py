"""The one mask → box function, for NumPy arrays on the host and JAX arrays on the device."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

EXTENTS = ("pixels", "span")


def masks_to_boxes(masks, extent: str = "pixels"):
    """(..., H, W) masks -> (..., 4) boxes (x, y, w, h) of the foreground's (> 0.5) bounding box, all zeros where a
    mask is empty. ``extent``: 'pixels' counts the covered columns and rows (w = x_max − x_min + 1: the
    reference's training crops and box-encoder training); 'span' measures between the extreme pixels
    (w = x_max − x_min: the reference tracker's box of a first-frame mask). Works on NumPy arrays (float64 boxes)
    and, inside or outside ``jit``, on JAX arrays (float32 boxes)."""
    if extent not in EXTENTS:
        raise ValueError(f"extent must be one of {EXTENTS}, got {extent!r}")
    xp = jnp if isinstance(masks, jax.Array) else np
    fg = xp.asarray(masks) > 0.5
    cols, rows = xp.any(fg, axis=-2), xp.any(fg, axis=-1)
    x0, y0 = xp.argmax(cols, axis=-1), xp.argmax(rows, axis=-1)
    x1 = cols.shape[-1] - 1 - xp.argmax(cols[..., ::-1], axis=-1)
    y1 = rows.shape[-1] - 1 - xp.argmax(rows[..., ::-1], axis=-1)
    one = 1 if extent == "pixels" else 0
    box = xp.stack([x0, y0, x1 - x0 + one, y1 - y0 + one], axis=-1).astype(xp.float32 if xp is jnp else np.float64)
    return xp.where(xp.any(cols, axis=-1)[..., None], box, 0.0)
