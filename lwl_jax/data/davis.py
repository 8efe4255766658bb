"""DAVIS-format files: indexed palette PNGs (annotations and results), JPEG frames, atomic writes."""
from __future__ import annotations

import os

import numpy as np
from PIL import Image


class DatasetError(Exception):
    """Bad or missing input data; the message names the file and the problem (one line)."""


def davis_palette() -> np.ndarray:
    """The DAVIS / PASCAL VOC colour map (256 × 3 uint8): 0 black, 1 red, 2 green, …"""
    pal = np.zeros((256, 3), np.uint8)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    return pal


def read_index_png(path) -> np.ndarray:
    """An indexed ('P' mode) PNG -> (H, W) uint8 labels. A grayscale ('L') PNG is accepted as labels too;
    an RGB mask is an error."""
    try:
        with Image.open(path) as im:
            mode = im.mode
            if mode not in ("P", "L"):
                raise DatasetError(f"{path}: mask must be an indexed (palette) PNG, got mode {mode}")
            return np.array(im)
    except DatasetError:
        raise
    except (OSError, ValueError, SyntaxError) as e:
        raise DatasetError(f"{path}: unreadable image ({e})") from None


def read_rgb(path) -> np.ndarray:
    """An image file -> (H, W, 3) uint8 RGB."""
    try:
        with Image.open(path) as im:
            return np.array(im.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as e:
        raise DatasetError(f"{path}: unreadable image ({e})") from None


def write_index_png(path, labels, palette=None):
    """Write (H, W) uint8 labels as a palette PNG via a temporary file and rename (never half-written)."""
    im = Image.fromarray(np.asarray(labels, np.uint8), mode="P")
    im.putpalette((davis_palette() if palette is None else palette).reshape(-1).tolist())
    tmp = f"{path}.tmp{os.getpid()}"
    im.save(tmp, format="PNG")
    os.replace(tmp, path)
