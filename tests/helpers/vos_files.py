"""Small training datasets written in the exact on-disk layouts of YouTube-VOS 2019 train, DAVIS 2017 train and
COCO instances (frames from the built-in synthetic generator), with optional defects; DAVIS 2017 ``val`` and
YouTube-VOS ``valid`` folders for evaluation."""
import json
import os

import numpy as np
from PIL import Image

from lwl_jax.data.davis import write_davis_split, write_davis_video, write_index_png
from lwl_jax.data.synthetic import SyntheticConfig, generate
from lwl_jax.data.youtubevos import write_youtubevos_video

CFG = SyntheticConfig(height=72, width=120, num_frames=12, max_objects=2)
H, W = 64, 96          # make_davis's frame size


def _videos(n, seed, cfg=CFG):
    out = []
    i = 0
    while len(out) < n:
        frames, labels, ids = generate(i, seed, cfg)
        i += 1
        if ids and labels[0].any():
            out.append((frames, labels, ids))
    return out


def write_youtubevos_train(root, video_ids, seed=0, short=(), corrupt=(), missing_annotation=()):
    """``<root>/train/{meta.json, JPEGImages, Annotations}``. ``short``: videos of 3 frames; ``corrupt``: video ids
    whose 3rd JPEG is truncated; ``missing_annotation``: video ids whose 3rd PNG is deleted."""
    meta = {"videos": {}}
    for vid, (frames, labels, _) in zip(video_ids, _videos(len(video_ids), seed)):
        if vid in short:
            frames, labels = frames[:3], labels[:3]
        meta["videos"][vid] = write_youtubevos_video(root, "train", vid, frames, labels)
        jd = os.path.join(root, "train", "JPEGImages", vid)
        ad = os.path.join(root, "train", "Annotations", vid)
        stems = [f"{5 * t:05d}" for t in range(len(frames))]
        if vid in corrupt:
            p = os.path.join(jd, stems[2] + ".jpg")
            data = open(p, "rb").read()
            open(p, "wb").write(data[:len(data) // 3])
        if vid in missing_annotation:
            os.remove(os.path.join(ad, stems[2] + ".png"))
    os.makedirs(os.path.join(root, "train"), exist_ok=True)
    with open(os.path.join(root, "train", "meta.json"), "w") as f:
        json.dump(meta, f)


def write_davis_train(root, names, seed=1, corrupt=()):
    for name, (frames, labels, _) in zip(names, _videos(len(names), seed)):
        jd = write_davis_video(root, name, frames, labels, quality=90)
        if name in corrupt:
            open(os.path.join(jd, "00004.jpg"), "wb").write(b"\xff\xd8\xff\xe0 not a jpeg")
    write_davis_split(root, "train", names)


def write_coco(root, num_images=3, seed=2, split="train2017"):
    """``<root>/annotations/instances_<split>.json`` with polygon instances, ``<root>/<split>/*.jpg``."""
    os.makedirs(os.path.join(root, split), exist_ok=True)
    os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
    rng = np.random.default_rng(seed)
    images, anns = [], []
    for i in range(num_images):
        h, w = 90, 140
        img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        name = f"{i:012d}.jpg"
        Image.fromarray(img).save(os.path.join(root, split, name), quality=90)
        images.append({"id": i + 1, "file_name": name, "height": h, "width": w})
        x, y = 20 + 10 * i, 15
        anns.append({"id": 100 + i, "image_id": i + 1, "iscrowd": 0, "area": 1500.0, "category_id": 1,
                     "segmentation": [[x, y, x + 50, y, x + 50, y + 40, x, y + 40]],
                     "bbox": [x, y, 50, 40]})
    anns.append({"id": 999, "image_id": 1, "iscrowd": 1, "area": 500.0, "category_id": 1,
                 "segmentation": {"counts": [0, 10], "size": [90, 140]}, "bbox": [0, 0, 5, 5]})
    with open(os.path.join(root, "annotations", f"instances_{split}.json"), "w") as f:
        json.dump({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "thing"}]}, f)


def make_davis(root, n_frames=6, sequences=("alpha", "beta")):
    """DAVIS 2017 ``val`` (H×W frames): in 'alpha' object 1 enters late, with the lowest id."""
    rng = np.random.default_rng(0)
    (root / "ImageSets" / "2017").mkdir(parents=True, exist_ok=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("\n".join(sequences) + "\n")
    for s, name in enumerate(sequences):
        jd = root / "JPEGImages" / "480p" / name
        ad = root / "Annotations" / "480p" / name
        jd.mkdir(parents=True)
        ad.mkdir(parents=True)
        for t in range(n_frames):
            img = (rng.random((H, W, 3)) * 255).astype(np.uint8)
            lab = np.zeros((H, W), np.uint8)
            lab[10 + t:30 + t, 10:35] = 2
            lab[35:55, 50 + t:80 + t] = 3
            if s == 0 and t >= 3:                       # object 1 enters late, with the lowest id
                lab[5:20, 60:85] = 1
            img[lab > 0] = (img[lab > 0] * 0.3 + 150).astype(np.uint8)
            Image.fromarray(img).save(jd / f"{t:05d}.jpg", quality=95)
            write_index_png(ad / f"{t:05d}.png", lab)
    return root


def make_youtubevos(root):
    """Two videos; in 'v1' object 7 enters at frame 5; only every 5th frame is listed (and given as JPEG)."""
    rng = np.random.default_rng(1)
    meta = {"videos": {}}
    for vid, (h, w) in (("v1", (48, 80)), ("v2", (56, 72))):
        objects = {"3": {"frames": []}}
        if vid == "v1":
            objects["7"] = {"frames": []}
        for t in range(12):
            img = (rng.random((h, w, 3)) * 255).astype(np.uint8)
            lab = np.zeros((h, w), np.uint8)
            lab[5:25, 5 + t:30 + t] = 3
            if vid == "v1" and t >= 5:
                lab[30:45, 40:70] = 7
            name = f"{t * 5:05d}"
            for base in (root / "valid_all_frames" / "JPEGImages" / vid,) + \
                    ((root / "valid" / "JPEGImages" / vid,) if t % 5 == 0 else ()):
                base.mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).save(base / f"{name}.jpg", quality=95)
            if t % 5 == 0:
                objects["3"]["frames"].append(name)
                if vid == "v1" and t >= 5:
                    objects["7"]["frames"].append(name)
            ann = root / "valid" / "Annotations" / vid
            ann.mkdir(parents=True, exist_ok=True)
            if t == 0:
                write_index_png(ann / f"{name}.png", np.where(lab == 3, 3, 0).astype(np.uint8))
            if vid == "v1" and t == 5:
                write_index_png(ann / f"{name}.png", np.where(lab == 7, 7, 0).astype(np.uint8))
        meta["videos"][vid] = {"objects": objects}
    (root / "valid" / "meta.json").write_text(json.dumps(meta))
    return root
