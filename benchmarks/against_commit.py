"""Speed of another checkout of lwl_jax (e.g. a previous commit) against this one, each case in a fresh process.

    git worktree add /tmp/old 853d668
    python benchmarks/against_commit.py --other /tmp/old [--repeats 2] [--json FILE]

Cases: ``learner_update`` — 3 steepest-descent steps over a full memory (32 samples of 30×52×512, one object,
first residual included), median of 5 calls; ``first_calls`` — a fresh ``LWLTracker`` on a 10-frame 480×854
synthetic video, one object, reference-initialised weights: initialisation plus the first 3 tracked frames, all
compilation included. Each case runs ``--repeats`` times per checkout, alternating.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CASE = r"""
import json, sys, time
root, case = sys.argv[1], sys.argv[2]
sys.path.insert(0, sys.argv[3]); from common import synthetic_video; sys.path.pop(0)
sys.path.insert(0, root)
import lwl_jax, jax, jax.numpy as jnp
assert lwl_jax.__file__.startswith(root), lwl_jax.__file__
if case == "learner_update":
    from lwl_jax.models.learner import steepest_descent
    x = jax.random.normal(jax.random.PRNGKey(0), (32, 1, 30, 52, 512)) * 0.05
    e = jax.random.normal(jax.random.PRNGKey(1), (32, 1, 30, 52, 16))
    f = jax.jit(lambda t, x, e, w: steepest_descent(t, x, e, w, jnp.array([0.1]), 3)[0])
    args = (jnp.zeros((1, 3, 3, 512, 16)) + 0.01, x, e, jnp.abs(e))
    jax.block_until_ready(f(*args))
    ts = []
    for _ in range(5):
        t0 = time.perf_counter(); jax.block_until_ready(f(*args)); ts.append(time.perf_counter() - t0)
    print("RESULT", sorted(ts)[2])
else:
    from configs import lwl_ytvos
    from lwl_jax.models.lwl import LWLNet, init_variables
    from lwl_jax.tracking.tracker import LWLTracker
    model = LWLNet(); v = init_variables(model, 0)
    frames, masks = synthetic_video(10, k=1)
    tr = LWLTracker(model, v, lwl_ytvos.get_config())
    t0 = time.perf_counter()
    tr.initialize(frames[0], {1: {"mask": masks[0] == 1}})
    for f in frames[1:4]:
        tr.track(f)
    print("RESULT", time.perf_counter() - t0)
"""


def run(root, case):
    res = subprocess.run([sys.executable, "-c", CASE, os.path.abspath(root), case,
                          os.path.join(ROOT, "benchmarks")], capture_output=True, text=True, cwd=root)
    line = [x for x in res.stdout.splitlines() if x.startswith("RESULT")]
    if res.returncode or not line:
        sys.exit(f"{root} {case} failed:\n{res.stderr[-2000:]}")
    return float(line[0].split()[1])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--other", required=True, help="the other checkout (its lwl_jax/ is imported)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--json")
    a = p.parse_args()
    sys.path.insert(0, ROOT)
    from benchmarks.common import report

    rows = []
    for case in ("learner_update", "first_calls"):
        this, other = [], []
        for _ in range(a.repeats):
            other.append(run(a.other, case))
            this.append(run(ROOT, case))
        rows.append({"case": case, "other_s": min(other), "this_s": min(this),
                     "other_over_this": min(other) / min(this),
                     "all_other_s": json.dumps([round(t, 3) for t in other]),
                     "all_this_s": json.dumps([round(t, 3) for t in this])})
        print(rows[-1], flush=True)
    print(f"this checkout ({ROOT}) against {a.other}; seconds, best of {a.repeats} fresh processes each")
    report("against_commit", rows, a.json)


if __name__ == "__main__":
    main()
