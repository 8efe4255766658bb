"""Training-set readers: YouTube-VOS 2019 ``train`` and DAVIS 2017 ``train`` in their on-disk layouts, in the
reference's single-object mode (every annotated object of a video is its own training sequence).

YouTube-VOS: ``<root>/train/meta.json`` ({"videos": {vid: {"objects": {id: {"frames": [stem, …]}}}}}),
``<root>/train/JPEGImages/<vid>/<stem>.jpg``, ``<root>/train/Annotations/<vid>/<stem>.png`` (palette PNG, every
5th frame). The object's visibility per frame comes from ``meta.json``. The split (a list of video ids) defaults to
the reference's ``jjtrain``; ``jjvalid`` (the paper's appendix-H held-out 300 videos) is the validation split.

DAVIS 2017: ``<root>/ImageSets/2017/train.txt``, ``<root>/JPEGImages/480p/<seq>/*.jpg``,
``<root>/Annotations/480p/<seq>/*.png``; visibility is read from the masks once, when the dataset is built.

A wrong root fails at construction, naming the path and the config key that set it. Problems inside a sequence
(a corrupt JPEG, a missing annotation) surface when a sample is loaded as :class:`DatasetError`; the sample
builder (``lwl_jax/data/pipeline.py``) skips such samples and counts them.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
from importlib import resources

import numpy as np

from lwl_jax.data.davis import DatasetError, read_index_png, read_rgb
from lwl_jax.errors import ConfigError

SPLITS = ("jjtrain", "jjvalid")


@dataclasses.dataclass
class TrainSequence:
    """One object of one video: frame files, annotation files (None where not annotated) and visibility."""
    dataset: str
    video: str
    object_id: int
    frames: list
    annotations: list
    visible: np.ndarray

    @property
    def name(self):
        return f"{self.video}/{self.object_id}"

    def load(self, index):
        """(RGB frame (H, W, 3) uint8, object mask (H, W) bool) of frame ``index``; DatasetError if either is
        missing, unreadable or of mismatched size."""
        frame_path, ann_path = self.frames[index], self.annotations[index]
        if not os.path.isfile(frame_path):
            raise DatasetError(f"{frame_path}: missing frame")
        if ann_path is None or not os.path.isfile(ann_path):
            raise DatasetError(f"{ann_path or frame_path}: missing annotation")
        image = read_rgb(frame_path)
        labels = read_index_png(ann_path)
        if labels.shape != image.shape[:2]:
            raise DatasetError(f"{ann_path}: mask size {labels.shape[1]}x{labels.shape[0]} does not match the frame "
                               f"size {image.shape[1]}x{image.shape[0]}")
        return image, labels == self.object_id


def split_ids(name: str):
    """Video ids of a bundled YouTube-VOS 2019 split ('jjtrain' or 'jjvalid')."""
    if name not in SPLITS:
        raise ConfigError(f"unknown YouTube-VOS split {name!r}; expected one of {SPLITS} or a file path")
    text = resources.files("lwl_jax.data.splits").joinpath(f"youtubevos_{name}.txt").read_text()
    return [s.strip() for s in text.splitlines() if s.strip()]


def _read_split(split, key):
    if split in SPLITS:
        return split_ids(split)
    if not os.path.isfile(split):
        raise DatasetError(f"{split}: split file not found (set by config key {key})")
    with open(split) as f:
        return [s.strip() for s in f if s.strip()]


def _check_root(path, what, key):
    if not os.path.exists(path):
        raise DatasetError(f"{path}: {what} not found (check config key {key})")


def youtubevos_train(root: str, split: str = "jjtrain", key: str = "data.youtubevos_root", min_videos: int = 1,
                     split_key="data.youtubevos_split"):
    """Single-object training sequences of YouTube-VOS 2019 ``train``, restricted to ``split`` (a bundled split
    name or a file of video ids). Videos of the split that are absent from ``meta.json`` are ignored (a partial
    download); none present is an error."""
    _check_root(root, "YouTube-VOS root", key)
    meta_path = os.path.join(root, "train", "meta.json")
    _check_root(meta_path, "YouTube-VOS train/meta.json", key)
    try:
        with open(meta_path) as f:
            videos = json.load(f)["videos"]
    except (ValueError, KeyError) as e:
        raise DatasetError(f"{meta_path}: not a YouTube-VOS meta.json ({e})") from None
    ids = [v for v in _read_split(split, split_key) if v in videos]
    if len(ids) < min_videos:
        raise DatasetError(f"{meta_path}: none of the {split} videos are listed (check config key {key})")
    out = []
    for vid in ids:
        img_dir = os.path.join(root, "train", "JPEGImages", vid)
        ann_dir = os.path.join(root, "train", "Annotations", vid)
        stems = sorted({s for obj in videos[vid]["objects"].values() for s in obj["frames"]})
        frames = [os.path.join(img_dir, s + ".jpg") for s in stems]
        anns = [os.path.join(ann_dir, s + ".png") for s in stems]
        for obj_id, obj in sorted(videos[vid]["objects"].items(), key=lambda kv: int(kv[0])):
            listed = set(obj["frames"])
            visible = np.array([s in listed for s in stems])
            out.append(TrainSequence("youtubevos", vid, int(obj_id), frames, anns, visible))
    return out


def davis_train(root: str, split: str = "train", resolution: str = "480p", key: str = "data.davis_root",
                progress: bool = False) -> list[TrainSequence]:
    """Single-object training sequences of DAVIS 2017 (``ImageSets/2017/<split>.txt``). Visibility is read from
    every mask once; a frame whose annotation is missing or unreadable counts as not visible (their number is
    logged)."""
    _check_root(root, "DAVIS root", key)
    split_file = os.path.join(root, "ImageSets", "2017", f"{split}.txt")
    _check_root(split_file, "DAVIS split file", key)
    with open(split_file) as f:
        names = [s.strip() for s in f if s.strip()]
    out, unreadable = [], 0
    for name in _progress(names, progress, "reading DAVIS masks"):
        img_dir = os.path.join(root, "JPEGImages", resolution, name)
        ann_dir = os.path.join(root, "Annotations", resolution, name)
        if not os.path.isdir(img_dir):
            unreadable += 1
            continue
        stems = sorted(os.path.splitext(n)[0] for n in os.listdir(img_dir) if n.lower().endswith(".jpg"))
        frames = [os.path.join(img_dir, s + ".jpg") for s in stems]
        anns = [os.path.join(ann_dir, s + ".png") for s in stems]
        present = []
        for a in anns:
            try:
                labels = read_index_png(a) if os.path.isfile(a) else None
            except DatasetError:
                labels = None
            unreadable += labels is None
            present.append(None if labels is None else np.unique(labels))
        ids = sorted({int(i) for p in present if p is not None for i in p if 0 < i < 255})
        for obj in ids:
            visible = np.array([p is not None and obj in p for p in present])
            out.append(TrainSequence("davis", name, obj, frames,
                                     [a if p is not None else None for a, p in zip(anns, present)], visible))
    if unreadable:
        logging.warning("%s: %d DAVIS frames or sequences without a readable annotation count as not visible",
                        root, unreadable)
    if not out:
        raise DatasetError(f"{root}: no annotated DAVIS sequences of split {split} (check config key {key})")
    return out


def _progress(items, on, desc):
    if not on:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="seq")
