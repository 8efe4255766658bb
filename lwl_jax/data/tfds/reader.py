"""Prepared TFDS datasets (``builders.py``) as the readers' objects: training sequences (one per object, as
``lwl_jax.data.vos_train`` gives them, in the same order) and the tracker's ``Video`` objects (as
``lwl_jax.data.davis`` / ``youtubevos`` give them). Frames and masks are decoded only when used, from the
example's bytes; the data source is opened lazily in each process (grain workers pickle the readers)."""
from __future__ import annotations

import os

import numpy as np

from lwl_jax.data.davis import Video, read_index_png, read_rgb
from lwl_jax.errors import DatasetError


def open_builder(name: str, data_dir: str, config: str | None = None):
    """The prepared builder ``name`` (``youtube_vos_2019``, ``davis_2017``) in ``data_dir``; DatasetError naming
    the folder and the command to run when it is not prepared (an interrupted preparation is never read: TFDS
    renames the folder into place only when it is complete)."""
    from lwl_jax.data.tfds.builders import BUILDERS

    if name not in BUILDERS:
        raise DatasetError(f"unknown TFDS dataset {name!r}; expected one of {sorted(BUILDERS)}")
    data_dir = os.path.expanduser(data_dir)
    builder = BUILDERS[name](data_dir=data_dir, config=config, file_format="array_record")
    if not os.path.isfile(os.path.join(builder.data_dir, "dataset_info.json")):
        cfg = f" --config {builder.builder_config.name}" if builder.builder_config else ""
        raise DatasetError(f"{builder.data_dir}: TFDS dataset {name} is not prepared; run `python -m "
                           f"lwl_jax.data.prepare_tfds {name}{cfg} --manual_dir <folder> --data_dir {data_dir}`")
    return builder


class Source:
    """One split of a prepared dataset: its metadata index and (opened on first use) its records."""

    def __init__(self, name: str, split: str, data_dir: str, config: str | None = None):
        builder = open_builder(name, data_dir, config)
        if split not in builder.info.splits:
            raise DatasetError(f"{builder.data_dir}: no split {split!r} (prepared: {sorted(builder.info.splits)})")
        self.name, self.split, self.data_dir, self.config = name, split, os.path.expanduser(data_dir), config
        self.where = f"{builder.data_dir}[{split}]"
        self.index = builder.info.metadata[split]
        self._records = None
        self._cached = (None, None)

    def __getstate__(self):
        return {**self.__dict__, "_records": None, "_cached": (None, None)}

    def __len__(self):
        return len(self.index["videos"])

    def example(self, record):
        """The decoded example of record ``record`` (the last one is kept: a sample reads 4 frames of it)."""
        if self._cached[0] == record:
            return self._cached[1]
        if self._records is None:
            self._records = open_builder(self.name, self.data_dir, self.config).as_data_source(split=self.split)
        ex = self._records[record]
        video = _text(ex["video"])
        if video != self.index["videos"][record]:
            raise DatasetError(f"{self.where}: record {record} holds video {video}, the metadata index says "
                               f"{self.index['videos'][record]} (prepare the dataset again)")
        self._cached = (record, ex)
        return ex

    def frame_path(self, video, frame_name):
        """A name for messages: where the frame came from."""
        return f"{self.where}/{video}/{frame_name}.jpg"


def _text(b):
    return b.decode() if isinstance(b, bytes) else str(b)


class TrainSequence:
    """One object of one video of a prepared training split (the interface of ``vos_train.TrainSequence``)."""

    def __init__(self, dataset, source: Source, record, object_id, visible):
        self.dataset, self.source, self.record, self.object_id = dataset, source, record, object_id
        self.video = source.index["videos"][record]
        self.visible = visible

    @property
    def name(self):
        return f"{self.video}/{self.object_id}"

    def load(self, index):
        ex = self.source.example(self.record)
        frame = self.source.frame_path(self.video, _text(ex["frame_names"][index]))
        mask = frame[:-4] + ".png"
        if not len(ex["masks"][index]):
            raise DatasetError(f"{mask}: missing annotation")
        return read_rgb(frame, ex["frames"][index]), read_index_png(mask, ex["masks"][index]) == self.object_id


def train_sequences(dataset: str, source: Source) -> list[TrainSequence]:
    """Single-object training sequences of a prepared split, in the raw-folder reader's order."""
    out = []
    for r, (ids, vis) in enumerate(zip(source.index["object_ids"], source.index["visible"])):
        for obj, bits in zip(ids, vis):
            out.append(TrainSequence(dataset, source, r, int(obj), np.array([c == "1" for c in bits])))
    if not out:
        raise DatasetError(f"{source.where}: no annotated training sequences")
    return out


class TFDSVideo(Video):
    """A video of a prepared evaluation split as the tracker's ``Video``: ``frames`` and ``annotations`` are names
    for messages; the bytes come from the record."""

    def __init__(self, source: Source, record):
        ex = source.example(record)
        self.source, self.record = source, record
        video = source.index["videos"][record]
        names = [_text(n) for n in ex["frame_names"]]
        frames = [source.frame_path(video, n) for n in names]
        annotations = {i: f[:-4] + ".png" for i, (f, m) in enumerate(zip(frames, ex["masks"])) if len(m)}
        super().__init__(video, frames, annotations)
        self.written = [int(i) for i in ex["written_frames"]]

    def frame_data(self, i):
        return self.source.example(self.record)["frames"][i]

    def annotation_data(self, i):
        return self.source.example(self.record)["masks"][i]


def eval_sequences(source: Source, sequences: list[str] | None = None) -> list[TFDSVideo]:
    """The tracker's sequences of a prepared evaluation split (``sequences``: a subset of video ids)."""
    videos = source.index["videos"]
    if sequences is not None:
        missing = [s for s in sequences if s not in videos]
        if missing:
            raise DatasetError(f"{source.where}: no video {missing[0]}")
        return [TFDSVideo(source, videos.index(s)) for s in sequences]
    return [TFDSVideo(source, r) for r in range(len(videos))]
