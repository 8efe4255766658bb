"""tensorflow-datasets builders for YouTube-VOS 2019 and DAVIS 2017, prepared from the extracted official
archives (``MANUAL_DIR``) to ``array_record`` files without TensorFlow.

One example per video, in a fixed order (``disable_shuffling``: record ``i`` is the ``i``-th video of the split
as the raw-folder readers list it, so both sources draw the same training samples):

* ``video``: the video id; ``frame_names``: the frames' file stems;
* ``frames``: each frame's JPEG file, byte for byte (decoding gives exactly the raw-folder reader's pixels);
* ``masks``: each frame's annotation re-encoded as an 8-bit grayscale (``L``) PNG holding the object ids
  (255 = void), ``b""`` where the frame is not annotated;
* ``object_ids``, ``first_frames`` (each object's first annotated frame), ``visible`` (objects × frames, row-major:
  YouTube-VOS from ``meta.json``, DAVIS from the masks), ``written_frames`` (the frames a YouTube-VOS ``valid``
  submission holds; every frame elsewhere), ``height``, ``width``.

The same index (object ids and visibility per video) is kept in the dataset's ``metadata.json``, so the training
reader draws sequences without reading the frames of every video first.

A video that cannot be read (a missing annotation folder, a truncated JPEG, an unreadable PNG, frames of
different sizes) is skipped with a warning in the training splits and counted in the metadata (``skipped``); in
the evaluation splits (``valid``, ``val``, ``test-dev``) it is an error naming the file, since a benchmark with a
video left out is not the benchmark.
"""
from __future__ import annotations

import io
import json
import logging
import os

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from lwl_jax.data.davis import read_index_png, read_rgb
from lwl_jax.errors import DatasetError

EVAL_SPLITS = ("valid", "valid_all_frames", "val", "test-dev")


def _features():
    blob = tfds.features.Tensor(shape=(), dtype=np.object_)
    return tfds.features.FeaturesDict({
        "video": blob,
        "frame_names": tfds.features.Sequence(blob),
        "frames": tfds.features.Sequence(blob),
        "masks": tfds.features.Sequence(blob),
        "object_ids": tfds.features.Sequence(tfds.features.Tensor(shape=(), dtype=np.int32)),
        "first_frames": tfds.features.Sequence(tfds.features.Tensor(shape=(), dtype=np.int32)),
        "visible": tfds.features.Tensor(shape=(None,), dtype=np.bool_),
        "written_frames": tfds.features.Sequence(tfds.features.Tensor(shape=(), dtype=np.int32)),
        "height": tfds.features.Tensor(shape=(), dtype=np.int32),
        "width": tfds.features.Tensor(shape=(), dtype=np.int32),
    })


def encode_mask(labels) -> bytes:
    """(H, W) uint8 ids -> 8-bit grayscale PNG bytes (decoders that colour palette PNGs cannot mangle them)."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(labels, np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(path):
    """The file's bytes, after checking that they decode (a truncated JPEG is found here, not in training)."""
    if not os.path.isfile(path):
        raise DatasetError(f"{path}: missing frame")
    with open(path, "rb") as f:
        data = f.read()
    return data, read_rgb(path, data).shape[:2]


def video_example(video, frame_paths, mask_paths, object_ids, visible, written=None):
    """One example. ``mask_paths``: path or None per frame; ``visible``: (objects, frames) bool."""
    frames, size = [], None
    for p in frame_paths:
        data, hw = _jpeg(p)
        if size is not None and hw != size:
            raise DatasetError(f"{p}: frame size {hw[1]}x{hw[0]} differs from the first frame's "
                               f"{size[1]}x{size[0]}")
        size = size or hw
        frames.append(data)
    masks = []
    for p in mask_paths:
        if p is None:
            masks.append(b"")
            continue
        labels = read_index_png(p)
        if labels.shape != size:
            raise DatasetError(f"{p}: mask size {labels.shape[1]}x{labels.shape[0]} does not match the frame "
                               f"size {size[1]}x{size[0]}")
        masks.append(encode_mask(labels))
    visible = np.asarray(visible, bool).reshape(len(object_ids), len(frame_paths))
    first = [int(np.flatnonzero(v)[0]) if v.any() else -1 for v in visible]
    names = [os.path.splitext(os.path.basename(p))[0].encode() for p in frame_paths]
    return {"video": video.encode(), "frame_names": names, "frames": frames, "masks": masks,
            "object_ids": np.asarray(object_ids, np.int32), "first_frames": np.asarray(first, np.int32),
            "visible": visible.reshape(-1),
            "written_frames": np.asarray(range(len(frame_paths)) if written is None else written, np.int32),
            "height": np.int32(size[0]), "width": np.int32(size[1])}


