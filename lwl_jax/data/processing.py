"""Training crops and augmentations of the reference (paper appendix D: target-centred crops, joint and per-frame
augmentation), in NumPy.

Per frame the target's box is jittered (size × exp(N(0,1)·σ), centre + sqrt(w·h)·c·(U(0,1) − 0.5)); a crop of
``search_area_factor``² × the jittered box's area, with the output's aspect ratio, is cut ('inside_major': shrunk
to fit the image along its major side, then shifted inside it), replicate-padded and resized bilinearly (masks:
nearest, zero padding). Then: joint grayscale / horizontal flip (one draw for the train frames, one for the test
frames), per-frame rotation and scale around the centre (zero border) and brightness, and finally RGB → BGR
minus the mean (the network's input convention). The crop, flip, rotation and scale are composed, so each frame is
resampled once.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from lwl_jax.models.lwl import normalize
from lwl_jax.ops.boxes import masks_to_boxes


@dataclasses.dataclass(frozen=True)
class ProcessingConfig:
    output_size: tuple = (480, 832)              # (H, W)
    search_area_factor: float = 5.0
    scale_jitter: tuple = (0.25, 0.5)            # σ for (train, test) frames
    center_jitter: tuple = ((3.0, 3.0), (5.5, 4.5))   # c (x, y) for (train, test) frames
    grayscale_prob: float = 0.05
    flip_prob: float = 0.5
    max_rotation: float = 15.0                   # degrees
    max_log_scale: float = 0.2
    brightness: float = 0.2
    augment: bool = True                         # False: validation (no affine, no jitter)


def jitter_box(rng, box, scale_sigma, center_c):
    size = box[2:] * np.exp(rng.standard_normal(2) * scale_sigma)
    spread = np.sqrt(np.prod(size)) * np.asarray(center_c)
    center = box[:2] + 0.5 * box[2:] + spread * (rng.random(2) - 0.5)
    return np.concatenate([center - 0.5 * size, size])


def crop_window(box, image_hw, out_hw, factor):
    """(x0, y0, crop_w, crop_h) of the 'inside_major' crop around ``box``."""
    ih, iw = image_hw
    oh, ow = out_hw
    area = max(box[2] * box[3], 1.0)
    cw = np.ceil(ow * np.sqrt(area / (ow * oh)) * factor)
    ch = np.ceil(oh * np.sqrt(area / (ow * oh)) * factor)
    shrink = min(cw / iw, ch / ih)
    if shrink > 1:
        cw, ch = cw / shrink, ch / shrink
    cx, cy = box[0] + 0.5 * box[2], box[1] + 0.5 * box[3]
    x0, y0 = cx - 0.5 * cw, cy - 0.5 * ch
    x0 = (iw - cw) / 2 if cw > iw else min(max(x0, 0.0), iw - cw)
    y0 = (ih - ch) / 2 if ch > ih else min(max(y0, 0.0), ih - ch)
    return x0, y0, cw, ch


def warp(image, matrix, out_hw, nearest=False, border="replicate", valid=None):
    """Sample ``image`` (H, W[, C]) at ``matrix`` @ (x, y, 1) of every output pixel centre (pixel-centre
    convention, as OpenCV). ``border``: 'replicate' or 'zero'; ``valid`` (out_hw bool): zero elsewhere."""
    oh, ow = out_hw
    ys, xs = np.mgrid[0:oh, 0:ow].astype(np.float64)
    sx = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]
    sy = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]
    h, w = image.shape[:2]
    img = image if image.ndim == 3 else image[..., None]
    if nearest:
        xi, yi = np.floor(sx + 0.5).astype(np.int64), np.floor(sy + 0.5).astype(np.int64)
        inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        out = img[np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]
        if border == "zero":
            out = np.where(inside[..., None], out, 0)
        if valid is not None:
            out = np.where(valid[..., None], out, 0)
        return out.reshape(out_hw + image.shape[2:]).astype(image.dtype)
    x0, y0 = np.floor(sx).astype(np.int64), np.floor(sy).astype(np.int64)
    fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
    src = img.astype(np.float32)
    acc = np.zeros((oh, ow, img.shape[2]), np.float32)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            xx, yy = x0 + dx, y0 + dy
            v = src[np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)]
            if border == "zero":
                v = np.where(((xx >= 0) & (xx < w) & (yy >= 0) & (yy < h))[..., None], v, 0)
            acc += (wx * wy).astype(np.float32) * v
    if valid is not None:
        acc *= valid[..., None]
    return acc.reshape(out_hw + image.shape[2:])


def _crop_matrix(x0, y0, cw, ch, out_hw):
    oh, ow = out_hw
    sx, sy = cw / ow, ch / oh
    return np.array([[sx, 0, x0 + 0.5 * sx - 0.5], [0, sy, y0 + 0.5 * sy - 0.5]])


def _affine_matrix(rng, cfg, out_hw):
    """Inverse map (output -> input) of a rotation U(±max_rotation) and scale exp(U(±max_log_scale)) about the
    centre."""
    oh, ow = out_hw
    angle = np.deg2rad(rng.uniform(-cfg.max_rotation, cfg.max_rotation))
    scale = np.exp(rng.uniform(-cfg.max_log_scale, cfg.max_log_scale))
    c, s = np.cos(angle) / scale, np.sin(angle) / scale
    cx, cy = (ow - 1) / 2, (oh - 1) / 2
    return np.array([[c, -s, cx - c * cx + s * cy], [s, c, cy - s * cx - c * cy]])


def _homogeneous(m):
    return np.vstack([m, [0.0, 0.0, 1.0]])


def process(rng, frames, masks, num_train, cfg: ProcessingConfig):
    """frames: list of (H, W, 3) uint8 RGB, masks: list of (H, W) bool -> (images (N, oh, ow, 3) float32
    network input, masks (N, oh, ow) float32). The first ``num_train`` frames are train frames.

    The crop, the joint flip and the per-frame rotation/scale are composed into one map per frame and the frame is
    resampled once (the crop's replicate border inside the image, zero where the rotated and scaled crop leaves the
    crop); the random draws are made in the order of the steps above."""
    out_hw = tuple(cfg.output_size)
    oh, ow = out_hw
    n = len(frames)
    crops = []
    for i, (frame, mask) in enumerate(zip(frames, masks)):
        kind = 0 if i < num_train else 1
        box = masks_to_boxes(mask) if mask.any() else np.array([0, 0, frame.shape[1], frame.shape[0]], np.float64)
        if cfg.augment:
            box = jitter_box(rng, box, cfg.scale_jitter[kind], cfg.center_jitter[kind])
        crops.append(_homogeneous(_crop_matrix(*crop_window(box, frame.shape[:2], out_hw, cfg.search_area_factor),
                                               out_hw)))
    gray, flip = np.zeros(n, bool), np.zeros(n, bool)
    for g in (slice(0, num_train), slice(num_train, n)):       # joint grayscale / flip per group
        gray[g] = rng.random() < cfg.grayscale_prob
        flip[g] = rng.random() < cfg.flip_prob
    mirror = np.array([[-1.0, 0.0, ow - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    images, labels = np.zeros((n, oh, ow, 3), np.float32), np.zeros((n, oh, ow), np.float32)
    ys, xs = np.mgrid[0:oh, 0:ow].astype(np.float64)
    for i, (frame, mask) in enumerate(zip(frames, masks)):
        inner = mirror if flip[i] else np.eye(3)                 # output pixel -> crop pixel
        gain = 1.0
        if cfg.augment:
            inner = inner @ _homogeneous(_affine_matrix(rng, cfg, out_hw))
            gain = rng.uniform(1 - cfg.brightness, 1 + cfg.brightness)
        qx = inner[0, 0] * xs + inner[0, 1] * ys + inner[0, 2]
        qy = inner[1, 0] * xs + inner[1, 1] * ys + inner[1, 2]
        valid = (qx > -0.5) & (qx < ow - 0.5) & (qy > -0.5) & (qy < oh - 0.5)
        m = (crops[i] @ inner)[:2]
        img = warp(frame, m, out_hw, valid=valid)
        if gray[i]:
            img = np.repeat(img @ np.array([0.299, 0.587, 0.114], np.float32), 3).reshape(img.shape)
        images[i] = np.clip(img * gain, 0, 255) if cfg.augment else img
        labels[i] = warp(mask.astype(np.uint8), m, out_hw, nearest=True, border="zero", valid=valid)
    return normalize(images), labels
