"""The tracker's sample memory weights (paper §3.5, appendix C): recent samples weigh more, the first frame keeps
a floor."""
from __future__ import annotations

import numpy as np


def update_sample_weights(weights, num_stored: int, prev_replace: int | None, learning_rate: float,
                          init_min_weight: float = 0.0, lower_init_weight: bool = False):
    """Insert one sample into a memory of ``len(weights)`` slots holding ``num_stored`` samples.

    Returns ``(new_weights, replace_index)``: the slot the new sample goes to (the next free one, else the
    smallest weight, sparing the first-frame sample when ``init_min_weight > 0``) and the renormalised weights.
    """
    w = np.array(weights, dtype=np.float64)
    capacity = w.shape[0]
    if num_stored < capacity:
        r = num_stored
    else:
        start = 1 if init_min_weight > 0 else 0
        r = start + int(np.argmin(w[start:]))
    if prev_replace is None:
        if lower_init_weight:
            w[r] = 1.0
        else:
            w = w / (1.0 - learning_rate)
            w[r] = learning_rate
    else:
        w[r] = w[prev_replace] / (1.0 - learning_rate)
    w = w / w.sum()
    if init_min_weight > 0 and w[0] < init_min_weight:
        w = w / (init_min_weight + w[1:].sum())
        w[0] = init_min_weight
    return w.astype(np.float32), r
