"""The generic trainer: optax Adam with per-module learning rates and step schedules, frozen modules, data
parallelism with pmap semantics (``jax.shard_map`` over a ``('data',)`` mesh inside ``jax.jit``), orbax
checkpoints with automatic resume, progress bar and metric log.

Data parallelism: each device runs the training forward on its slice of the global batch (sequences, axis 1).
The Lovász loss of the reference is taken over *all* pixels of the global batch, so the logits are gathered,
the loss and its gradient w.r.t. the logits are computed on the full batch, each device back-propagates its own
slice, and shard_map's replication rule sums the parameter gradients over devices (no extra pmean). One device
and N devices with the same global batch therefore compute the same step.
"""
from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.traverse_util import flatten_dict, unflatten_dict
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from lwl_jax.training.frozen import FROZEN_PREFIXES
from lwl_jax.training.loss import iou_statistic, segmentation_loss
from lwl_jax.training.objective import forward, split_trained

# parameter groups of the reference's optimiser (SPEC §4)
GROUPS = (("target_model/filter_optimizer", "filter_optimizer"),
          ("target_model/feature_extractor", "target_features"),
          ("feature_extractor", "backbone"),
          ("decoder", "decoder"),
          ("label_encoder", "label_encoder"),
          ("box_label_encoder", "box_encoder"))


@flax.struct.dataclass
class TrainState:
    step: jnp.ndarray
    params: Any
    batch_stats: Any
    opt_state: Any


def param_labels(params, frozen_prefixes):
    flat = flatten_dict(params)
    out = {}
    for path in flat:
        joined = "/".join(path)
        if any(joined == p or joined.startswith(p + "/") for p in frozen_prefixes):
            out[path] = "frozen"
            continue
        out[path] = next(g for prefix, g in GROUPS if joined.startswith(prefix))
    return unflatten_dict(out)


def make_optimizer(cfg, params):
    """Adam per module group, each with a multi-step schedule (boundaries in epochs), frozen groups unchanged."""
    frozen = FROZEN_PREFIXES[cfg.stage]
    steps_per_epoch = int(cfg.steps_per_epoch)
    boundaries = {int(e) * steps_per_epoch: float(cfg.lr_gamma) for e in cfg.lr_milestones}
    transforms = {"frozen": optax.set_to_zero()}
    for _, group in GROUPS:
        lr = float(cfg.lr.get(group, cfg.lr.default))
        transforms[group] = optax.adam(optax.piecewise_constant_schedule(lr, boundaries))
    return optax.multi_transform(transforms, param_labels(params, frozen))


def make_mesh(devices=None):
    return Mesh(np.array(devices if devices is not None else jax.devices()), ("data",))


def make_train_step(model, tx, mesh, frozen_prefixes, loss_weight: float = 100.0):
    """jit(state, batch) -> (state, metrics); the batch is sharded over 'data' along its sequence axis (1)."""

    def local(params, batch_stats, batch):
        trained, frozen = split_trained(params, frozen_prefixes)

        def f(trained):
            return forward(unflatten_dict({**frozen, **trained}), batch_stats, model, batch)

        logits, vjp = jax.vjp(f, trained)
        all_logits = jax.lax.all_gather(logits, "data", axis=1, tiled=True)
        all_masks = jax.lax.all_gather(batch["test_masks"], "data", axis=1, tiled=True)
        loss, d_all = jax.value_and_grad(lambda lg: segmentation_loss(lg, all_masks, loss_weight))(all_logits)
        n = logits.shape[1]
        d_local = jax.lax.dynamic_slice_in_dim(d_all, jax.lax.axis_index("data") * n, n, axis=1)
        (grads,) = vjp(d_local)                   # summed over devices by shard_map (replicated params)
        iou = iou_statistic(all_logits, all_masks)
        return grads, jax.lax.pmean(loss, "data"), jax.lax.pmean(iou, "data")

    sharded = jax.shard_map(local, mesh=mesh, in_specs=(P(), P(), P(None, "data")), out_specs=(P(), P(), P()))

    def step(state: TrainState, batch):
        g, loss, iou = sharded(state.params, state.batch_stats, batch)
        _, frozen = split_trained(state.params, frozen_prefixes)
        grads = unflatten_dict({**{k: jnp.zeros_like(v) for k, v in frozen.items()}, **g})
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        grad_norm = jnp.sqrt(sum(jnp.sum(v ** 2) for v in g.values()))
        new = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
        return new, {"loss": loss, "iou": iou, "grad_norm": grad_norm}

    return jax.jit(step, donate_argnums=(0,))


def shard_batch(batch, mesh):
    sharding = NamedSharding(mesh, P(None, "data"))
    if jax.process_count() == 1:
        return {k: jax.device_put(v, sharding) for k, v in batch.items()}
    return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in batch.items()}


