"""The training input pipeline: sample builders (one training sample per global index, a pure function of
(seed, index)) and the ``grain`` loader that runs them in worker processes.

Sample layout: ``images`` (1 + T, H, W, 3) float32 network input (BGR minus mean), ``masks`` (1 + T, H, W) float32,
``skipped_short`` / ``skipped_bad`` (how many draws were rejected before this sample: sequence too short to
sample, or a frame/annotation that could not be read). Batches are assembled as the network wants them:
``train_images`` (1, B, H, W, 3), ``test_images`` (T, B, H, W, 3), ``train_masks``, ``test_masks``.

Global index ``i`` of step ``s`` is ``s · global_batch + j``; process ``p`` of ``P`` builds the items
``j ∈ [p · B/P, (p + 1) · B/P)`` of every step, so any number of processes (and devices) see the same global
batch as one process. The grain iterator's state is saved with every checkpoint (it restores only with the same
``worker_count``).
"""
from __future__ import annotations

import collections
import dataclasses
import logging
import threading

import numpy as np

from lwl_jax.data.davis import DatasetError
from lwl_jax.data.processing import ProcessingConfig, process
from lwl_jax.data.sampler import sample_frames, usable
from lwl_jax.data.synthetic import SyntheticConfig, SyntheticVideo
from lwl_jax.errors import ConfigError
from lwl_jax.models.lwl import normalize

MAX_ATTEMPTS = 100


def _sample(images, masks, short, bad):
    return {"images": np.asarray(images, np.float32), "masks": np.asarray(masks, np.float32),
            "skipped_short": np.int32(short), "skipped_bad": np.int32(bad)}


class VOSSampleBuilder:
    """Samples of the reference's training set: datasets mixed with the given weights (6:1 YouTube-VOS : DAVIS),
    a sequence drawn uniformly, frames by :func:`sample_frames`, crops and augmentation by :func:`process`."""

    def __init__(self, datasets, weights, processing: ProcessingConfig, seed=0, num_test=3, max_gap=100):
        if not datasets or any(len(d) == 0 for d in datasets):
            raise ConfigError("every training dataset needs at least one sequence")
        self.datasets = datasets
        self.p = np.asarray(weights, np.float64) / np.sum(weights)
        self.processing, self.seed, self.num_test, self.max_gap = processing, seed, num_test, max_gap

    def __call__(self, index):
        short = bad = 0
        for attempt in range(MAX_ATTEMPTS):
            rng = np.random.default_rng([self.seed, int(index), attempt])
            ds = self.datasets[rng.choice(len(self.datasets), p=self.p)]
            seq = ds[int(rng.integers(len(ds)))]
            if getattr(seq, "is_image", False):      # an image dataset (COCO): the same image for every frame
                ids = [0] * (1 + self.num_test)
            else:
                ids = sample_frames(rng, seq.visible, self.num_test, self.max_gap)
            if ids is None:
                short += 1
                continue
            try:
                loaded = [seq.load(i) for i in ids]
            except DatasetError as e:
                logging.warning("skipping a sample of %s: %s", seq.name, e)
                bad += 1
                continue
            images, masks = process(rng, [f for f, _ in loaded], [m for _, m in loaded], 1, self.processing)
            return _sample(images, masks, short, bad)
        raise DatasetError(f"no usable training sample in {MAX_ATTEMPTS} draws (index {index}): {short} sequences "
                           f"too short, {bad} unreadable")


class _Kept:
    def __init__(self):
        self.entry, self.ready = None, threading.Event()


# synthetic videos kept while their samples are drawn (SyntheticSampleBuilder.reuse), shared by a process's threads
_VIDEOS = collections.OrderedDict()
_VIDEOS_LOCK = threading.Lock()


