"""What a training run shows: ``<workdir>/metrics.jsonl`` (one JSON line per logged step) and TensorBoard event
files in ``<workdir>/tensorboard`` (scalars; every ``image_every`` steps, the first sequence's test frames, ground
truth and predicted foreground probability side by side)."""
from __future__ import annotations

import json
import os

import numpy as np


def _summary_writer_class():
    """tensorboardX's SummaryWriter, imported without PyTorch: tensorboardX imports torch when it can, only to
    accept torch tensors; with torch installed that costs every training process ~1.5 s and ~0.3 GiB of memory."""
    import sys

    if "tensorboardX.writer" in sys.modules or "torch" in sys.modules:
        from tensorboardX import SummaryWriter

        return SummaryWriter
    sys.modules["torch"] = None         # makes `import torch` raise ImportError, which tensorboardX handles
    try:
        from tensorboardX import SummaryWriter
    finally:
        del sys.modules["torch"]
    return SummaryWriter


class Summaries:
    def __init__(self, workdir, enabled=True):
        self.enabled = enabled
        self.path = os.path.join(workdir, "metrics.jsonl")
        self.writer = None
        if enabled:
            SummaryWriter = _summary_writer_class()
            self.writer = SummaryWriter(os.path.join(workdir, "tensorboard"), flush_secs=30)

    def scalars(self, step, values):
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps({"step": int(step), **{k: float(v) for k, v in values.items() if k != "step"}})
                    + "\n")
        for k, v in values.items():
            if k != "step":
                self.writer.add_scalar(k, float(v), int(step))

    def masks(self, step, raw_batch, probs):
        """raw_batch: the loader's batch (images (B, 1 + T, H, W, 3) BGR minus mean, masks); probs (T', H, W) of
        sequence 0 (T' = T test frames, or 1 train frame for box-init training)."""
        if not self.enabled:
            return
        from lwl_jax.models.lwl import denormalize

        n = probs.shape[0]
        frames = np.clip(denormalize(raw_batch["images"][0, -n:]), 0, 255) / 255.0
        gt = raw_batch["masks"][0, -n:]
        rows = [np.concatenate([f, np.repeat(g[..., None], 3, -1), np.repeat(p[..., None], 3, -1)], axis=1)
                for f, g, p in zip(frames, gt, np.asarray(probs))]
        self.writer.add_image("frames_gt_prediction", np.concatenate(rows, axis=0), int(step), dataformats="HWC")

    def close(self):
        if self.writer is not None:
            self.writer.close()
