"""CPU cost of the quickstart's training samples (``configs/synthetic.py``: styled 192×320 videos, 96×160 crops):
the trainer's sample builder called for indices 0, 1, 2, … in one thread (as a grain worker draws them), for
``data.reuse`` 1 (every sample a new video) and 4 (the quickstart's).

    python benchmarks/synthetic_data.py [--samples 96] [--json FILE]

The network step at the same batch is ``python benchmarks/train_step.py --only synthetic``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.common import report  # noqa: E402
from lwl_jax.config_util import load_config  # noqa: E402
from lwl_jax.training.inputs import sample_builder  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--samples", type=int, default=96)
    p.add_argument("--json")
    a = p.parse_args()
    rows = []
    for reuse in (1, 4):
        cfg = load_config(os.path.join(ROOT, "configs", "synthetic.py"), [f"--config.data.reuse={reuse}"])
        builder = sample_builder(cfg)
        t0, c0 = time.perf_counter(), time.process_time()
        skipped = sum(int(builder(i)["skipped_short"]) for i in range(a.samples))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        rows.append({"reuse": reuse, "samples": a.samples, "ms_per_sample": 1e3 * wall / a.samples,
                     "cpu_ms_per_sample": 1e3 * cpu / a.samples, "videos_skipped": skipped})
    report("synthetic_data", rows, a.json)


if __name__ == "__main__":
    main()
