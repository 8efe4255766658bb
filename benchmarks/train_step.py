"""Training step: compile time, step time, examples/s and peak memory.

    python benchmarks/train_step.py                      # all cases below
    python benchmarks/train_step.py --only synthetic scaling --repeats 3

Cases (each runs in its own process, so peak memory is that case's alone):
* ``stage2``: the full network at 832×480 with stage 2's frozen modules, batch per device 1 and 2, with and without
  rematerialisation of the backbone, the learner iterations and the test frames (one at a time);
* ``synthetic``: ``configs/synthetic.py`` (small backbone, 96×160, batch 4);
* ``scaling``: the synthetic step over 1, 2, 4 and 8 devices with 2 sequences per device (weak scaling; on a
  CPU the devices are fake: ``--xla_force_host_platform_device_count=8`` shares the same cores).
Memory: ``xla_temp_GiB`` is the temporary (activation) buffer size of XLA's buffer assignment for the compiled step
(``compiled.memory_analysis()``, per device), ``peak_GiB`` the accelerator's ``peak_bytes_in_use`` where it
reports one, otherwise the process's peak RSS.
Prints a table and writes ``benchmarks/results/train_step.json``.

One case alone (JSON; ``"breakdown": true`` adds the step's parts timed alone, ``"compile_only": true`` compiles
without running and reports XLA's temporary and argument memory, e.g. for the paper's batch of 20; ``"materialize":
false`` leaves the backbone's layer outputs to XLA's fusion, ``"async_dispatch": true`` keeps JAX's asynchronous CPU
dispatch, which train.py turns off; both for comparison)::

    python benchmarks/train_step.py --case '{"name": "b20", "config": "stage2.py", "compile_only": true,
        "overrides": ["--config.batch_size=20", "--config.init_checkpoint=", "--config.validation.every=0",
                      "--config.data.worker_count=0", "--config.model.remat_backbone=True"]}'
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def run_case(case):
    import jax
    import numpy as np

    from lwl_jax.config_util import load_config
    from lwl_jax.host_memory import run_steps_inline
    from lwl_jax.training.trainer import build_training, compile_step, shard_batch

    if not case.get("async_dispatch", False):        # as train.py runs (lwl_jax/host_memory.py)
        run_steps_inline()
    if case.get("materialize") is False:          # A/B: layer outputs left to XLA's fusion (lwl_jax/ops/materialize.py)
        import lwl_jax.models.backbone as backbone
        backbone.materialize = lambda x: x
    cfg = load_config(os.path.join(ROOT, "configs", case["config"]), case.get("overrides", []))
    devices = jax.devices()[:case.get("devices", 1)]
    run = build_training(cfg, devices)
    model, mesh, tx, step = run.model, run.mesh, run.tx, run.step
    state = jax.device_put(run.state, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))
    b, h, w, t = int(cfg.batch_size), int(cfg.data.height), int(cfg.data.width), int(cfg.data.num_test_frames)
    rng = np.random.default_rng(0)
    masks = (rng.random((1 + t, b, h, w)) < 0.2).astype(np.float32)
    images = rng.normal(0, 50, (1 + t, b, h, w, 3)).astype(np.float32)
    batch = shard_batch({"train_images": images[:1], "test_images": images[1:], "train_masks": masks[:1],
                         "test_masks": masks[1:]}, mesh)
    t0 = time.perf_counter()
    compiled = compile_step(step, state, batch)       # the trainer's own: compiles, then releases freed memory
    compile_s = time.perf_counter() - t0
    analysis = compiled.memory_analysis()
    temp = getattr(analysis, "temp_size_in_bytes", float("nan")) / 2 ** 30
    args_gib = getattr(analysis, "argument_size_in_bytes", float("nan")) / 2 ** 30
    if case.get("compile_only"):
        return {"case": case["name"], "devices": len(devices), "batch": b, "compile_s": compile_s,
                "xla_temp_GiB": temp, "xla_args_GiB": args_gib, "xla_temp_per_sequence_GiB": temp / b,
                "device": devices[0].device_kind}
    step = compiled
    state, m = step(state, batch)
    jax.block_until_ready(m["loss"])
    times = []
    for _ in range(case.get("repeats", 3)):
        t0 = time.perf_counter()
        state, m = step(state, batch)
        jax.block_until_ready(m["loss"])
        times.append(time.perf_counter() - t0)
    med = sorted(times)[len(times) // 2]
    extra = {"breakdown": breakdown(model, state, tx, cfg, batch, cfg.param_rules)} \
        if case.get("breakdown") else {}
    stats = devices[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        peak, kind = stats["peak_bytes_in_use"] / 2 ** 30, "device"
    else:
        peak, kind = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, "host RSS"
    return {"case": case["name"], "devices": len(devices), "batch": b, "compile_s": compile_s, "step_s": med,
            "examples_per_s": b / med, "xla_temp_GiB": temp, "xla_args_GiB": args_gib, "peak_GiB": peak, "memory": kind,
            "device": devices[0].device_kind, **extra}


def breakdown(model, state, tx, cfg, batch, frozen_prefixes):
    """Seconds of the step's parts, each jitted and timed alone on one device (median of 3): the training forward,
    forward + backward, the optimizer update, and forward / forward + backward of the backbone (4 frames, its
    trained layers), the learner (``optim_iter`` steps on the train frame) and the decoder (3 test frames)."""
    import jax
    import jax.numpy as jnp
    import optax
    from flax.traverse_util import unflatten_dict

    from benchmarks.common import timeit
    from lwl_jax.models.learner import apply_filter
    from lwl_jax.training.objective import loss_and_grads, loss_fn, split_trained

    batch = jax.device_get(batch)
    batch = {k: jnp.asarray(v) for k, v in batch.items()}
    params, bs = state.params, state.batch_stats
    lw, lk = float(cfg.loss_weight), cfg.get("loss", "lovasz")
    out = {}
    _, out["forward_s"] = timeit(jax.jit(lambda p: loss_fn(p, bs, model, batch, lw, lk)[0]), params, repeats=3)
    fb = jax.jit(lambda p: loss_and_grads(p, bs, model, batch, frozen_prefixes, lw, lk)[2])
    _, out["forward_backward_s"] = timeit(fb, params, repeats=3)
    grads = fb(params)
    _, out["optimizer_s"] = timeit(jax.jit(lambda g, o, p: optax.apply_updates(p, tx.update(g, o, p)[0])),
                                   grads, state.opt_state, params, repeats=3)
    trained, frozen = split_trained(params, frozen_prefixes)

    def part(fn, *args):
        """fn(params, *args) -> output; (forward s, forward + backward s) w.r.t. trained params and args."""
        def f(t, *a):
            return fn(unflatten_dict({**frozen, **t}), *a)

        def fwd_bwd(t, *a):
            y, vjp = jax.vjp(f, t, *a)
            return vjp(jax.tree_util.tree_map(jnp.ones_like, y))

        return timeit(jax.jit(f), trained, *args, repeats=3)[1], timeit(jax.jit(fwd_bwd), trained, *args,
                                                                          repeats=3)[1]

    v = lambda p: {"params": p, "batch_stats": bs}  # noqa: E731
    images = jnp.concatenate([batch["train_images"], batch["test_images"]])
    feats = jax.jit(lambda p: model.apply(v(p), images, method=lambda m, i: m.backbone(i)))(params)
    x = jax.jit(lambda p: model.apply(v(p), feats["layer3"], method=lambda m, f: m.target_features(f)))(params)
    labels, weights = jax.jit(lambda p: model.apply(v(p), batch["train_masks"],
                                                    method=lambda m, a: m.encode_labels(a)))(params)
    out["backbone_forward_s"], out["backbone_forward_backward_s"] = part(
        lambda p: model.apply(v(p), images, method=lambda m, i: m.backbone(i)))
    out["learner_forward_s"], out["learner_forward_backward_s"] = part(
        lambda p, x, y, w: model.apply(v(p), x, y, w, method=lambda m, *a: m.learn(*a, m.optim_iter)[0]),
        x[:1], labels, weights)
    tau = jax.jit(lambda p: model.apply(v(p), x[:1], labels, weights,
                                        method=lambda m, *a: m.learn(*a, m.optim_iter)[0]))(params)
    enc = apply_filter(x[1:], tau)
    test_feats = {k: f[1:] for k, f in feats.items()}
    hw = images.shape[-3:-1]
    out["decoder_forward_s"], out["decoder_forward_backward_s"] = part(
        lambda p, e, f: model.apply(v(p), e, f, hw, method=lambda m, *a: m.decode(*a)[0]), enc, test_feats)
    return out


STAGE2 = ["--config.data.worker_count=0", "--config.init_checkpoint=", "--config.validation.every=0"]
REMAT = ["--config.model.remat_backbone=True", "--config.model.remat_learner=True", "--config.model.remat_frames=True"]


def cases(repeats):
    out = []
    for b in (1, 2):
        for remat in (False, True):
            out.append({"name": f"stage2 832x480 b{b}{' remat' if remat else ''}", "group": "stage2",
                        "config": "stage2.py", "repeats": repeats,
                        "overrides": STAGE2 + [f"--config.batch_size={b}"] + (REMAT if remat else [])})
    out.append({"name": "stage2 832x480 b20 remat, compile only", "group": "stage2", "config": "stage2.py",
                "compile_only": True, "overrides": STAGE2 + ["--config.batch_size=20"] + REMAT})
    out.append({"name": "synthetic 96x160 b4", "group": "synthetic", "config": "synthetic.py", "repeats": repeats,
                "overrides": ["--config.data.worker_count=0", "--config.validation.every=0"]})
    for n in (1, 2, 4, 8):
        out.append({"name": f"synthetic b{2 * n} on {n} devices", "group": "scaling", "config": "synthetic.py",
                    "devices": n, "repeats": repeats, "fake_devices": 8,
                    "overrides": ["--config.data.worker_count=0", "--config.validation.every=0",
                                  f"--config.batch_size={2 * n}"]})
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--only", nargs="*", default=["stage2", "synthetic", "scaling"])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--case", help=argparse.SUPPRESS)
    p.add_argument("--json")
    p.add_argument("--reference", action="store_true",
                   help="with the stage2 group: also run the PyTorch reference's step (../shared/refbench) at "
                        "batch 1 and 2 in the same run")
    a = p.parse_args()
    if a.case:
        print("RESULT " + json.dumps(run_case(json.loads(a.case))))
        return 0
    from lwl_jax.host_memory import with_malloc_settings

    rows = []
    for case in cases(a.repeats):
        if case["group"] not in a.only:
            continue
        env = with_malloc_settings(os.environ)          # as train.py runs (lwl_jax/host_memory.py)
        if case.get("fake_devices"):
            import jax

            if jax.default_backend() == "cpu":
                env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={case['fake_devices']}"
        res = subprocess.run([sys.executable, __file__, "--case", json.dumps(case)], capture_output=True, text=True,
                             env=env)
        line = [x for x in res.stdout.splitlines() if x.startswith("RESULT ")]
        if res.returncode != 0 or not line:
            print(f"{case['name']}: failed\n{res.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(line[0][len("RESULT "):]))
        print(f"{case['name']}: {rows[-1].get('step_s', float('nan')):.3f} s/step, "
              f"XLA temp {rows[-1]['xla_temp_GiB']:.2f} GiB", file=sys.stderr)
    if a.reference and "stage2" in a.only:
        from benchmarks.vs_reference import reference_run

        for b in (1, 2):
            ref = reference_run(["train", "--hw", "480x832", "--batch", str(b), "--steps", str(a.repeats),
                                 "--warmup", "2"])
            step = ref["step_ms"]["median"] / 1000
            rows.append({"case": f"reference (refbench, torch CPU) 832x480 b{b}", "devices": 1, "batch": b,
                         "step_s": step, "examples_per_s": b / step, "peak_GiB": ref["peak_rss_mb"] / 1024,
                         "memory": "host RSS"})
            print(f"{rows[-1]['case']}: {step:.3f} s/step", file=sys.stderr)
    from benchmarks.common import report

    report("train_step", rows, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
