"""COCO instances as single-image training sequences (box-init training mixes them with YouTube-VOS, paper §3.7).

Layout: ``<root>/annotations/instances_<split>.json`` and ``<root>/<split>/<file_name>``. Every non-crowd
instance with a polygon segmentation becomes one sequence of one image; the sample builder repeats that image
for all sampled frames. Polygons are rasterised with PIL (no pycocotools needed); RLE (crowd) masks are skipped.
"""
from __future__ import annotations

import json
import os

import numpy as np
from PIL import Image, ImageDraw

from lwl_jax.data.davis import DatasetError, read_rgb


class CocoInstance:
    dataset = "coco"
    is_image = True
    visible = np.ones(1, bool)

    def __init__(self, image_path, size_hw, polygons, ann_id):
        self.image_path, self.size_hw, self.polygons, self.ann_id = image_path, size_hw, polygons, ann_id

    @property
    def name(self):
        return f"{os.path.basename(self.image_path)}/{self.ann_id}"

    def load(self, index):
        if not os.path.isfile(self.image_path):
            raise DatasetError(f"{self.image_path}: missing image")
        image = read_rgb(self.image_path)
        if image.shape[:2] != tuple(self.size_hw):
            raise DatasetError(f"{self.image_path}: size {image.shape[1]}x{image.shape[0]} differs from the "
                               f"annotation file's {self.size_hw[1]}x{self.size_hw[0]}")
        canvas = Image.new("L", (image.shape[1], image.shape[0]), 0)
        draw = ImageDraw.Draw(canvas)
        for poly in self.polygons:
            if len(poly) >= 6:
                draw.polygon([(float(poly[i]), float(poly[i + 1])) for i in range(0, len(poly), 2)], fill=1)
        return image, np.array(canvas) > 0


def coco_train(root: str, split: str = "train2017", key: str = "data.coco_root", min_area: float = 100.0) -> list:
    if not os.path.isdir(root):
        raise DatasetError(f"{root}: COCO root not found (check config key {key})")
    path = os.path.join(root, "annotations", f"instances_{split}.json")
    if not os.path.isfile(path):
        raise DatasetError(f"{path}: COCO annotation file not found (check config key {key})")
    try:
        with open(path) as f:
            data = json.load(f)
        images = {im["id"]: im for im in data["images"]}
        anns = data["annotations"]
    except (ValueError, KeyError) as e:
        raise DatasetError(f"{path}: not a COCO instances file ({e})") from None
    out = []
    for a in anns:
        if a.get("iscrowd", 0) or not isinstance(a.get("segmentation"), list) or a.get("area", 0) < min_area:
            continue
        im = images.get(a["image_id"])
        if im is None:
            continue
        out.append(CocoInstance(os.path.join(root, split, im["file_name"]), (im["height"], im["width"]),
                                a["segmentation"], a["id"]))
    if not out:
        raise DatasetError(f"{path}: no usable instances (check config key {key})")
    return out