class SyntheticSampleBuilder:
    """Samples of the built-in synthetic videos (``video``: the generator's settings): one of a video's targets
    visible in enough frames, frames by :func:`sample_frames`, then either

    * ``processing=None``: the whole frames (at the video's size) and a joint horizontal flip, or
    * a :class:`ProcessingConfig`: the same processing as real data (:class:`VOSSampleBuilder`): crops of
      ``search_area_factor`` × the target centred on its jittered box, scale, rotation, flip, grayscale and
      brightness augmentation, at ``processing.output_size`` — what the tracker sees (its search region around the
      target's last position). Generate the videos larger than the crops so a small target keeps detail.

    ``reuse``: each video serves this many samples (other targets, frames and crops), ``group`` consecutive samples
    (a batch) coming from ``group`` different videos; the videos are kept (rendered frames included) while they
    serve. Drawing a styled video costs more than cropping it, so this cuts the data's CPU time; every sample stays a
    pure function of (seed, index).
    """

    def __init__(self, seed, video: SyntheticConfig, processing: ProcessingConfig | None = None, num_test=3,
                 max_gap=100, reuse=1, group=1):
        if reuse > 1 and video.style is None:
            raise ConfigError("data.reuse > 1 needs data.style ('train' or 'heldout'): the original families draw "
                              "a video's noise in frame order, so a video cannot be revisited")
        self.seed, self.video, self.processing, self.num_test, self.max_gap = seed, video, processing, num_test, max_gap
        self.reuse, self.group = int(reuse), int(group)

    def video_number(self, index):
        """The video sample ``index`` draws first: in each run of ``group`` · ``reuse`` indices, ``group`` videos
        in turn."""
        block, within = divmod(int(index), self.group * self.reuse)
        return block * self.group + within % self.group

    def _draw(self, number):
        """(video, labels, {object id: visible per frame}) of generator index ``number``."""
        video = SyntheticVideo(number, self.seed, self.video)
        labels, ids = video.labels()
        counts = np.stack([np.bincount(f.ravel(), minlength=max(ids, default=0) + 1) for f in labels])
        return video, labels, {k: counts[:, k] > 20 for k in ids}

    def _video(self, number):
        """``_draw(number)``, kept for the samples that reuse it. The store is per process, not per builder: grain
        draws samples in several threads (each with its own copy of the builder), and a thread that asks for a
        video another thread is drawing waits for it."""
        if self.reuse == 1:
            return self._draw(number)
        key = (self.seed, dataclasses.astuple(self.video), number)
        with _VIDEOS_LOCK:
            kept = _VIDEOS.get(key)
            mine = kept is None
            if mine:
                kept = _VIDEOS[key] = _Kept()
                while len(_VIDEOS) > 4 * self.group:
                    _VIDEOS.popitem(last=False)
            else:
                _VIDEOS.move_to_end(key)
        if mine:
            try:
                kept.entry = self._draw(number)
            finally:
                kept.ready.set()
        kept.ready.wait()
        if kept.entry is None:
            raise RuntimeError(f"synthetic video {number} failed in another thread")
        return kept.entry

    def __call__(self, index):
        short = 0
        first = self.video_number(index) * MAX_ATTEMPTS
        for attempt in range(MAX_ATTEMPTS):
            rng = np.random.default_rng([self.seed, int(index), attempt])
            video, labels, visible = self._video(first + attempt)
            targets = [k for k in visible if usable(visible[k], 1, self.num_test)]
            if not targets:
                short += 1
                continue
            target = int(rng.choice(targets))
            idx = sample_frames(rng, visible[target], self.num_test, self.max_gap)
            if idx is None:
                short += 1
                continue
            frames = video.frames(idx)[0]             # only the sampled frames are drawn
            masks = labels[idx] == target
            if self.processing is None:
                if rng.random() < 0.5:
                    frames, masks = frames[:, :, ::-1], masks[:, :, ::-1]
                return _sample(normalize(frames), masks, short, 0)
            images, crops = process(rng, list(frames), list(masks), 1, self.processing)
            return _sample(images, crops, short, 0)
        raise DatasetError(f"no usable synthetic sample in {MAX_ATTEMPTS} draws (index {index})")


class _GlobalItem:
    """Local item ``i`` of this process -> sample of global index ``step · B + p · B/P + i mod (B/P)``."""

    def __init__(self, builder, global_batch, local_batch, process_index):
        self.builder, self.gb, self.lb, self.p = builder, global_batch, local_batch, process_index

    def __call__(self, i):
        i = int(i)
        return self.builder((i // self.lb) * self.gb + self.p * self.lb + i % self.lb)


def to_network_batch(batch):
    """Stacked samples (B, 1 + T, …) -> the training forward's layout (frames first, sequences second)."""
    images = np.swapaxes(batch["images"], 0, 1)
    masks = np.swapaxes(batch["masks"], 0, 1)
    return {"train_images": images[:1], "test_images": images[1:], "train_masks": masks[:1],
            "test_masks": masks[1:]}


class Loader:
    """Iterator over this process's share of the global batches of steps ``0 … num_steps − 1``, built by
    ``worker_count`` grain worker processes (0: in this process). ``state()`` / ``restore(state)`` save and
    resume the position."""

    def __init__(self, builder, global_batch, num_steps, worker_count=0, process_index=0, process_count=1,
                 prefetch=2):
        import grain

        if global_batch % process_count:
            raise ConfigError(f"batch_size {global_batch} is not divisible by the {process_count} processes")
        self.local_batch = global_batch // process_count
        self.worker_count = int(worker_count)
        ds = grain.MapDataset.range(int(num_steps) * self.local_batch)
        ds = ds.map(_GlobalItem(builder, global_batch, self.local_batch, process_index))
        ds = ds.batch(self.local_batch, drop_remainder=True).to_iter_dataset()
        if self.worker_count > 0:
            from absl import flags

            if not flags.FLAGS.is_parsed():       # grain's workers read absl flags
                flags.FLAGS.mark_as_parsed()
            ds = ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=self.worker_count,
                                                             per_worker_buffer_size=prefetch))
        self.dataset = ds
        self.iterator = iter(ds)

    def __next__(self):
        return next(self.iterator)

    def __iter__(self):
        return self

    def state(self):
        return {"worker_count": self.worker_count, "grain": self.iterator.get_state()}

    def restore(self, state):
        if int(state["worker_count"]) != self.worker_count:
            raise ConfigError(f"the checkpoint's data iterator was saved with worker_count={state['worker_count']}; "
                              f"resume with --config.data.worker_count={state['worker_count']}")
        self.iterator.set_state(state["grain"])
