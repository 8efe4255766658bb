"""YouTube-VOS 2018/2019 ``valid`` layout: ``<split>/meta.json``, ``<split>/JPEGImages/<vid>/*.jpg``, sparse
``<split>/Annotations/<vid>/*.png`` (objects annotated on the frame where they first appear, ids not
contiguous), optionally ``<split>_all_frames/JPEGImages`` with every frame. Inference runs on all frames; only
the frames ``meta.json`` lists are written, at the original size, and zipped as the evaluation server expects."""
from __future__ import annotations

import json
import os
import zipfile

from lwl_jax.data.davis import DatasetError, Video, frames_in


def youtubevos_sequences(root: str, split: str = "valid", sequences: list[str] | None = None,
                         all_frames: bool | None = None) -> list[tuple[Video, list[int]]]:
    """Returns [(Video, indices of the frames to write)]. ``all_frames``: read the frames from
    ``<split>_all_frames/`` (True), from ``<split>/`` (False), or from the former when it exists (None)."""
    meta_path = os.path.join(root, split, "meta.json")
    if not os.path.isfile(meta_path):
        raise DatasetError(f"{meta_path}: meta.json not found (is {root} a YouTube-VOS root?)")
    try:
        with open(meta_path) as f:
            videos = json.load(f)["videos"]
    except (ValueError, KeyError) as e:
        raise DatasetError(f"{meta_path}: not a YouTube-VOS meta.json ({e})") from None
    all_frames_root = os.path.join(root, f"{split}_all_frames", "JPEGImages")
    out = []
    for vid in sequences or sorted(videos):
        if vid not in videos:
            raise DatasetError(f"{meta_path}: no video {vid}")
        folder = os.path.join(all_frames_root, vid)
        if all_frames is False or (all_frames is None and not os.path.isdir(folder)):
            folder = os.path.join(root, split, "JPEGImages", vid)
        frames = frames_in(folder)
        stems = [os.path.splitext(os.path.basename(f))[0] for f in frames]
        index = {s: i for i, s in enumerate(stems)}
        listed = set()
        annotations = {}
        for obj_id, obj in videos[vid]["objects"].items():
            names = obj["frames"]
            for n in names:
                if n not in index:
                    raise DatasetError(f"{os.path.join(folder, n)}.jpg: missing frame (listed in meta.json for "
                                       f"object {obj_id})")
                listed.add(index[n])
            first = os.path.join(root, split, "Annotations", vid, names[0] + ".png")
            if not os.path.isfile(first):
                raise DatasetError(f"{first}: missing annotation of object {obj_id}'s first frame")
            annotations[index[names[0]]] = first
        out.append((Video(vid, frames, annotations), sorted(listed)))
    return out


def zip_submission(out_dir, zip_path, videos):
    """Zip ``<out_dir>/<vid>/*.png`` as ``Annotations/<vid>/<frame>.png`` (temporary file + rename)."""
    tmp = zip_path + ".tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for vid in videos:
            for name in sorted(os.listdir(os.path.join(out_dir, vid))):
                if name.endswith(".png"):
                    zf.write(os.path.join(out_dir, vid, name), f"Annotations/{vid}/{name}")
    os.replace(tmp, zip_path)


def write_youtubevos_video(root, split, vid, frames, labels, quality=90):
    """One video in the YouTube-VOS layout: ``<split>/JPEGImages/<vid>/<stem>.jpg`` and palette
    ``<split>/Annotations/<vid>/<stem>.png`` with stems 00000, 00005, … (every 5th frame, as ``train``). Returns
    its ``meta.json`` entry {"objects": {id: {"category", "frames": [stem, …]}}}."""
    import numpy as np
    from PIL import Image

    from lwl_jax.data.davis import write_index_png

    jd = os.path.join(root, split, "JPEGImages", vid)
    ad = os.path.join(root, split, "Annotations", vid)
    os.makedirs(jd, exist_ok=True)
    os.makedirs(ad, exist_ok=True)
    objects = {}
    for t, (f, lab) in enumerate(zip(frames, labels)):
        stem = f"{5 * t:05d}"
        Image.fromarray(f).save(os.path.join(jd, stem + ".jpg"), quality=quality)
        write_index_png(os.path.join(ad, stem + ".png"), lab)
        for k in np.unique(lab):
            if k:
                objects.setdefault(str(int(k)), {"category": "thing", "frames": []})["frames"].append(stem)
    return {"objects": objects}