def _require(path, what):
    if not os.path.exists(path):
        raise DatasetError(f"{path}: {what} not found (the manual folder must hold the extracted archives; "
                           f"see `python -m lwl_jax.data.prepare_tfds --help`)")


class _VOSBuilder(tfds.core.GeneratorBasedBuilder):
    """What both builders share: features, fixed order, the metadata index, skipping in training splits."""

    def _info(self):
        return self.dataset_info_from_configs(features=_features(), disable_shuffling=True,
                                              metadata=tfds.core.MetadataDict(),
                                              homepage=self.HOMEPAGE)

    def _splits(self, root, todo):
        """{split: example generator} of the splits with at least one video (a partial download may lack one:
        it is left out, with a warning)."""
        for split in [s for s, videos in todo.items() if not videos]:
            logging.warning("%s: no video of split %s; the split is left out", root, split)
        if not any(todo.values()):
            raise DatasetError(f"{root}: no video of any split ({', '.join(todo)})")
        return {split: self._generate_examples(split, videos) for split, videos in todo.items() if videos}

    def _generate_examples(self, split, videos):
        """videos: [(video id, thunk -> example)] in order; yields (position, example) and records the index."""
        index = {"videos": [], "object_ids": [], "visible": [], "skipped": []}
        self.info.metadata[split] = index
        for vid, make in videos:
            try:
                ex = make()
            except DatasetError as e:
                if split in EVAL_SPLITS:
                    raise
                logging.warning("skipping video %s of split %s: %s", vid, split, e)
                index["skipped"].append(f"{vid}: {e}")
                continue
            index["videos"].append(vid)
            index["object_ids"].append([int(i) for i in ex["object_ids"]])
            n = len(ex["frames"])
            index["visible"].append(["".join("1" if b else "0" for b in row)
                                     for row in ex["visible"].reshape(-1, n)])
            yield len(index["videos"]) - 1, ex
        if not index["videos"]:
            raise DatasetError(f"split {split}: all {len(videos)} videos were skipped (first: {index['skipped'][0]})")


