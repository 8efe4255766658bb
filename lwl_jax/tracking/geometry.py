"""Search-region geometry of the tracker (paper §3.5, appendix C), as fixed-shape linear maps.

A crop of the frame (shrunk 'inside_major', shifted inside the image, optional integer pre-downsampling,
replicate or zero padding, bilinear or nearest resize to the network size) is a pair of matrices ``rows``
(out_h × H) and ``cols`` (out_w × W) with ``crop = rows · frame · colsᵀ``; pasting the network output back into the
frame is another such pair. Their shapes depend only on the frame and network sizes, so the device work of a whole
video compiles once. The integer decisions (truncations, rounding, shifts) follow the reference's current-torch
semantics in float32.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from lwl_jax.ops.resize import resize_matrix

f32 = np.float32


@dataclasses.dataclass
class Crop:
    rows: np.ndarray      # (out_h, H) float32
    cols: np.ndarray      # (out_w, W) float32
    coords: np.ndarray    # (4,) float32: df·(tl_y, tl_x, br_y, br_x) in frame coordinates
    axes: np.ndarray      # (2, 5) int32: per axis (start, length, src, offset, step), see ``_axis_map``


def crop_params(frame_hw, pos, sample_sz, output_sz, mode: str = "replicate"):
    """The integer decisions of a crop (no matrices): (axes (2, 5) int32 as in ``Crop``, coords (4,) float32).
    O(1) host work; ``lwl_jax.tracking.steps.axis_maps`` builds the matrices from ``axes`` on the device."""
    axes, coords = _crop_axes(frame_hw, pos, sample_sz, output_sz, mode)
    return np.array(axes, np.int32), coords


def _axis_map(start: int, length: int, src: int, offset: int, step: int, out: int, frame: int, is_mask: bool,
              window=None):
    """One axis of a crop: pixels ``start .. start+length`` of the pre-downsampled axis (size ``src``, frame index
    ``offset + step·i``), padded (replicate, or zeros for masks), resized to ``out`` (bilinear / nearest).
    ``window`` optionally keeps rows ``window[0] .. window[0]+window[1]`` of the result (clamped: replicate)."""
    if length == out:
        m = np.eye(out, dtype=np.float32)
    else:
        m = resize_matrix(length, out, "nearest" if is_mask else "bilinear")
    if window is not None:
        m = m[np.clip(window[0] + np.arange(window[1]), 0, out - 1)]
    idx = start + np.arange(length)
    full_t = np.zeros((frame, m.shape[0]), np.float32)
    if is_mask:
        keep = (idx >= 0) & (idx < src)
        np.add.at(full_t, offset + step * idx[keep], m[:, keep].T)
    else:
        np.add.at(full_t, offset + step * np.clip(idx, 0, src - 1), m.T)
    return full_t.T


def sample_patch(frame_hw, pos, sample_sz, output_sz, mode: str = "replicate", is_mask: bool = False,
                 window=None) -> Crop:
    """The crop the reference's ``sample_patch`` cuts (appendix C) as linear maps.

    ``pos`` (y, x) and ``sample_sz`` (h, w) in frame pixels (float32), ``output_sz`` (h, w) ints.
    ``window`` = ((row0, n_rows), (col0, n_cols)) keeps a window of the resized patch (first-frame crops)."""
    axes, coords = _crop_axes(frame_hw, pos, sample_sz, output_sz, mode)
    w_r, w_c = (None, None) if window is None else window
    rows = _axis_map(*axes[0], int(output_sz[0]), int(frame_hw[0]), is_mask, w_r)
    cols = _axis_map(*axes[1], int(output_sz[1]), int(frame_hw[1]), is_mask, w_c)
    return Crop(rows, cols, coords, np.array(axes, np.int32))


def _crop_axes(frame_hw, pos, sample_sz, output_sz, mode):
    """Per axis (start, length, src, offset, step) of the pre-downsampled patch, and the crop's coordinates."""
    im_sz = np.array(frame_hw, np.int64)
    pos = np.asarray(pos, f32)
    sample_sz = np.asarray(sample_sz, f32)
    out_sz = np.asarray(output_sz, np.int64)
    posl = np.trunc(pos).astype(np.int64)
    if mode in ("inside", "inside_major"):
        shrink = sample_sz / im_sz.astype(f32)
        shrink = shrink.max() if mode == "inside" else shrink.min()
        shrink = max(f32(shrink), f32(1.0))
        sample_sz = np.trunc(sample_sz / f32(shrink)).astype(np.int64).astype(f32)
    resize_factor = float((sample_sz / out_sz.astype(f32)).min())
    df = int(max(int(resize_factor - 0.1), 1))
    sz = sample_sz / f32(df)
    if df > 1:
        off = posl % df
        posl_f = ((posl - off) / df).astype(f32)
        src = -(-(im_sz - off) // df)
    else:
        off = np.zeros(2, np.int64)
        posl_f = posl.astype(f32)
        src = im_sz
    szl = np.maximum(np.round(sz), 2).astype(np.int64)
    tl = posl_f - (szl - 1).astype(f32) / f32(2)
    br = posl_f + szl.astype(f32) / f32(2) + f32(1)
    if mode in ("inside", "inside_major"):
        src_f = src.astype(f32)
        shift = np.maximum(-tl, 0) - np.maximum(br - src_f, 0)
        tl, br = tl + shift, br + shift
        outside = np.floor((np.maximum(-tl, 0) + np.maximum(br - src_f, 0)) / 2)
        shift = (-tl - outside) * (outside > 0)
        tl, br = tl + shift, br + shift
    t0, b0 = int(np.trunc(tl[0])), int(np.trunc(br[0]))
    t1, b1 = int(np.trunc(tl[1])), int(np.trunc(br[1]))
    axes = [(t0, b0 - t0, int(src[0]), int(off[0]), df), (t1, b1 - t1, int(src[1]), int(off[1]), df)]
    coords = (f32(df) * np.concatenate([tl, br])).astype(f32)
    return axes, coords


def init_crop(frame_hw, pos, target_scale, sample_size, is_mask=False, mode="inside_major") -> Crop:
    """First-frame crop (appendix C): a patch twice the network size centred at round(pos), replicate padding,
    of which the network-size window shifted by the 'inside' correction is kept."""
    im_sz = np.array(frame_hw, f32)
    pos = np.asarray(pos, f32)
    img_sample_sz = np.array(sample_size, f32)
    if "inside" in mode:
        sample_sz = f32(target_scale) * img_sample_sz
        shrink = sample_sz / im_sz
        shrink = max(f32(shrink.max() if mode == "inside" else shrink.min()), f32(1.0))
        sample_sz = sample_sz / shrink
        scale = f32(math.sqrt(float(np.prod(sample_sz / img_sample_sz, dtype=f32))))
        tl = pos - (sample_sz - 1) / f32(2)
        br = pos + sample_sz / f32(2) + 1
        shift = -(np.maximum(-tl, 0) - np.maximum(br - im_sz, 0)) / scale
    else:
        scale = f32(target_scale)
        shift = np.zeros(2, f32)
    shift = np.trunc(shift).astype(np.int64)
    expanded = (img_sample_sz * 2).astype(np.int64)
    expanded = expanded + (expanded - img_sample_sz.astype(np.int64)) % 2
    out = img_sample_sz.astype(np.int64)
    pad = (expanded - out) / 2
    start = (np.floor(pad).astype(np.int64) - shift)
    window = ((int(start[0]), int(out[0])), (int(start[1]), int(out[1])))
    crop = sample_patch(frame_hw, np.round(pos), scale * expanded.astype(f32), expanded, "replicate", is_mask,
                        window)
    return crop


def sample_location(coords, sample_size):
    """(centre (y, x), scale) of a crop from its coordinates."""
    coords = np.asarray(coords, f32)
    pos = f32(0.5) * (coords[:2] + coords[2:] - 1)
    scale = f32(math.sqrt(float(np.prod((coords[2:] - coords[:2]) / np.array(sample_size, f32), dtype=f32))))
    return pos, scale


def paste_maps(frame_hw, sample_pos, sample_scale, crop_hw):
    """Linear maps (and the covered rows/cols) that paste crop-resolution scores into the frame (appendix C):
    resize by ``sample_scale`` (PyTorch ``scale_factor`` semantics), place at
    ``int(sample_pos - size/2)``, clip at the frame border. Returns (rows (H, h), cols (W, w), row_mask, col_mask)."""
    maps, masks = [], []
    s = float(sample_scale)
    for axis in range(2):
        n_in, n_frame = int(crop_hw[axis]), int(frame_hw[axis])
        n_out = int(math.floor(n_in * s))
        m = resize_matrix(n_in, n_out, "bilinear", float(f32(1.0 / s)))
        start = int(float(sample_pos[axis]) - 0.5 * n_out)
        full = np.zeros((n_frame, n_in), np.float32)
        mask = np.zeros(n_frame, bool)
        lo, hi = max(start, 0), min(start + n_out, n_frame)
        if hi > lo:
            full[lo:hi] = m[lo - start: hi - start]
            mask[lo:hi] = True
        maps.append(full)
        masks.append(mask)
    return maps[0], maps[1], masks[0], masks[1]


def paste_params(sample_pos, sample_scale, crop_hw) -> np.ndarray:
    """The decisions of ``paste_maps`` (no matrices): per axis (start, n_out, coordinate scale) as (2, 3) float32;
    ``lwl_jax.tracking.steps.paste_axis_maps`` builds the maps from them on the device."""
    s = float(sample_scale)
    out = np.zeros((2, 3), np.float32)
    for axis in range(2):
        n_out = int(math.floor(int(crop_hw[axis]) * s))
        out[axis] = (int(float(sample_pos[axis]) - 0.5 * n_out), n_out, f32(1.0 / s))
    return out
