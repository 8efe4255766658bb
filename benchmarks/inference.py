"""Tracker speed at the paper's crop size (480×832) on this machine, for 1, 2 and 4 objects.

    python benchmarks/inference.py [--objects 1 2 4] [--frames 40] [--json FILE]

Weights: the fixture weights of ``tests/fixtures`` (seed 0, the ones ``benchmarks/vs_reference.py`` gives the
reference); speed does not depend on their values. Per object count:

* end to end on a synthetic 480×854 video, each frame timed around ``initialize`` / ``track``: the video is run
  twice; the first run compiles (``compile_s`` = its first frames minus the same frames of the second run), the
  second is a second video of the same size. From the second run: the first frame (20 learner iterations), the
  mean over frames 1–29, and the median per object-frame over frames 32.. (memory full: 32 samples);
* the tracker's device calls, timed alone with the memory full, with XLA's FLOP count of each
  (``compiled.cost_analysis()``; XLA counts a loop body once, so the learner's further iterations are added:
  2 products of 2·M·h·w·C·k²·D FLOP each per iteration), achieved GFLOP/s, and two yardsticks: the nominal peak
  (cores × base clock × 32 FLOP/cycle: two 256-bit FMA pipes per core, AVX-512 on Zen 4 runs on 256-bit datapaths;
  boost clocks exceed it) and the GFLOP/s of a 4096² float32 matrix product measured in the same run.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import lwl_jax  # noqa: E402,F401  (sets XLA:CPU flags before JAX starts)
from benchmarks.common import report, synthetic_video, time_tracker, timeit  # noqa: E402
from configs import lwl_ytvos  # noqa: E402
from lwl_jax.models.learner import apply_filter  # noqa: E402
from lwl_jax.parity.cases import Fixtures  # noqa: E402
from lwl_jax.tracking import steps  # noqa: E402


def peak_gflops() -> float:
    mhz = max(float(line.split(":")[1]) for line in open("/proc/cpuinfo") if line.startswith("cpu MHz"))
    return os.cpu_count() * mhz * 1e-3 * 32


def gemm_gflops() -> float:
    a = jnp.ones((4096, 4096), jnp.float32)
    _, sec = timeit(jax.jit(jnp.dot), a, a, repeats=3)
    return 2 * 4096 ** 3 / sec / 1e9


def components(model, v, tracker, params, k, frame):
    """(name, seconds, GFLOP) of the tracker's device work with the memory full, timed one by one."""
    sample = tuple(params.image_sample_size)
    hw = frame.shape[:2]
    st = tracker.state.device
    axes = jnp.asarray(np.stack([tracker._crop(hw, tracker.state.targets.pos[j], tracker.state.targets.scale[j])[0]
                                 for j in range(k)]))
    paste = jnp.tile(jnp.asarray([[0.0, hw[0], sample[0] / hw[0]], [0.0, hw[1], sample[1] / hw[1]]]), (k, 1, 1))
    frame_d = jnp.asarray(frame)
    apply = lambda f: lambda *a: model.apply(v, *a, method=lambda m, *b: f(m, *b))  # noqa: E731

    def crop(frame, axes):
        return steps.crop_frame(frame, steps.axis_maps(axes[:, 0], sample[0], hw[0], False),
                                steps.axis_maps(axes[:, 1], sample[1], hw[1], False))

    crops = jax.jit(crop)(frame_d, axes)
    feats_fn = jax.jit(apply(lambda m, c: m.backbone(c)))
    feats = feats_fn(crops)
    x = jax.jit(apply(lambda m, f: m.target_features(f)))(feats["layer3"])

    def decoder(m, tau, x, feats):
        return m.decode(apply_filter(x[None], tau)[0], feats, sample)[0]

    logits = jax.jit(apply(decoder))(st.tau, x, feats)

    def paste_merge(logits, paste, ids):
        prow, rmask = steps.paste_axis_maps(paste[:, 0], sample[0], hw[0])
        pcol, cmask = steps.paste_axis_maps(paste[:, 1], sample[1], hw[1])
        return steps.merge_outputs(steps.paste_scores(logits, prow, pcol, rmask, cmask), ids)

    ids = jnp.arange(k + 1, dtype=jnp.int32)
    m = int(params.sample_memory_size)
    upd = steps.update_fn(model, int(params.net_opt_update_iter), m, sample)
    upd_args = (jnp.asarray(axes.reshape(k, 2, 5)), jnp.zeros(k, jnp.int32), jnp.ones(k, bool), jnp.ones(k, bool),
                jnp.full((m, k), 1.0 / m))
    cases = [("crop (device-built maps)", jax.jit(crop), (frame_d, axes)),
             ("backbone F to layer4", feats_fn, (crops,)),
             ("target features x", jax.jit(apply(lambda m, f: m.target_features(f))), (feats["layer3"],)),
             ("T_tau + decoder D", jax.jit(apply(decoder)), (st.tau, x, feats)),
             ("paste + merge", jax.jit(paste_merge), (logits, paste, ids)),
             ("update: E,W of the mask + memory + 3 learner steps over 32", None, None)]
    rows = []
    for name, fn, args in cases:
        if fn is None:
            state = jax.tree_util.tree_map(jnp.copy, st)
            flops = upd.lower(v, state, *upd_args).compile().cost_analysis()["flops"]
            _, _, h, w, c = st.mem_x.shape
            kk, d = st.tau.shape[1], st.tau.shape[-1]
            flops += (int(params.net_opt_update_iter) - 1) * 2 * (2 * m * k * h * w * c * kk * kk * d)
            times = []
            for _ in range(4):
                state = jax.tree_util.tree_map(jnp.copy, st)
                jax.block_until_ready(state)
                t0 = time.perf_counter()
                jax.block_until_ready(upd(v, state, *upd_args))
                times.append(time.perf_counter() - t0)
            sec = float(np.median(times[1:]))
        else:
            flops = fn.lower(*args).compile().cost_analysis()["flops"]
            _, sec = timeit(fn, *args, repeats=3)
        rows.append((name, sec, flops / 1e9))
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--objects", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--json")
    a = p.parse_args()
    model, variables = Fixtures(os.path.join(ROOT, "tests", "fixtures")).network()
    params = lwl_ytvos.get_config()
    peak, gemm = peak_gflops(), gemm_gflops()
    rows, comp_rows = [], []
    for k in a.objects:
        frames, labels = synthetic_video(a.frames, k=k)
        _, cold = time_tracker(model, variables, params, frames[:20], labels, k)
        tracker, warm = time_tracker(model, variables, params, frames, labels, k)
        row = {"objects": k, "first_frame_s": float(warm[0]),
               "mean_frames_1_29_s": float(np.mean(warm[1:30])),
               "full_memory_s_per_object_frame": float(np.median(warm[32:]) / k) if a.frames > 33 else float("nan"),
               "compile_s": float(np.sum(cold) - np.sum(warm[:20]))}
        row["fps_full_memory"] = 1.0 / (row["full_memory_s_per_object_frame"] * k)
        comps = components(model, variables, tracker, params, k, frames[-1])
        for name, sec, gflop in comps:
            comp_rows.append({"objects": k, "component": name, "s_per_object": sec / k, "gflop_per_object": gflop / k,
                              "gflop_s": gflop / sec, "share_of_nominal_peak": gflop / sec / peak,
                              "share_of_gemm": gflop / sec / gemm})
        row["sum_of_components_s_per_object"] = float(sum(c[1] for c in comps) / k)
        rows.append(row)
        print(row, flush=True)
    print(f"tracker at 480x832 crops, {a.frames}-frame 480x854 synthetic video, backend {jax.default_backend()}, "
          f"nominal peak {peak:.0f} GFLOP/s ({os.cpu_count()} cores), 4096^2 matrix product {gemm:.0f} GFLOP/s")
    report("inference", rows, a.json)
    report("inference_components", comp_rows, a.json and a.json.replace(".json", "_components.json"))


if __name__ == "__main__":
    main()
