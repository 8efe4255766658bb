"""Periodic validation during training: the tracker (the real inference path) on held-out videos, scored with
the DAVIS J and F measures per object over the frames after the object's first annotation.

``cfg.validation``: ``every`` (steps; 0 = never), ``kind`` ('synthetic': held-out built-in videos generated with
``seed`` into ``<workdir>/validation_data``, or with ``styles`` (e.g. ``("train", "heldout")``) one split per
generator style into ``<workdir>/validation_data/<style>``, logged as ``val/<style>/J&F``; 'youtubevos': the
held-out ``jjvalid`` videos of the YouTube-VOS 2019 train folder, the paper's validation split, or with
``source='tfds'`` the ``jjvalid`` split of the prepared ``youtube_vos_2019`` in ``tfds_dir``; 'davis': a DAVIS
split), ``num_sequences``, ``tracker`` (a tracker config file) and ``tracker_overrides`` (e.g.
``("--config.image_sample_size=(96, 160)",)``).
"""
from __future__ import annotations

import os

import numpy as np

from lwl_jax import metrics
from lwl_jax.data.davis import DatasetError, Video, davis_sequences
from lwl_jax.errors import ConfigError


def _youtubevos_sequences(root, split, limit):
    """The first ``limit`` videos of a YouTube-VOS ``train`` split, with every annotated frame given."""
    from lwl_jax.data.vos_train import youtubevos_train

    by_video = {}
    for s in youtubevos_train(root, split, key="validation.root", split_key="validation.split"):
        by_video.setdefault(s.video, s)
    out = []
    for vid, s in list(by_video.items())[:limit]:
        anns = {i: a for i, a in enumerate(s.annotations) if os.path.isfile(a)}
        out.append(Video(vid, s.frames, anns))
    return out


def score_sequence(seq: Video, predicted):
    """Mean J and F per object over the frames after its first annotated frame -> [(J, F)] per object."""
    gt = {i: seq.load_annotation(i, predicted[i].shape) for i in seq.annotations}
    first = {}
    for i in sorted(gt):
        for k in np.unique(gt[i]):
            if 0 < k < 255:
                first.setdefault(int(k), i)
    out = []
    for k, f0 in sorted(first.items()):
        frames = [i for i in sorted(gt) if i > f0]
        if not frames:
            continue
        void = [gt[i] == 255 for i in frames]
        g = np.stack([gt[i] == k for i in frames])
        r = np.stack([predicted[i] == k for i in frames])
        v = np.stack(void)
        j = metrics.jaccard(g, r, v)
        f = metrics.boundary_f(g, r, v)
        out.append((float(np.mean(j)), float(np.mean(f))))
    return out


class Validator:
    """``splits``: {name: sequences}; the name '' is the one split of a config without ``styles``."""

    def __init__(self, splits, params, every):
        self.splits, self.params, self.every = splits, params, int(every)

    @classmethod
    def from_config(cls, cfg, workdir):
        v = cfg.get("validation")
        if v is None or int(v.get("every", 0)) <= 0:
            return None
        from lwl_jax.config_util import load_config

        params = load_config(v.get("tracker", "lwl_ytvos"), list(v.get("tracker_overrides", ())))
        n = int(v.num_sequences)
        if v.kind == "synthetic":
            import dataclasses

            from lwl_jax.data.synthetic import write_davis
            from lwl_jax.training.inputs import synthetic_video_config

            video = dataclasses.replace(synthetic_video_config(cfg.data),
                                        num_frames=int(v.get("num_frames", cfg.data.num_frames)))
            splits = {}
            for style in v.get("styles", None) or (None,):
                root = os.path.join(workdir, "validation_data", *([style] if style else []))
                if not os.path.isfile(os.path.join(root, "ImageSets", "2017", "val.txt")):
                    write_davis(root, n, int(v.seed), dataclasses.replace(video, style=style or video.style))
                splits[style or ""] = davis_sequences(root, "val")
            if not all(splits.values()):
                raise DatasetError("validation: no sequences (synthetic)")
            return cls(splits, params, v.every)
        elif v.kind == "youtubevos" and v.get("source", "folders") == "tfds":
            from lwl_jax.data.tfds.reader import Source, eval_sequences

            source = Source("youtube_vos_2019", v.get("split", "jjvalid"), v.get("tfds_dir", "~/tensorflow_datasets"))
            seqs = eval_sequences(source, source.index["videos"][:n])
        elif v.kind == "youtubevos":
            seqs = _youtubevos_sequences(v.root, v.get("split", "jjvalid"), n)
        elif v.kind == "davis":
            seqs = davis_sequences(v.root, v.get("split", "val"))[:n]
        else:
            raise ConfigError(f"unknown config validation.kind {v.kind!r}")
        if not seqs:
            raise DatasetError(f"validation: no sequences ({v.kind})")
        return cls({"": seqs}, params, v.every)

    def due(self, step, total):
        return step % self.every == 0 or step == total

    def __call__(self, model, variables):
        """{'J&F', 'J', 'F'} per split, keyed '<split>/J&F' for a named split."""
        from lwl_jax.tracking.video import segment_sequence

        out = {}
        for name, sequences in self.splits.items():
            per_object = []
            for seq in sequences:
                labels, _, _ = segment_sequence(model, variables, self.params, seq)
                per_object += score_sequence(seq, labels)
            j = float(np.mean([a for a, _ in per_object]))
            f = float(np.mean([b for _, b in per_object]))
            prefix = f"{name}/" if name else ""
            out.update({f"{prefix}J&F": (j + f) / 2, f"{prefix}J": j, f"{prefix}F": f})
        return out
