"""Tracker speed at the paper's crop size (480×832) on this machine, for 1, 2 and 4 objects.

    python benchmarks/inference.py [--objects 1 2 4] [--frames 12] [--json FILE]

Weights are the reference initialisation (speed does not depend on their values). Reports, per object count:
end-to-end seconds per frame and FPS over a synthetic 480×854 video (after the first frames, which compile),
the first-call compile time, and per-frame components measured separately with the memory full (32 samples):
crop, backbone + target features, target model + decoder, learner update (3 iterations, incl. label encoding
of the new mask), paste-back + merge.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.common import report, synthetic_video, timeit  # noqa: E402
from configs import lwl_ytvos  # noqa: E402
from lwl_jax.models.lwl import LWLNet, init_variables  # noqa: E402
from lwl_jax.tracking import steps  # noqa: E402
from lwl_jax.tracking.tracker import LWLTracker  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--objects", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--json")
    a = p.parse_args()
    model = LWLNet()
    variables = init_variables(model, 0)
    params = lwl_ytvos.get_config()
    frames, masks = synthetic_video(a.frames, k=max(a.objects))
    rows = []
    for k in a.objects:
        tracker = LWLTracker(model, variables, params)
        t0 = time.perf_counter()
        tracker.initialize(frames[0], {j: {"mask": masks[0] == j} for j in range(1, k + 1)})
        times = []
        for f in frames[1:]:
            t1 = time.perf_counter()
            tracker.track(f)
            times.append(time.perf_counter() - t1)
        first_calls = time.perf_counter() - t0 - sum(times[3:])
        steady = float(np.mean(times[3:])) if len(times) > 3 else float("nan")
        # components with the memory full
        hw = frames[0].shape[:2]
        crops_geo = [np.zeros((k, 480, hw[0]), np.float32), np.zeros((k, 832, hw[1]), np.float32)]
        crops_geo[0][:, np.arange(480), np.arange(480) % hw[0]] = 1
        crops_geo[1][:, np.arange(832), np.arange(832) % hw[1]] = 1
        rows_d, cols_d = jnp.asarray(crops_geo[0]), jnp.asarray(crops_geo[1])
        frame = jnp.asarray(frames[1])
        _, crop_t = timeit(steps.crop_frame, frame, rows_d, cols_d)
        crops = steps.crop_frame(frame, rows_d, cols_d)
        _, feat_t = timeit(steps.features_fn(model), variables, crops)
        _, pred_t = timeit(steps.predict_fn(model), variables, tracker.tau, crops)
        m = int(params.sample_memory_size)
        x = jnp.zeros((m, k, 30, 52, 512)) + 0.01
        e = jnp.ones((m, k, 30, 52, 16))
        tw = jnp.full((m, k), 1.0 / m)
        learn = steps.learn_fn(model, int(params.net_opt_update_iter))
        _, learn_t = timeit(learn, variables, tracker.tau, x, e, e, tw, repeats=3)
        _, enc_t = timeit(steps.encode_fn(model), variables, jnp.zeros((k, 480, 832)))
        logits = jnp.zeros((k, 480, 832))
        prow = jnp.zeros((k, hw[0], 480))
        pcol = jnp.zeros((k, hw[1], 832))
        rm, cm = jnp.ones((k, hw[0]), bool), jnp.ones((k, hw[1]), bool)
        _, paste_t = timeit(lambda *z: steps.soft_aggregate(steps.paste_scores(*z))[0], logits, prow, pcol, rm, cm)
        rows.append({"objects": k, "s_per_frame": steady, "fps": 1.0 / steady, "first_calls_s": first_calls,
                     "crop_s": crop_t, "backbone_s": feat_t, "target_model_decoder_s": max(pred_t - feat_t, 0.0),
                     "learner_update_full_memory_s": learn_t + enc_t, "paste_merge_s": paste_t,
                     "memory_fill_at_end": min(a.frames - 1, m)})
        print(rows[-1], flush=True)
    print(f"tracker at 480x832 crops, backend {jax.default_backend()}, {a.frames} frames of 480x854")
    report("inference", rows, a.json)


if __name__ == "__main__":
    main()