class Checkpoints:
    """orbax CheckpointManager in ``<workdir>/checkpoints``: keep K, save every N steps, restore the latest."""

    def __init__(self, workdir, every: int, keep: int):
        import orbax.checkpoint as ocp

        self.ocp = ocp
        self.manager = ocp.CheckpointManager(
            os.path.abspath(os.path.join(workdir, "checkpoints")),
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, save_interval_steps=every))

    def latest(self):
        return self.manager.latest_step()

    def save(self, step, state, force=False):
        self.manager.save(step, args=self.ocp.args.StandardSave(state), force=force)

    def restore(self, step, abstract_state):
        return self.manager.restore(step, args=self.ocp.args.StandardRestore(abstract_state))

    def wait(self):
        self.manager.wait_until_finished()


def initial_state(model, cfg, tx_builder):
    from lwl_jax.models.lwl import init_variables

    h, w = cfg.data.height, cfg.data.width
    variables = init_variables(model, int(cfg.seed), (h, w), cfg.get("init_scheme", "reference"))
    if cfg.get("init_checkpoint"):
        variables = load_init(variables, cfg.init_checkpoint)
    tx = tx_builder(variables["params"])
    state = TrainState(step=jnp.zeros((), jnp.int32), params=variables["params"],
                       batch_stats=variables["batch_stats"], opt_state=tx.init(variables["params"]))
    return state, tx


def load_init(variables, path):
    """Overwrite variables with those of a converted or PyTorch checkpoint (whole network or backbone only)."""
    from lwl_jax.convert.checkpoint import load_converted, read_checkpoint, to_variables
    from lwl_jax.models.lwl import LWLNet

    if os.path.isdir(path):
        _, _, loaded = load_converted(path)
    else:
        ck = read_checkpoint(path)
        fields = {k: v for k, v in ck.model_config.items()}
        _, loaded = to_variables(ck, LWLNet(**fields) if ck.kind != "backbone" else None)
    out = {}
    for col, tree in variables.items():
        flat = flatten_dict(tree)
        flat.update({k: jnp.asarray(v) for k, v in flatten_dict(loaded.get(col, {})).items() if k in flat})
        out[col] = unflatten_dict(flat)
    return out


def train(cfg, workdir, source=None, devices=None, progress=True, stop_after=None):
    """Run (or resume) training in ``workdir``. Returns the final TrainState. ``stop_after`` ends the run early
    after that many steps of this call (tests)."""
    from tqdm import tqdm

    from lwl_jax.convert.checkpoint import save_converted
    from lwl_jax.data.train_samples import SyntheticTrainSource
    from lwl_jax.models.lwl import LWLNet

    os.makedirs(workdir, exist_ok=True)
    model = LWLNet(**cfg.model)
    mesh = make_mesh(devices)
    if cfg.batch_size % mesh.size:
        raise ValueError(f"batch_size {cfg.batch_size} is not divisible by the {mesh.size} devices")
    state, tx = initial_state(model, cfg, lambda p: make_optimizer(cfg, p))
    ckpt = Checkpoints(workdir, int(cfg.checkpoint_every), int(cfg.keep_checkpoints))
    if ckpt.latest() is not None:
        abstract = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), state)
        state = ckpt.restore(ckpt.latest(), abstract)
    source = source or SyntheticTrainSource(cfg.data.seed, cfg.data.height, cfg.data.width, cfg.data.num_frames,
                                            cfg.data.num_test_frames)
    step_fn = make_train_step(model, tx, mesh, FROZEN_PREFIXES[cfg.stage], float(cfg.loss_weight))
    replicated = NamedSharding(mesh, P())
    state = jax.device_put(state, replicated)
    stop = {"flag": False}
    old = signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True)) \
        if jax.process_index() == 0 and hasattr(signal, "SIGTERM") else None
    start = int(state.step)
    total = int(cfg.num_steps)
    log_path = os.path.join(workdir, "metrics.jsonl")
    bar = tqdm(total=total, initial=start, unit="step", disable=not progress or jax.process_index() != 0)
    t0 = time.perf_counter()
    try:
        for step in range(start, total):
            batch = shard_batch(source.batch(step, int(cfg.batch_size)), mesh)
            state, metrics = step_fn(state, batch)
            s = step + 1
            if s % int(cfg.log_every) == 0 or s == total:
                m = {k: float(v) for k, v in metrics.items()}
                m.update(step=s, examples_per_s=(s - start) * cfg.batch_size / (time.perf_counter() - t0),
                         skipped_samples=getattr(source, "skipped", 0))
                bar.set_postfix(loss=f"{m['loss']:.2f}", iou=f"{m['iou']:.3f}")
                if jax.process_index() == 0:
                    with open(log_path, "a") as f:
                        f.write(json.dumps(m) + "\n")
            bar.update(1)
            ckpt.save(s, state, force=s == total or stop["flag"])
            if stop["flag"] or (stop_after is not None and s - start >= stop_after):
                break
    finally:
        ckpt.wait()
        bar.close()
        if old is not None:
            signal.signal(signal.SIGTERM, old)
    if int(state.step) >= total and jax.process_index() == 0:
        export = os.path.join(workdir, "export")
        variables = {"params": jax.device_get(state.params), "batch_stats": jax.device_get(state.batch_stats)}
        save_converted(export, "lwl", dict(cfg.model), variables, extra={"trained_steps": total})
    return state
