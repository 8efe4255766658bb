"""lwl_jax against the PyTorch reference, side by side in one run on this machine.

    python benchmarks/vs_reference.py tracker [--objects 1 3] [--frames 40] [--json FILE]
    python benchmarks/vs_reference.py train [--hw 480x832] [--batch 1] [--steps 4] [--json FILE]

The reference (visionml/pytracking with torch, CPU) is run through ``../shared/refbench/refbench.py`` with the
Python of its environment (``$LWL_REF_PYTHON``, default ``~/.cache/lwl-reference/refenv/bin/python``, made by
``../shared/refbench/setup.sh``); lwl_jax runs in this process with the same fixture weights (seed 0, rebuilt from
``tests/fixtures`` through the checkpoint-import path).

tracker: one synthetic 480×854 video per object count (DAVIS layout in a temporary folder), the reference's
``lwl_ytvos`` settings for both. Each frame is timed around ``initialize`` / ``track`` with the images already in
memory. Reported: the first frame, the median per object-frame over frames 32.. (memory full, 32 samples), the mean
over frames 1–29, and the ratio reference / lwl_jax of each.

train: the stage-2 training step (1 train + 3 test frames per sequence, forward + backward + Adam, stage 2's
frozen modules) — the reference's ``LWLActor`` step through refbench (its own synthetic scenes, 2 warm-up steps),
lwl_jax's through ``benchmarks/train_step.py`` in its own process (random images and masks, one warm-up step
after compilation). Reported: median step time and peak RSS of each process, the ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from benchmarks.common import report, synthetic_video, time_tracker  # noqa: E402

REFBENCH = os.path.join(os.path.dirname(ROOT), "shared", "refbench", "refbench.py")
REF_PY = os.environ.get("LWL_REF_PYTHON", os.path.expanduser("~/.cache/lwl-reference/refenv/bin/python"))


def reference_run(args: list[str], env: dict | None = None) -> dict:
    """The reference's benchmark (``refbench.py ARGS``) in its own Python (``env``: its environment, default
    this process's); its JSON result."""
    if not os.path.isfile(REF_PY):
        sys.exit(f"error: {REF_PY}: the reference's Python is missing (run ../shared/refbench/setup.sh, "
                 "or set LWL_REF_PYTHON)")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "ref.json")
        subprocess.run([REF_PY, REFBENCH, *args, "--json", out], check=True, env=env)
        with open(out) as f:
            return json.load(f)


def _summary(frame_s: list[float], k: int) -> dict:
    s = np.asarray(frame_s)
    return {"first_frame_s": float(s[0]),
            "full_memory_per_object_s": float(np.median(s[32:]) / k) if len(s) > 33 else float("nan"),
            "mean_frames_1_29_s": float(np.mean(s[1:30]))}


def _ours_tracker(frames, labels, k):
    from configs import lwl_ytvos
    from lwl_jax.parity.cases import Fixtures

    model, variables = Fixtures(os.path.join(ROOT, "tests", "fixtures")).network()
    return list(time_tracker(model, variables, lwl_ytvos.get_config(), frames, labels, k)[1])


def tracker(a):
    from lwl_jax.data.davis import write_davis_split, write_davis_video

    rows = []
    with tempfile.TemporaryDirectory() as root:
        videos = {}
        for k in a.objects:
            frames, labels = synthetic_video(a.frames, k=k)
            jpg = write_davis_video(root, f"bench{k}", frames, labels)
            # the JPEGs the reference reads, decoded once (image reading is not timed on either side)
            videos[k] = ([np.asarray(Image.open(os.path.join(jpg, f"{t:05d}.jpg")).convert("RGB"))
                          for t in range(a.frames)], labels)
        write_davis_split(root, "val", [f"bench{k}" for k in a.objects])
        for k in a.objects:
            ref = reference_run(["tracker", "--seq-root", root, "--seq", f"bench{k}"])
            ref_s = _summary(ref["frame_s"], k)
            cold = _ours_tracker(*videos[k], k)         # compiles (first video of this size)
            ours = _ours_tracker(*videos[k], k)         # a second video of the same size
            ours_s = _summary(ours, k)
            row = {"objects": k}
            for key in ref_s:
                row[f"ref_{key}"] = ref_s[key]
                row[f"ours_{key}"] = ours_s[key]
                row[f"ratio_{key}"] = ref_s[key] / ours_s[key]
            row["ours_first_5_frames_cold_s"] = float(sum(cold[:5]))
            row["ours_first_5_frames_warm_s"] = float(sum(ours[:5]))
            rows.append(row)
            print(row, flush=True)
    print(f"reference (refbench, torch CPU) vs lwl_jax, {a.frames}-frame 480x854 synthetic videos, lwl_ytvos; "
          "ratio = reference / lwl_jax (> 1: lwl_jax faster)")
    report("vs_reference_tracker", rows, a.json)


