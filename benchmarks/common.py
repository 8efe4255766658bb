"""Shared helpers for the benchmarks: timing, a table on stdout, JSON on disk."""
from __future__ import annotations

import json
import os
import platform
import time

import jax
import numpy as np


def timeit(fn, *args, repeats: int = 5):
    """(first-call seconds incl. compile, median seconds of ``repeats`` further calls)."""
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    times.sort()
    return first, times[len(times) // 2]


def report(name: str, rows: list[dict], out: str | None = None):
    cols = list(dict.fromkeys(c for r in rows for c in r))      # rows may differ in their columns ("-": none)
    widths = [max(len(c), *(len(_fmt(r.get(c, "-"))) for r in rows)) for c in cols]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print("  ".join(_fmt(r.get(c, "-")).ljust(w) for c, w in zip(cols, widths)))
    out = out or os.path.join(os.path.dirname(__file__), "results", f"{name}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    meta = {"backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
            "jax": jax.__version__, "machine": platform.machine(), "cpu_count": os.cpu_count()}
    with open(out + ".tmp", "w") as f:
        json.dump({"benchmark": name, "meta": meta, "rows": rows}, f, indent=1)
    os.replace(out + ".tmp", out)
    print(f"wrote {out}")


def _fmt(v):
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def synthetic_video(n, h=480, w=854, k=4, seed=0):
    """``n`` frames (H, W, 3) uint8 of a blocky texture panning right, with ``k`` flat rectangles moving right;
    label maps (H, W) uint8 with ids 1..k."""
    rng = np.random.default_rng(seed)
    base = (rng.random((h // 8 + 1, w // 8 + 1, 3)) * 255).astype(np.uint8).repeat(8, 0).repeat(8, 1)[:h, :w]
    frames, masks = [], []
    for t in range(n):
        f = np.roll(base, 3 * t, axis=1).copy()
        lab = np.zeros((h, w), np.uint8)
        for j in range(k):
            y, x = 80 + 90 * j, 100 + 150 * j + 4 * t
            lab[y:y + 70, x:x + 110] = j + 1
            f[y:y + 70, x:x + 110] = (60 * j, 200, 255 - 50 * j)
        frames.append(f)
        masks.append(lab)
    return frames, masks


def time_tracker(model, variables, params, frames, labels, k):
    """Track objects 1..k of ``labels[0]`` through ``frames`` with a fresh ``LWLTracker``; returns the tracker and
    the seconds of each frame, timed around ``initialize`` / ``track``."""
    from lwl_jax.tracking.tracker import LWLTracker

    tracker = LWLTracker(model, variables, params)
    times = []
    t0 = time.perf_counter()
    tracker.initialize(frames[0], {j: {"mask": labels[0] == j} for j in range(1, k + 1)})
    times.append(time.perf_counter() - t0)
    for f in frames[1:]:
        t0 = time.perf_counter()
        tracker.track(f)
        times.append(time.perf_counter() - t0)
    return tracker, np.asarray(times)
