"""Shared helpers for the benchmarks: timing, a table on stdout, JSON on disk."""
from __future__ import annotations

import json
import os
import platform
import time

import jax


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
    cols = list(rows[0])
    widths = [max(len(c), *(len(_fmt(r[c])) for r in rows)) for c in cols]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print("  ".join(_fmt(r[c]).ljust(w) for c, w in zip(cols, widths)))
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