def _ours_train_step(a, malloc: str) -> dict:
    """lwl_jax's stage-2 step (benchmarks/train_step.py's case) in its own process, with the allocator train.py
    uses (``malloc="tcmalloc"``, lwl_jax/host_memory.py) or its glibc settings (``"glibc"``)."""
    from benchmarks.train_step import STAGE2
    from lwl_jax.host_memory import with_malloc_settings

    h, w = (int(v) for v in a.hw.split("x"))
    case = {"name": f"stage2 {a.hw} b{a.batch}", "config": "stage2.py", "repeats": a.steps,
            "overrides": STAGE2 + [f"--config.batch_size={a.batch}", f"--config.data.height={h}",
                                   f"--config.data.width={w}"] + list(a.override)}
    res = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "train_step.py"), "--case",
                          json.dumps(case)], capture_output=True, text=True,
                         env=with_malloc_settings({**os.environ, "LWL_JAX_MALLOC": malloc}))
    line = [x for x in res.stdout.splitlines() if x.startswith("RESULT ")]
    if res.returncode != 0 or not line:
        sys.exit(f"lwl_jax's step failed:\n{res.stderr[-3000:]}")
    return json.loads(line[0][len("RESULT "):])


def train(a):
    """Rows: the reference as its users run it (glibc's malloc) and with tcmalloc preloaded; lwl_jax as train.py
    runs it (tcmalloc where the system has it) and with its glibc settings. Ratios against the reference's
    default run; the other rows say how much of a difference the allocator alone makes."""
    from lwl_jax.host_memory import find_tcmalloc

    args = ["train", "--hw", a.hw, "--batch", str(a.batch), "--steps", str(a.steps), "--warmup", "2"]
    runs = [("reference", "glibc", lambda: reference_run(args))]
    tcmalloc = find_tcmalloc()
    if tcmalloc:
        runs.append(("reference", "tcmalloc", lambda: reference_run(args, {**os.environ, "LD_PRELOAD": tcmalloc})))
        runs.append(("lwl_jax", "tcmalloc", lambda: _ours_train_step(a, "tcmalloc")))
    runs.append(("lwl_jax", "glibc", lambda: _ours_train_step(a, "glibc")))
    rows = []
    for who, malloc, fn in runs:
        r = fn()
        if who == "reference":
            row = {"who": who, "malloc": malloc, "step_s": r["step_ms"]["median"] / 1000,
                   "forward_s": r["forward_ms"]["median"] / 1000, "backward_s": r["backward_ms"]["median"] / 1000,
                   "peak_rss_GiB": r["peak_rss_mb"] / 1024}
        else:
            row = {"who": who, "malloc": malloc, "step_s": r["step_s"], "peak_rss_GiB": r["peak_GiB"],
                   "xla_temp_GiB": r["xla_temp_GiB"], "compile_s": r["compile_s"]}
        rows.append({"hw": a.hw, "batch": a.batch, **row})
        print(rows[-1], flush=True)
    base = rows[0]
    for row in rows:
        row["ref_over_this_step"] = base["step_s"] / row["step_s"]
        row["rss_this_over_ref"] = row["peak_rss_GiB"] / base["peak_rss_GiB"]
    print(f"reference (refbench LWLActor, torch CPU) vs lwl_jax (benchmarks/train_step.py), stage-2 step at "
          f"{a.hw}, batch {a.batch}, median of {a.steps} steps; ref_over_this_step = the reference's default step "
          "time / this row's (> 1: faster than the reference as its users run it)")
    report("vs_reference_train", rows, a.json)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tracker")
    t.add_argument("--objects", type=int, nargs="+", default=[1, 3])
    t.add_argument("--frames", type=int, default=40)
    t.add_argument("--json")
    t = sub.add_parser("train")
    t.add_argument("--hw", default="480x832")
    t.add_argument("--batch", type=int, default=1)
    t.add_argument("--steps", type=int, default=6)
    t.add_argument("--override", nargs="*", default=[], help="extra --config.key=value for lwl_jax")
    t.add_argument("--json")
    a = p.parse_args()
    {"tracker": tracker, "train": train}[a.cmd](a)


if __name__ == "__main__":
    main()
