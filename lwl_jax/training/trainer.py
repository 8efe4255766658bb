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

import dataclasses
import json
import os
import signal
import time
from typing import Any, Sequence

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax.traverse_util import unflatten_dict
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from lwl_jax.errors import ConfigError
from lwl_jax.training.loss import iou_statistic, segmentation_loss
from lwl_jax.training.objective import forward, split_trained, targets
from lwl_jax.training.rules import FROZEN, param_labels


@flax.struct.dataclass
class TrainState:
    step: jnp.ndarray
    params: Any
    batch_stats: Any
    opt_state: Any


def schedules(cfg, groups):
    """{group: learning-rate schedule}: each group's rate (``cfg.lr[group]``, else ``cfg.lr.default``),
    ×``lr_gamma`` at every milestone (in epochs)."""
    steps_per_epoch = int(cfg.steps_per_epoch)
    boundaries = {int(e) * steps_per_epoch: float(cfg.lr_gamma) for e in cfg.lr_milestones}
    return {g: optax.piecewise_constant_schedule(float(cfg.lr.get(g, cfg.lr.default)), boundaries)
            for g in sorted(groups)}


def trained_groups(labels) -> set:
    """The learning-rate groups among ``param_labels``' labels."""
    return set(jax.tree_util.tree_leaves(labels)) - {FROZEN}


def make_optimizer(cfg: ml_collections.ConfigDict, params) -> optax.GradientTransformation:
    """Adam per learning-rate group (``cfg.param_rules``), each with its multi-step schedule; frozen parameters
    unchanged."""
    labels = param_labels(params, cfg.param_rules)
    transforms = {FROZEN: optax.set_to_zero(),
                  **{g: optax.adam(s) for g, s in schedules(cfg, trained_groups(labels)).items()}}
    return optax.multi_transform(transforms, labels)


def make_mesh(devices=None):
    return Mesh(np.array(devices if devices is not None else jax.devices()), ("data",))


