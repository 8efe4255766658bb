"""DAVIS-format files: indexed palette PNGs (annotations and results), JPEG frames, atomic writes."""
from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image

from lwl_jax.errors import DatasetError, output_error  # DatasetError is re-exported here


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


def _image(path, data=None):
    """The image file ``path``, or its encoded bytes ``data`` when given (``path`` then only names it)."""
    return Image.open(path if data is None else io.BytesIO(data))


def read_index_png(path, data=None) -> np.ndarray:
    """An indexed ('P' mode) PNG -> (H, W) uint8 labels. A grayscale ('L') PNG is accepted as labels too;
    an RGB mask is an error. ``data``: the PNG's bytes instead of the file."""
    try:
        with _image(path, data) as im:
            mode = im.mode
            if mode not in ("P", "L"):
                raise DatasetError(f"{path}: mask must be an indexed (palette) PNG, got mode {mode}")
            return np.array(im)
    except DatasetError:
        raise
    except (OSError, ValueError, SyntaxError) as e:
        raise DatasetError(f"{path}: unreadable image ({e})") from None


def read_rgb(path, data=None) -> np.ndarray:
    """An image file (or its bytes ``data``) -> (H, W, 3) uint8 RGB."""
    try:
        with _image(path, data) as im:
            return np.array(im.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as e:
        raise DatasetError(f"{path}: unreadable image ({e})") from None


def image_size(path, data=None) -> tuple:
    """(H, W) of an image file (or its bytes ``data``), read from its header."""
    try:
        with _image(path, data) as im:
            return im.size[1], im.size[0]
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing frame") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise DatasetError(f"{path}: unreadable image ({e})") from None


def check_same_size(path, hw, first_hw):
    """A frame of a sequence must have the first frame's size."""
    if tuple(hw) != tuple(first_hw):
        raise DatasetError(f"{path}: frame size {hw[1]}x{hw[0]} differs from the first frame's "
                           f"{first_hw[1]}x{first_hw[0]} (all frames of a sequence must have one size)")


def write_index_png(path, labels, palette=None):
    """Write (H, W) uint8 labels as a palette PNG via a temporary file and rename (never half-written)."""
    im = Image.fromarray(np.asarray(labels, np.uint8), mode="P")
    im.putpalette((davis_palette() if palette is None else palette).reshape(-1).tolist())
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        im.save(tmp, format="PNG")
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise output_error(path, e) from None


IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp")


class Video:
    """A video to segment: ordered frame files and the given annotations (frame index -> label PNG path).

    Each object is initialised on the first annotated frame in which it appears (DAVIS: the first frame;
    YouTube-VOS and DAVIS-format folders with late objects: the frame where it enters)."""

    def __init__(self, name, frames, annotations):
        self.name, self.frames, self.annotations = name, list(frames), dict(annotations)

    def frame_names(self):
        return [os.path.splitext(os.path.basename(f))[0] for f in self.frames]

    def frame_data(self, i):
        """Frame ``i``'s encoded bytes when they do not come from the file ``frames[i]`` (None: read the file)."""
        return None

    def annotation_data(self, i):
        """Annotation ``i``'s encoded bytes when they do not come from the file ``annotations[i]``."""
        return None

    def load_frame(self, i):
        path, data = self.frames[i], self.frame_data(i)
        if data is None and not os.path.isfile(path):
            raise DatasetError(f"{path}: missing frame")
        return read_rgb(path, data)

    def frame_size(self, i):
        """(H, W) of frame ``i``, read from its header."""
        return image_size(self.frames[i], self.frame_data(i))

    def check_frame_sizes(self):
        """All frames have the first frame's size (read from the file headers, in seconds); returns (H, W)."""
        first = self.frame_size(0)
        for i in range(1, len(self.frames)):
            check_same_size(self.frames[i], self.frame_size(i), first)
        return first

    def load_annotation(self, i, frame_hw):
        path = self.annotations[i]
        labels = read_index_png(path, self.annotation_data(i))
        if labels.shape != tuple(frame_hw):
            raise DatasetError(f"{path}: mask size {labels.shape[1]}x{labels.shape[0]} does not match the frame "
                               f"size {frame_hw[1]}x{frame_hw[0]}")
        return labels


def frames_in(folder):
    if not os.path.isdir(folder):
        raise DatasetError(f"{folder}: frame folder not found")
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTS))
    if not names:
        raise DatasetError(f"{folder}: no frames")
    return [os.path.join(folder, n) for n in names]