class YoutubeVos2019(_VOSBuilder):
    """YouTube-VOS 2019: ``jjtrain`` / ``jjvalid`` (the reference's split of ``train``), ``valid`` (sparse
    first-appearance annotations) and ``valid_all_frames`` (when ``valid_all_frames/`` was extracted)."""

    name = "youtube_vos_2019"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    HOMEPAGE = "https://youtube-vos.org/dataset/vos/"
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Register at https://youtube-vos.org/, download the 2019 `train.zip` and `valid.zip` (and optionally
    `valid_all_frames.zip`) and extract them into the manual folder, which then holds `train/meta.json`,
    `train/JPEGImages/`, `train/Annotations/`, `valid/meta.json`, `valid/JPEGImages/`, `valid/Annotations/`.
    """

    def _split_generators(self, dl_manager):
        root = os.fspath(dl_manager.manual_dir)
        _require(root, "manual folder")
        _require(os.path.join(root, "train", "meta.json"), "YouTube-VOS train/meta.json")
        _require(os.path.join(root, "valid", "meta.json"), "YouTube-VOS valid/meta.json")
        todo = {name: self._train(root, name) for name in ("jjtrain", "jjvalid")}
        todo["valid"] = self._valid(root, all_frames=False)
        if os.path.isdir(os.path.join(root, "valid_all_frames", "JPEGImages")):
            todo["valid_all_frames"] = self._valid(root, all_frames=True)
        return self._splits(root, todo)

    def _train(self, root, split):
        from lwl_jax.data.vos_train import split_ids

        videos = _meta(os.path.join(root, "train", "meta.json"))
        todo = []
        for vid in (v for v in split_ids(split) if v in videos):
            objects = sorted(videos[vid]["objects"].items(), key=lambda kv: int(kv[0]))
            stems = sorted({s for _, obj in objects for s in obj["frames"]})
            ann_dir = os.path.join(root, "train", "Annotations", vid)

            def make(vid=vid, objects=objects, stems=stems, ann_dir=ann_dir):
                _require(ann_dir, "annotation folder")
                frames = [os.path.join(root, "train", "JPEGImages", vid, s + ".jpg") for s in stems]
                masks = [os.path.join(ann_dir, s + ".png") for s in stems]
                for m in masks:
                    if not os.path.isfile(m):
                        raise DatasetError(f"{m}: missing annotation")
                visible = [[s in set(obj["frames"]) for s in stems] for _, obj in objects]
                return video_example(vid, frames, masks, [int(k) for k, _ in objects], visible)

            todo.append((vid, make))
        return todo

    def _valid(self, root, all_frames):
        from lwl_jax.data.youtubevos import youtubevos_sequences

        todo = []
        videos = _meta(os.path.join(root, "valid", "meta.json"))
        for seq, written in youtubevos_sequences(root, "valid", all_frames=all_frames):
            objects = sorted(videos[seq.name]["objects"].items(), key=lambda kv: int(kv[0]))
            names = seq.frame_names()

            def make(seq=seq, written=written, objects=objects, names=names):
                index = {n: i for i, n in enumerate(names)}
                visible = np.zeros((len(objects), len(names)), bool)
                for k, (_, obj) in enumerate(objects):
                    visible[k, index[obj["frames"][0]]:] = True        # from its first appearance on
                masks = [seq.annotations.get(i) for i in range(len(names))]
                return video_example(seq.name, seq.frames, masks, [int(k) for k, _ in objects], visible, written)

            todo.append((seq.name, make))
        return todo


class Davis2017(_VOSBuilder):
    """DAVIS 2017 semi-supervised: ``train``, ``val`` and ``test-dev`` (each when its ``ImageSets`` file is
    there), at 480p or full resolution."""

    name = "davis_2017"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    HOMEPAGE = "https://davischallenge.org/davis2017/code.html"
    BUILDER_CONFIGS = [tfds.core.BuilderConfig(name="480p", description="frames and masks at 480p"),
                       tfds.core.BuilderConfig(name="full_resolution", description="full-resolution frames")]
    RESOLUTION_FOLDER = {"480p": "480p", "full_resolution": "Full-Resolution"}
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Download `DAVIS-2017-trainval-480p.zip` (or `-Full-Resolution`) and, for test-dev,
    `DAVIS-2017-test-dev-480p.zip` from https://davischallenge.org/davis2017/code.html and extract them into the
    manual folder, which then holds `ImageSets/2017/`, `JPEGImages/<resolution>/`, `Annotations/<resolution>/`.
    """

    def _split_generators(self, dl_manager):
        root = os.fspath(dl_manager.manual_dir)
        _require(root, "manual folder")
        res = self.RESOLUTION_FOLDER[self.builder_config.name]
        _require(os.path.join(root, "JPEGImages", res), f"DAVIS JPEGImages/{res}")
        sets = os.path.join(root, "ImageSets", "2017")
        todo = {s: self._split(root, s, res) for s in ("train", "val", "test-dev")
                if os.path.isfile(os.path.join(sets, f"{s}.txt"))}
        if not todo:
            raise DatasetError(f"{sets}: no split file (train.txt, val.txt, test-dev.txt)")
        return self._splits(root, todo)

    def _split(self, root, split, res):
        with open(os.path.join(root, "ImageSets", "2017", f"{split}.txt")) as f:
            names = [s.strip() for s in f if s.strip()]
        todo = []
        for name in names:
            def make(name=name):
                img_dir = os.path.join(root, "JPEGImages", res, name)
                ann_dir = os.path.join(root, "Annotations", res, name)
                _require(img_dir, "frame folder")
                _require(ann_dir, "annotation folder")
                stems = sorted(os.path.splitext(n)[0] for n in os.listdir(img_dir) if n.lower().endswith(".jpg"))
                masks = [os.path.join(ann_dir, s + ".png") for s in stems]
                masks = [m if os.path.isfile(m) else None for m in masks]
                if masks[0] is None:
                    raise DatasetError(f"{os.path.join(ann_dir, stems[0] + '.png')}: missing first-frame "
                                       "annotation")
                present = [None if m is None else set(np.unique(read_index_png(m)).tolist()) for m in masks]
                ids = sorted({i for p in present if p for i in p if 0 < i < 255})
                visible = [[p is not None and i in p for p in present] for i in ids]
                frames = [os.path.join(img_dir, s + ".jpg") for s in stems]
                return video_example(name, frames, masks, ids, visible)

            todo.append((name, make))
        return todo


def _meta(path):
    try:
        with open(path) as f:
            return json.load(f)["videos"]
    except (ValueError, KeyError) as e:
        raise DatasetError(f"{path}: not a YouTube-VOS meta.json ({e})") from None


BUILDERS = {"youtube_vos_2019": YoutubeVos2019, "davis_2017": Davis2017}