def make_grad_fn(model, mesh, rules, loss_weight: float = 100.0, loss_kind: str = "lovasz",
                 kind: str = "segmentation", accum_steps: int = 1):
    """(params, batch_stats, batch) -> (gradients of the trained parameters (flat dict), loss, IoU statistic,
    logits (T, B, H, W)): the training step's forward and backward (traceable; the step jits it). The batch is
    sharded over 'data' along its sequence axis (1).

    ``accum_steps`` > 1 splits each device's share into that many micro-batches. The Lovász loss couples all
    pixels of the global batch, so accumulation runs in two passes: the forward of every micro-batch (no
    activations kept) gives the global loss and its gradient w.r.t. the logits, then each micro-batch is run again
    and back-propagated with its slice of that gradient. The step is therefore the same as without accumulation,
    at the memory of one micro-batch and the cost of one extra forward."""

    def local(params, batch_stats, batch):
        trained, frozen = split_trained(params, rules)
        n = batch["train_images"].shape[1]
        if n % accum_steps:
            raise ConfigError(f"per-device batch {n} is not divisible by accum_steps {accum_steps}")

        def f(trained, b):
            return forward(unflatten_dict({**frozen, **trained}), batch_stats, model, b, kind)

        def micro(b):       # (T, n, ...) -> (accum, T, n / accum, ...)
            return jax.tree_util.tree_map(
                lambda a: jnp.moveaxis(a.reshape(a.shape[:1] + (accum_steps, n // accum_steps) + a.shape[2:]),
                                       1, 0), b)

        def unmicro(a):     # (accum, T, m, ...) -> (T, n, ...)
            a = jnp.moveaxis(a, 0, 1)
            return a.reshape(a.shape[:1] + (n,) + a.shape[3:])

        if accum_steps == 1:
            logits, vjp = jax.vjp(lambda t: f(t, batch), trained)
        else:
            logits = unmicro(jax.lax.map(lambda b: f(trained, b), micro(batch)))
        labels = targets(batch, kind)
        all_logits = jax.lax.all_gather(logits, "data", axis=1, tiled=True)
        all_labels = jax.lax.all_gather(labels, "data", axis=1, tiled=True)
        loss, d_all = jax.value_and_grad(
            lambda lg: segmentation_loss(lg, all_labels, loss_weight, loss_kind))(all_logits)
        d_local = jax.lax.dynamic_slice_in_dim(d_all, jax.lax.axis_index("data") * n, n, axis=1)
        if accum_steps == 1:
            (grads,) = vjp(d_local)               # summed over devices by shard_map (replicated params)
        else:
            def body(acc, xs):
                b, d = xs
                _, vjp_m = jax.vjp(lambda t: f(t, b), trained)
                (g,) = vjp_m(d)
                return jax.tree_util.tree_map(jnp.add, acc, g), None

            zeros = jax.tree_util.tree_map(jnp.zeros_like, trained)
            grads, _ = jax.lax.scan(body, zeros, (micro(batch), micro(d_local)))
        iou = iou_statistic(all_logits, all_labels)
        return grads, jax.lax.pmean(loss, "data"), jax.lax.pmean(iou, "data"), logits

    return jax.shard_map(local, mesh=mesh, in_specs=(P(), P(), P(None, "data")),
                         out_specs=(P(), P(), P(), P(None, "data")))


def make_train_step(model, tx, mesh, rules, loss_weight: float = 100.0, loss_kind: str = "lovasz",
                    kind: str = "segmentation", accum_steps: int = 1):
    """jit(state, batch) -> (state, metrics): ``make_grad_fn``'s gradients, then the optimizer."""
    grad_fn = make_grad_fn(model, mesh, rules, loss_weight, loss_kind, kind, accum_steps)

    def step(state: TrainState, batch):
        g, loss, iou, logits = grad_fn(state.params, state.batch_stats, batch)
        preview = jax.nn.sigmoid(logits[:, 0].astype(jnp.float32))     # first sequence of the batch
        _, frozen = split_trained(state.params, rules)
        grads = unflatten_dict({**{k: jnp.zeros_like(v) for k, v in frozen.items()}, **g})
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        grad_norm = jnp.sqrt(sum(jnp.sum(v.astype(jnp.float32) ** 2) for v in g.values()))
        new = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
        return new, {"loss": loss, "iou": iou, "grad_norm": grad_norm, "preview": preview}

    return jax.jit(step, donate_argnums=(0,))


CLEAR_CACHES_ABOVE = 2 ** 30     # bytes of XLA temporaries from which compile_step drops JAX's tracing caches


def compile_step(step, state, batch):
    """The compiled ``make_train_step`` for the shapes of ``state`` and ``batch``; the memory the compiler freed is
    given back to the OS before the first step runs (lower peak RSS, ``lwl_jax/host_memory.py``). For a step whose
    XLA temporaries reach ``CLEAR_CACHES_ABOVE`` (the full network at 480×832), JAX's caches of traced and lowered
    functions are dropped first: the compiled step no longer needs them, and they held 0.13 GiB at 480×832 (other
    jitted functions are traced again when next called; small steps, as in the tests, keep them)."""
    from lwl_jax.host_memory import release_freed_memory

    compiled = step.lower(state, batch).compile()
    if getattr(compiled.memory_analysis(), "temp_size_in_bytes", 0) >= CLEAR_CACHES_ABOVE:
        jax.clear_caches()
    release_freed_memory()
    return compiled


def shard_batch(batch, mesh):
    sharding = NamedSharding(mesh, P(None, "data"))
    if jax.process_count() == 1:
        return {k: jax.device_put(v, sharding) for k, v in batch.items()}
    return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in batch.items()}


class Checkpoints:
    """orbax CheckpointManager in ``<workdir>/checkpoints``: keep K, save every N steps, restore the latest.
    Each checkpoint holds the TrainState and the data iterator's state (JSON)."""

    def __init__(self, workdir, every: int, keep: int):
        import orbax.checkpoint as ocp

        self.ocp = ocp
        self.manager = ocp.CheckpointManager(
            os.path.abspath(os.path.join(workdir, "checkpoints")),
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, save_interval_steps=every),
            item_names=("state", "data"))

    def latest(self):
        return self.manager.latest_step()

    def save(self, step, state, data_state, force=False):
        args = self.ocp.args
        return self.manager.save(step, args=args.Composite(state=args.StandardSave(state),
                                                           data=args.JsonSave(data_state)), force=force)

    def restore(self, step, abstract_state):
        """(TrainState, data iterator state)."""
        args = self.ocp.args
        out = self.manager.restore(step, args=args.Composite(state=args.StandardRestore(abstract_state),
                                                             data=args.JsonRestore()))
        return out["state"], out["data"]

    def wait(self):
        self.manager.wait_until_finished()


