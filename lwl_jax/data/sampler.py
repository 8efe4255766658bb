"""The reference's frame sampler (paper §3.6, appendix D): for one target, 1 train frame and ``num_test`` test frames.

* A sequence is usable when the target is visible in more than ``2 · (num_train + num_test)`` frames.
* The train (base) frame is a visible frame drawn uniformly from ``num_train − 1 … len − num_test``.
* The test frames are visible frames drawn with replacement from ``base + 1 … base + max_gap + extra``; when no
  visible frame lies there, ``extra`` grows by 5 and the base is drawn again.
* All frames are returned sorted in time: ``[train, test_1, …, test_n]``.
"""
from __future__ import annotations

import numpy as np


def sample_visible(rng, visible, num, lo, hi):
    """``num`` indices drawn with replacement among visible frames in [lo, hi) (clipped), or None."""
    lo, hi = max(lo, 0), min(hi, len(visible))
    ids = np.nonzero(visible[lo:hi])[0] + lo if hi > lo else np.zeros(0, int)
    if len(ids) == 0:
        return None
    return rng.choice(ids, num, replace=True).tolist()


def usable(visible, num_train=1, num_test=3) -> bool:
    return int(np.sum(visible)) > 2 * (num_train + num_test)


def sample_frames(rng, visible, num_test=3, max_gap=100, max_attempts=1000):
    """[train, tests…] (sorted) for a visibility vector, or None when the sequence is too short."""
    visible = np.asarray(visible, bool)
    if not usable(visible, 1, num_test):
        return None
    extra = 0
    for _ in range(max_attempts):
        base = sample_visible(rng, visible, 1, 0, len(visible) - num_test + 1)
        if base is None:
            return None
        tests = sample_visible(rng, visible, num_test, base[0] + 1, base[0] + max_gap + extra + 1)
        if tests is None:
            extra += 5
            continue
        return base + sorted(tests)
    return None
