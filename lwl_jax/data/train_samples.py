"""Training samples (SPEC §4 at CPU scale): for one target, 1 train frame and ``num_test`` later test frames.

``SyntheticTrainSource`` draws them from the built-in synthetic videos, generated at the training resolution
(no cropping needed). A batch is a pure function of (seed, step), so a resumed run sees exactly the data of an
uninterrupted one; videos where no object is visible often enough are skipped and counted.
"""
from __future__ import annotations

import numpy as np

from lwl_jax.data.synthetic import SyntheticConfig, generate
from lwl_jax.models.lwl import IMAGE_MEAN_BGR


def normalize(frames_rgb):
    return frames_rgb[..., ::-1].astype(np.float32) - IMAGE_MEAN_BGR


def sample_frames(rng, visible, num_test: int, max_gap: int):
    """Indices (train, tests...) of visible frames, tests after the train frame within ``max_gap``; None if the
    sequence is too short (needs more than 2 · (1 + num_test) visible frames, as the reference's sampler)."""
    vis = np.nonzero(visible)[0]
    if len(vis) <= 2 * (1 + num_test):
        return None
    candidates = vis[vis < vis[-1]]
    base = int(rng.choice(candidates))
    later = vis[(vis > base) & (vis <= base + max_gap)]
    if len(later) == 0:
        return None
    tests = np.sort(rng.choice(later, num_test, replace=True))
    return [base] + tests.tolist()


class SyntheticTrainSource:
    def __init__(self, seed=0, height=96, width=160, num_frames=12, num_test=3, max_gap=100, max_objects=3):
        self.seed, self.num_test, self.max_gap = seed, num_test, max_gap
        self.cfg = SyntheticConfig(height, width, num_frames, max_objects)
        self.skipped = 0

    def batch(self, step: int, batch_size: int):
        """dict of train_images (1, B, H, W, 3), test_images (T, B, H, W, 3), train_masks, test_masks."""
        items = []
        attempt = 0
        while len(items) < batch_size:
            index = (step * batch_size + len(items)) * 1009 + attempt
            rng = np.random.default_rng([self.seed, step, len(items), attempt])
            attempt += 1
            frames, labels, ids = generate(index, self.seed, self.cfg)
            if not ids:
                self.skipped += 1
                continue
            obj = int(rng.choice(ids))
            masks = labels == obj
            idx = sample_frames(rng, masks.reshape(len(masks), -1).sum(1) > 20, self.num_test, self.max_gap)
            if idx is None:
                self.skipped += 1
                continue
            if rng.random() < 0.5:                      # joint horizontal flip
                frames, masks = frames[:, :, ::-1], masks[:, :, ::-1]
            items.append((normalize(frames[idx]), masks[idx].astype(np.float32)))
        imgs = np.stack([i for i, _ in items], axis=1)      # (1 + T, B, H, W, 3)
        msks = np.stack([m for _, m in items], axis=1)
        return {"train_images": imgs[:1], "test_images": imgs[1:], "train_masks": msks[:1], "test_masks": msks[1:]}