def davis_sequences(root: str, split: str = "val", resolution: str = "480p", sequences: list[str] | None = None,
                    first_frame_only: bool = False) -> list[Video]:
    """DAVIS 2017 layout: ``JPEGImages/<res>/<seq>/*.jpg``, ``Annotations/<res>/<seq>/*.png``,
    ``ImageSets/2017/<split>.txt``. With ``first_frame_only`` only frame 0's annotation is given to the
    tracker (the standard protocol); otherwise objects absent from frame 0 start on their first annotated frame."""
    split_file = os.path.join(root, "ImageSets", "2017", f"{split}.txt")
    if sequences is None:
        if not os.path.isfile(split_file):
            raise DatasetError(f"{split_file}: split file not found (is {root} a DAVIS root?)")
        with open(split_file) as f:
            sequences = [s.strip() for s in f if s.strip()]
    out = []
    for name in sequences:
        frames = frames_in(os.path.join(root, "JPEGImages", resolution, name))
        ann_dir = os.path.join(root, "Annotations", resolution, name)
        annotations = {}
        for i, fpath in enumerate(frames):
            a = os.path.join(ann_dir, os.path.splitext(os.path.basename(fpath))[0] + ".png")
            if os.path.isfile(a):
                annotations[i] = a
            if first_frame_only:
                break
        if os.path.isdir(ann_dir) and not first_frame_only:
            stems = {os.path.splitext(os.path.basename(f))[0] for f in frames}
            orphans = sorted(n for n in os.listdir(ann_dir) if n.endswith(".png") and n[:-4] not in stems)
            if orphans:
                raise DatasetError(f"{os.path.join(root, 'JPEGImages', resolution, name, orphans[0][:-4])}.jpg: "
                                   f"missing frame (its annotation {orphans[0]} exists)")
        if 0 not in annotations:
            raise DatasetError(f"{os.path.join(ann_dir, os.path.splitext(os.path.basename(frames[0]))[0] + '.png')}"
                               f": missing first-frame annotation")
        out.append(Video(name, frames, annotations))
    return out


def folder_sequence(frames_dir: str, first_mask: str) -> Video:
    """A generic folder of frames with a palette PNG mask for its first frame."""
    if not os.path.isfile(first_mask):
        raise DatasetError(f"{first_mask}: first-frame mask not found")
    frames = frames_in(frames_dir)
    return Video(os.path.basename(os.path.normpath(frames_dir)), frames, {0: first_mask})


def write_davis_video(root, name, frames, labels, quality=95, resolution="480p"):
    """One video in the DAVIS 2017 layout: ``JPEGImages/<res>/<name>/%05d.jpg`` and palette
    ``Annotations/<res>/<name>/%05d.png``; returns the JPEG folder."""
    jd = os.path.join(root, "JPEGImages", resolution, name)
    ad = os.path.join(root, "Annotations", resolution, name)
    os.makedirs(jd, exist_ok=True)
    os.makedirs(ad, exist_ok=True)
    for t, (f, lab) in enumerate(zip(frames, labels)):
        Image.fromarray(f).save(os.path.join(jd, f"{t:05d}.jpg"), quality=quality)
        write_index_png(os.path.join(ad, f"{t:05d}.png"), lab)
    return jd


def write_davis_split(root, split, names):
    """``ImageSets/2017/<split>.txt`` listing ``names``."""
    os.makedirs(os.path.join(root, "ImageSets", "2017"), exist_ok=True)
    with open(os.path.join(root, "ImageSets", "2017", f"{split}.txt"), "w") as f:
        f.write("\n".join(names) + "\n")
