"""Segment whole videos with the tracker: objects start on their first annotated frame, results are written
as palette PNGs (temporary file + rename), finished sequences are marked so an interrupted run resumes."""
from __future__ import annotations

import json
import os
import time

import numpy as np

from lwl_jax.data.davis import DatasetError, Video, check_same_size, write_index_png
from lwl_jax.errors import writing
from lwl_jax.tracking.tracker import LWLTracker

DONE = ".done"


def load_tracking_model(checkpoint, params):
    """(model, variables) for the tracker; a box-initialising config needs a network with the box encoder B."""
    from lwl_jax.convert import CheckpointError
    from lwl_jax.convert.checkpoint import load_model

    kind, model, variables = load_model(checkpoint)
    if params.get("init_with_box", False) and kind != "lwl_boxinit":
        raise CheckpointError(f"{checkpoint}: a {kind} network has no box encoder, so it cannot start from boxes "
                              f"(give a mask, or a box-init checkpoint such as lwl_boxinit.pth)")
    return model, variables


def sequence_done(out_dir, seq: Video) -> bool:
    """True when an earlier run finished this sequence (its marker is written after the last PNG)."""
    return os.path.isfile(os.path.join(out_dir, seq.name, DONE))


def objects_in(labels):
    """Object ids of a label map (0 = background, 255 = void)."""
    return [int(i) for i in np.unique(labels) if i not in (0, 255)]


def segment_sequence(model, variables, params, seq: Video, out_dir=None, write_frames=None, progress=None):
    """Run the tracker over ``seq``. Returns (label maps list, boxes per frame, seconds).

    ``write_frames``: indices of frames to write (default all). Objects of an annotation that were not seen
    before start on that frame; an empty first annotation is an error."""
    tracker = LWLTracker(model, variables, params)
    seq_dir = None
    if out_dir is not None:
        seq_dir = os.path.join(out_dir, seq.name)
        with writing(seq_dir):
            os.makedirs(seq_dir, exist_ok=True)
        for stale in os.listdir(seq_dir):  # temporary files of an interrupted earlier run
            if ".tmp" in stale:
                os.remove(os.path.join(seq_dir, stale))
    names = seq.frame_names()
    started: set = set()
    labels_out, boxes_out = [], []
    t0 = time.perf_counter()
    first_hw = None
    for i in range(len(seq.frames)):
        frame = seq.load_frame(i)
        first_hw = first_hw or frame.shape[:2]
        check_same_size(seq.frames[i], frame.shape[:2], first_hw)
        new = {}
        if i in seq.annotations:
            ann = seq.load_annotation(i, frame.shape[:2])
            ids = [k for k in objects_in(ann) if k not in started]
            if i == 0 and not ids:
                raise DatasetError(f"{seq.annotations[i]}: empty first-frame mask (no object to track)")
            new = {k: {"mask": ann == k} for k in ids}
        if not started:
            if not new:
                labels_out.append(np.zeros(frame.shape[:2], np.uint8))
                boxes_out.append({})
                _write(seq_dir, names[i], labels_out[-1], write_frames, i)
                continue
            out = tracker.initialize(frame, new)
        else:
            out = tracker.track(frame, new or None)
        started.update(new)
        labels_out.append(out.labels)
        boxes_out.append({k: [float(v) for v in b] for k, b in out.boxes.items()})
        _write(seq_dir, names[i], out.labels, write_frames, i)
        if progress is not None:
            progress.update(1)
    seconds = time.perf_counter() - t0
    if seq_dir is not None:
        tmp = os.path.join(seq_dir, DONE + ".tmp")
        with writing(tmp):
            with open(tmp, "w") as f:
                json.dump({"frames": len(seq.frames), "seconds": seconds}, f)
            os.replace(tmp, os.path.join(seq_dir, DONE))
    return labels_out, boxes_out, seconds


def _write(seq_dir, name, labels, write_frames, i):
    if seq_dir is not None and (write_frames is None or i in write_frames):
        write_index_png(os.path.join(seq_dir, name + ".png"), labels)