def initial_state(model, cfg, tx_builder):
    from lwl_jax.models.lwl import init_variables

    h, w = cfg.data.height, cfg.data.width
    variables = init_variables(model, int(cfg.seed), (h, w), cfg.get("init_scheme", "reference"))
    if cfg.get("init_checkpoint"):
        variables = load_init(variables, cfg.init_checkpoint, tuple(cfg.get("init_skip", ())))
    tx = tx_builder(variables["params"])
    state = TrainState(step=jnp.zeros((), jnp.int32), params=variables["params"],
                       batch_stats=variables["batch_stats"], opt_state=tx.init(variables["params"]))
    return state, tx


def load_init(variables, path, init_skip=()):
    """``variables`` with every array taken from a converted or PyTorch checkpoint (whole network or backbone
    only), strictly: see :func:`lwl_jax.training.merge.merge_params`. Prints what was loaded and skipped."""
    from lwl_jax.convert.checkpoint import load_converted, read_checkpoint, to_variables
    from lwl_jax.models.lwl import LWLNet
    from lwl_jax.training.merge import merge_params

    if os.path.isdir(path):
        _, _, loaded = load_converted(path)
    else:
        ck = read_checkpoint(path)
        fields = {k: v for k, v in ck.model_config.items()}
        _, loaded = to_variables(ck, LWLNet(**fields) if ck.kind != "backbone" else None)
    merged, report = merge_params(variables, loaded, init_skip, source=str(path))
    if jax.process_index() == 0:
        print("\n".join(report))
    return jax.tree_util.tree_map(jnp.asarray, merged)


def _host(tree):
    """A replicated global pytree as NumPy arrays on this host (works with several processes)."""
    return jax.tree_util.tree_map(lambda a: np.asarray(a.addressable_data(0)), tree)


@dataclasses.dataclass
class Training:
    """What one training run computes with: the network, the device mesh, the optimiser, the initial state (on the
    host) and the jitted step ``(state, batch) -> (state, metrics)``."""
    model: Any
    mesh: Mesh
    tx: optax.GradientTransformation
    state: TrainState
    step: Any


def build_training(cfg: ml_collections.ConfigDict, devices: Sequence[jax.Device] | None = None) -> Training:
    """The one wiring of model, mesh, optimiser and step from a training config (the trainer and
    ``benchmarks/train_step.py`` both use it)."""
    from lwl_jax.models.lwl import LWLNet

    model = LWLNet(**model_fields(cfg))
    mesh = make_mesh(devices)
    if cfg.batch_size % mesh.size:
        raise ConfigError(f"batch_size {cfg.batch_size} is not divisible by the {mesh.size} devices")
    state, tx = initial_state(model, cfg, lambda p: make_optimizer(cfg, p))
    step = make_train_step(model, tx, mesh, cfg.param_rules, float(cfg.loss_weight), cfg.get("loss", "lovasz"),
                           cfg.get("forward", "segmentation"), int(cfg.get("accum_steps", 1)))
    return Training(model, mesh, tx, state, step)


