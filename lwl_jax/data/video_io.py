"""Read a video into frames and write overlay videos: MP4 through imageio-ffmpeg when installed
(``pip install lwl_jax[video]``), GIF through Pillow otherwise."""
from __future__ import annotations

import os

import numpy as np
from PIL import Image

from lwl_jax.data.davis import DatasetError, davis_palette


def _imageio():
    try:
        import imageio.v3 as iio  # noqa: F401
        import imageio_ffmpeg  # noqa: F401
        return iio
    except ImportError:
        return None


def read_video(path) -> list:
    """All frames of a video file as (H, W, 3) uint8 RGB arrays."""
    if not os.path.isfile(path):
        raise DatasetError(f"{path}: video not found")
    if path.lower().endswith(".gif"):
        try:
            with Image.open(path) as im:
                frames = []
                for i in range(getattr(im, "n_frames", 1)):
                    im.seek(i)
                    frames.append(np.array(im.convert("RGB")))
                return frames
        except OSError as e:
            raise DatasetError(f"{path}: unreadable video ({e})") from None
    iio = _imageio()
    if iio is None:
        raise DatasetError(f"{path}: reading this video needs imageio-ffmpeg (pip install 'lwl_jax[video]'); "
                           f"or pass --frames DIR")
    try:
        return [np.asarray(f)[..., :3] for f in iio.imiter(path)]
    except Exception as e:  # imageio raises many types for broken files
        raise DatasetError(f"{path}: unreadable video ({type(e).__name__}: {str(e).splitlines()[0][:120]})") \
            from None


def overlay(frame, labels, boxes=None, alpha=0.5):
    """Blend the palette colours of ``labels`` over ``frame`` and draw the boxes (x, y, w, h)."""
    pal = davis_palette()
    out = frame.astype(np.float32)
    fg = labels > 0
    out[fg] = (1 - alpha) * out[fg] + alpha * pal[labels[fg]]
    out = out.astype(np.uint8)
    for k, b in (boxes or {}).items():
        x0, y0 = int(round(b[0])), int(round(b[1]))
        x1, y1 = int(round(b[0] + b[2])), int(round(b[1] + b[3]))
        h, w = labels.shape
        x0, x1, y0, y1 = np.clip([x0, x1], 0, w - 1).tolist() + np.clip([y0, y1], 0, h - 1).tolist()
        c = pal[int(k) % 256]
        out[y0, x0:x1 + 1] = c
        out[y1, x0:x1 + 1] = c
        out[y0:y1 + 1, x0] = c
        out[y0:y1 + 1, x1] = c
    return out


def write_video(path_stem, frames, fps=10) -> str:
    """Write frames as ``<stem>.mp4`` (imageio-ffmpeg) or ``<stem>.gif``; returns the path (atomic rename)."""
    iio = _imageio()
    if iio is not None:
        path = path_stem + ".mp4"
        tmp = path_stem + ".tmp.mp4"
        h, w = frames[0].shape[:2]
        even = [f[: h - h % 2, : w - w % 2] for f in frames]  # H.264 needs even sizes
        iio.imwrite(tmp, np.stack(even), fps=fps, codec="libx264")
    else:
        path = path_stem + ".gif"
        tmp = path_stem + ".tmp.gif"
        ims = [Image.fromarray(f) for f in frames]
        ims[0].save(tmp, save_all=True, append_images=ims[1:], duration=int(1000 / fps), loop=0)
    os.replace(tmp, path)
    return path