def train(cfg: ml_collections.ConfigDict, workdir: str, devices: Sequence[jax.Device] | None = None,
          progress: bool = True, stop_after: int | None = None) -> TrainState:
    """Run (or resume) training in ``workdir``. Returns the final TrainState. ``stop_after`` ends the run early
    after that many steps of this call (tests)."""
    from tqdm import tqdm

    from lwl_jax.convert.checkpoint import save_converted
    from lwl_jax.data.pipeline import Loader, to_network_batch
    from lwl_jax.models.lwl import LWLNet
    from lwl_jax.training.inputs import sample_builder
    from lwl_jax.training.summaries import Summaries
    from lwl_jax.training.validation import Validator

    model_fields(cfg)                    # config and data roots are checked first: a mistake fails in seconds
    builder = sample_builder(cfg)
    os.makedirs(workdir, exist_ok=True)
    run = build_training(cfg, devices)
    mesh, state = run.mesh, run.state
    total = int(cfg.num_steps)
    loader = Loader(builder, int(cfg.batch_size), total, int(cfg.data.get("worker_count", 0)),
                    jax.process_index(), jax.process_count())
    ckpt = Checkpoints(workdir, int(cfg.checkpoint_every), int(cfg.keep_checkpoints))
    if ckpt.latest() is not None:
        abstract = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), state)
        state, data_state = ckpt.restore(ckpt.latest(), abstract)
        loader.restore(data_state[str(jax.process_index())])
    step_fn = None                          # compiled at the first batch
    state = jax.device_put(state, NamedSharding(mesh, P()))
    validator = Validator.from_config(cfg, workdir) if jax.process_index() == 0 else None
    export_model = LWLNet(**model_fields(cfg, for_export=True))     # validated as evaluate.py will run it
    stop = {"flag": False}
    old = signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True)) if hasattr(signal, "SIGTERM") else None
    start = int(state.step)
    summaries = Summaries(workdir, enabled=jax.process_index() == 0)
    bar = tqdm(total=total, initial=start, unit="step", disable=not progress or jax.process_index() != 0)
    t0, skipped = time.perf_counter(), {"skipped_short": 0, "skipped_bad": 0}
    lr_schedules = schedules(cfg, trained_groups(param_labels(state.params, cfg.param_rules)))
    try:
        for step in range(start, total):
            raw = next(loader)
            for k in skipped:
                skipped[k] += int(np.sum(raw[k]))
            batch = shard_batch(to_network_batch(raw), mesh)
            if step_fn is None:
                step_fn = compile_step(run.step, state, batch)
            state, metrics = step_fn(state, batch)
            s = step + 1
            if s % int(cfg.log_every) == 0 or s == total:
                m = {k: float(v) for k, v in metrics.items() if k != "preview"}
                m.update(step=s, examples_per_s=(s - start) * cfg.batch_size / (time.perf_counter() - t0),
                         **skipped, **{f"lr/{g}": float(f(step)) for g, f in lr_schedules.items()})
                bar.set_postfix(loss=f"{m['loss']:.2f}", iou=f"{m['iou']:.3f}")
                summaries.scalars(s, m)
            if s % int(cfg.get("image_every", 100)) == 0 or s == total:
                summaries.masks(s, raw, np.asarray(metrics["preview"].addressable_data(0)))
            if validator is not None and validator.due(s, total):
                scores = validator(export_model, _host({"params": state.params, "batch_stats": state.batch_stats}))
                summaries.scalars(s, {f"val/{k}": v for k, v in scores.items()})
                bar.write(f"step {s}: validation " + "  ".join(f"{k} {v:.3f}" for k, v in scores.items()))
            bar.update(1)
            force = s == total or stop["flag"]
            if force or ckpt.manager.should_save(s):
                ckpt.save(s, state, _gather_data_state(loader.state()), force=force)
            if stop["flag"] or (stop_after is not None and s - start >= stop_after):
                break
    finally:
        ckpt.wait()
        bar.close()
        summaries.close()
        if old is not None:
            signal.signal(signal.SIGTERM, old)
    if int(state.step) >= total:            # every process takes part in the (collective) save
        export = os.path.join(workdir, "export")
        variables = _host({"params": state.params, "batch_stats": state.batch_stats})
        fields = model_fields(cfg, for_export=True)
        save_converted(export, export_kind(fields), fields, variables, extra={"trained_steps": total})
    return state


def export_kind(fields) -> str:
    """The kind an exported model is loaded as: with the box encoder B it can start from boxes."""
    return "lwl_boxinit" if fields.get("box_encoder") else "lwl"


def model_fields(cfg, for_export=False):
    """LWLNet fields of ``cfg.model`` (``dtype`` given as a name, e.g. 'bfloat16'); an export keeps float32."""
    from lwl_jax.models.lwl import TARGET_STRIDES

    fields = dict(cfg.model)
    if fields.get("target_stride", 16) not in TARGET_STRIDES:
        raise ConfigError(f"config key model.target_stride: expected {' or '.join(map(str, TARGET_STRIDES))}, "
                          f"got {fields['target_stride']!r}")
    if "dtype" in fields:
        name = fields.pop("dtype")
        if name not in ("float32", "bfloat16", "float16"):
            raise ConfigError(f"config key model.dtype: expected 'float32', 'bfloat16' or 'float16', got {name!r}")
        if not for_export:
            fields["dtype"] = jnp.dtype(name)
    if for_export:
        fields.pop("remat_backbone", None)
        fields.pop("remat_learner", None)
        fields.pop("remat_frames", None)
    return fields


def _gather_data_state(local_state):
    """{process index: iterator state} of every process (each process saves the whole dict)."""
    if jax.process_count() == 1:
        return {"0": local_state}
    from jax.experimental import multihost_utils

    blob = np.frombuffer(json.dumps(local_state).encode(), np.uint8)
    size = multihost_utils.process_allgather(np.array([blob.size]))
    padded = np.zeros(int(np.max(size)), np.uint8)
    padded[:blob.size] = blob
    every = multihost_utils.process_allgather(padded)
    return {str(i): json.loads(bytes(every[i][:int(size[i][0])]).decode()) for i in range(jax.process_count())}
