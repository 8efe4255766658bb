"""One function per fixture case: run our implementation on the case's inputs, compare with its outputs.

Every shape, iteration count and constant comes from the fixture arrays and ``fixtures_index.json``.
Errors are norm-wise relative, ``max|ours − ref| / max|ref|`` (scalars: ``|ours − ref| / |ref|``), as the
fixture README measures its float32 noise.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from flax.traverse_util import flatten_dict, unflatten_dict

from lwl_jax.convert.checkpoint import infer_model_config
from lwl_jax.convert.mapping import state_dict_to_variables, variables_to_state_dict
from lwl_jax.models.learner import apply_filter
from lwl_jax.models.lwl import LWLNet, variable_shapes
from lwl_jax.ops.layout import nchw_to_nhwc, nhwc_to_nchw, tau_jax_to_torch, tau_torch_to_jax
from lwl_jax.parity.weights import make_state_dict
from lwl_jax.tracking.memory import update_sample_weights
from lwl_jax.training.loss import segmentation_loss
from lwl_jax.training.rules import stage_rules

# Tolerances suggested by the fixture README (float32 noise of the reference itself is far below these).
TOL_FORWARD = 1e-4
TOL_GRAD_LOGITS = 2e-2
TOL_GRAD = 5e-2
TOL_GRAD_NORM = 1e-2
TOL_GLOBAL_GRAD_NORM = 2e-3

TOL_LABEL_FRACTION = 1e-3     # per frame ≥ 99.9 % identical label-map pixels
TOL_PIXELS = 0.05             # boxes and tracker positions/sizes, absolute pixels
TOL_SCALE = 1e-4              # tracker target scale, relative
TOL_MEMORY_WEIGHTS = 1e-5

TRACKER_CASES = ("tracker", "tracker_boxinit")


@dataclasses.dataclass
class Row:
    case: str
    tensor: str
    error: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return bool(np.isfinite(self.error) and self.error <= self.tolerance)

    def as_json(self):
        return {"case": self.case, "tensor": self.tensor, "error": float(self.error),
                "tolerance": self.tolerance, "passed": self.passed}


def rel_error(ours, ref) -> float:
    ours = np.asarray(ours, np.float64)
    ref = np.asarray(ref, np.float64)
    if ours.shape != ref.shape:
        return float("inf")
    if ref.ndim == 0 or ref.size == 1:
        return float(abs(ours.reshape(()) - ref.reshape(())) / max(abs(ref.reshape(())), 1e-30))
    return float(np.max(np.abs(ours - ref)) / max(np.max(np.abs(ref)), 1e-30))


class Fixtures:
    """A fixture folder: its index, manifests, networks built through the checkpoint-import path."""

    def __init__(self, folder, **model_overrides):
        """``model_overrides``: LWLNet fields for every network of the cases (e.g. ``learner_strategy='vmap'``)."""
        self.folder = os.fspath(folder)
        self.model_overrides = model_overrides
        with open(os.path.join(self.folder, "fixtures_index.json")) as f:
            self.index = json.load(f)
        self.rules = self.index["_common"]["weight_rules"]
        self._nets = {}

    def cases(self):
        return [k for k, v in self.index.items() if not k.startswith("_") and
                os.path.isfile(os.path.join(self.folder, v.get("file", k + ".npz")))]

    def load(self, case):
        return dict(np.load(os.path.join(self.folder, self.index[case].get("file", case + ".npz"))))

    def meta(self, case):
        return self.index[case].get("meta", {})

    def state_dict(self, which="lwl"):
        with open(os.path.join(self.folder, f"manifest_{which}.json")) as f:
            entries = json.load(f)["entries"]
        return make_state_dict(entries, self.rules)

    def network(self, which="lwl", **overrides):
        """(model, variables): the synthetic weights fed through the same import path as a user's checkpoint."""
        overrides = {**self.model_overrides, **overrides}
        key = (which, tuple(sorted(overrides.items())))
        if key not in self._nets:
            sd = self.state_dict(which)
            _, cfg = infer_model_config(sd)
            model = LWLNet(**{**cfg, **overrides})
            target = variable_shapes(model)
            variables = state_dict_to_variables(sd, target, source=f"{self.folder}/manifest_{which}.json")
            self._nets[key] = (model, jax.tree_util.tree_map(jnp.asarray, variables))
        return self._nets[key]


@functools.lru_cache(maxsize=None)
def _method(model, name):
    return jax.jit(lambda v, *a: model.apply(v, *a, method=getattr(LWLNet, name)))


def case_backbone(fx: Fixtures, case="backbone"):
    d = fx.load(case)
    model, v = fx.network()
    feats = _method(model, "backbone")(v, nchw_to_nhwc(d["image"]))
    return [Row(case, k, rel_error(nhwc_to_nchw(np.asarray(feats[k])), d[k]), TOL_FORWARD)
            for k in ("layer1", "layer2", "layer3", "layer4") if k in d]


def case_target_features(fx: Fixtures, case="target_features"):
    d = fx.load(case)
    model, v = fx.network()
    x = _method(model, "target_features")(v, nchw_to_nhwc(d["layer3"]))
    return [Row(case, "target_features", rel_error(nhwc_to_nchw(np.asarray(x)), d["target_features"]),
                TOL_FORWARD)]


def case_label_encoder(fx: Fixtures, case="label_encoder"):
    d = fx.load(case)
    model, v = fx.network()
    e, w = _method(model, "encode_labels")(v, d["masks"])
    return [Row(case, "few_shot_label", rel_error(nhwc_to_nchw(np.asarray(e)), d["few_shot_label"]), TOL_FORWARD),
            Row(case, "sample_weight", rel_error(nhwc_to_nchw(np.asarray(w)), d["sample_weight"]), TOL_FORWARD)]


def _learn(model, v, tau, x, y, w, num_iter):
    f = jax.jit(lambda v, tau, x, y, w: model.apply(v, x, y, w, num_iter, tau, method=LWLNet.learn))
    tau, losses = f(v, tau, x, y, w)
    return tau_jax_to_torch(np.asarray(tau)), np.asarray(losses)


def case_learner(fx: Fixtures, case="learner"):
    d = fx.load(case)
    model, v = fx.network()
    # the learner's ρ comes from the case itself
    params = dict(v["params"])
    tm = dict(params["target_model"])
    tm["filter_optimizer"] = {"residual_module": {"filter_reg": jnp.asarray(d["filter_reg"])}}
    params["target_model"] = tm
    v = {**v, "params": params}
    x, y, w = (nchw_to_nhwc(d[k]) for k in ("feat", "few_shot_label", "sample_weight"))
    rows = []
    k, c, nf = d["tau_train"].shape[-1], x.shape[-1], y.shape[-1]
    # (A) training first frame: the two frames as two sequences
    xt, yt, wt = (a.swapaxes(0, 1) for a in (x, y, w))
    tau, losses = _learn(model, v, jnp.zeros((xt.shape[1], k, k, c, nf)), xt, yt, wt, int(d["train_num_iter"]))
    rows += [Row(case, "tau_train", rel_error(tau, d["tau_train"]), TOL_FORWARD),
             Row(case, "losses_train", rel_error(losses, d["losses_train"]), TOL_FORWARD)]
    # (B) inference first frame
    tau, losses = _learn(model, v, jnp.zeros((1, k, k, c, nf)), x[:1], y[:1], w[:1], int(d["init_num_iter"]))
    rows += [Row(case, "tau_init", rel_error(tau, d["tau_init"]), TOL_FORWARD),
             Row(case, "losses_init", rel_error(losses, d["losses_init"]), TOL_FORWARD)]
    # (C) tracker update over the memory, from tau_init; temporal weights by the tracker's rule
    tp = fx.meta(case).get("tracker_params", {})
    n_mem = x.shape[0]
    if "update_temporal_weights" in d and tp:
        mem = np.zeros(int(tp.get("sample_memory_size", 32)), np.float32)
        mem[0] = 1.0
        prev = None
        for i in range(1, n_mem):
            mem, prev = update_sample_weights(mem, i, prev, tp["learning_rate"],
                                              tp.get("init_samples_minimum_weight", 0.0),
                                              tp.get("lower_init_weight", False))
        rows.append(Row(case, "update_temporal_weights", rel_error(mem[:n_mem], d["update_temporal_weights"]),
                        TOL_FORWARD))
    tau, losses = _learn(model, v, jnp.asarray(tau_torch_to_jax(d["tau_init"])), x,
                         nchw_to_nhwc(d["update_few_shot_label"]), nchw_to_nhwc(d["update_sample_weight"]),
                         int(d["update_num_iter"]))
    rows += [Row(case, "tau_update", rel_error(tau, d["tau_update"]), TOL_FORWARD),
             Row(case, "losses_update", rel_error(losses, d["losses_update"]), TOL_FORWARD)]
    return rows


def case_target_model(fx: Fixtures, case="target_model"):
    d = fx.load(case)
    enc = jax.jit(apply_filter, static_argnums=2)(nchw_to_nhwc(d["feat"]), tau_torch_to_jax(d["tau"]),
                                                  fx.model_overrides.get("learner_strategy"))
    return [Row(case, "mask_encoding", rel_error(nhwc_to_nchw(np.asarray(enc)), d["mask_encoding"]), TOL_FORWARD)]


@functools.lru_cache(maxsize=None)
def _decode_fn(model, image_size):
    return jax.jit(lambda v, e, fe: model.apply(v, e, fe, image_size, method=LWLNet.decode))


def _decode(model, v, encoding, feats, image_size):
    return _decode_fn(model, image_size)(v, encoding, feats)


def case_decoder(fx: Fixtures, case="decoder"):
    d = fx.load(case)
    model, v = fx.network()
    feats = {k: nchw_to_nhwc(d[k]) for k in ("layer1", "layer2", "layer3", "layer4")}
    image_size = tuple(int(s) for s in d["image_size"])
    logits, stages = _decode(model, v, nchw_to_nhwc(d["mask_encoding"]), feats, image_size)
    rows = [Row(case, "mask_logits", rel_error(logits, d["mask_logits"]), TOL_FORWARD)]
    for name, out in stages.items():
        if name in d:
            rows.append(Row(case, name, rel_error(nhwc_to_nchw(np.asarray(out)), d[name]), TOL_FORWARD))
    return rows


def case_box_init(fx: Fixtures, case="box_init"):
    d = fx.load(case)
    model, v = fx.network("lwl_boxinit")
    image_size = tuple(int(s) for s in d["image_size"])
    x = nchw_to_nhwc(d["target_features"])
    feats = {k: nchw_to_nhwc(d[k]) for k in ("layer1", "layer2", "layer3", "layer4")}
    f = jax.jit(lambda v, b, x: model.apply(v, b, x, image_size, method=LWLNet.encode_box))
    masks, enc = f(v, d["box"].reshape(1, 4), x)
    logits, _ = _decode(model, v, enc, feats, image_size)
    return [Row(case, "box_mask", rel_error(np.asarray(masks)[:, None], d["box_mask"]), TOL_FORWARD),
            Row(case, "box_mask_encoding", rel_error(nhwc_to_nchw(np.asarray(enc))[:, None],
                                                     d["box_mask_encoding"]), TOL_FORWARD),
            Row(case, "mask_logits", rel_error(np.asarray(logits)[:, None], d["mask_logits"]), TOL_FORWARD)]


@functools.lru_cache(maxsize=None)
def train_grad_fn(model, devices: int = 1, accum_steps: int = 1):
    """The trainer's own forward + backward (``trainer.make_grad_fn``, stage 2's frozen modules), jitted over the
    first ``devices`` devices: jit(params, batch_stats, batch) -> (loss, IoU, logits, gradients (params tree))."""
    from lwl_jax.training.trainer import make_grad_fn, make_mesh

    mesh = make_mesh(jax.devices()[:devices])
    grad_fn = make_grad_fn(model, mesh, stage_rules("stage2"), accum_steps=accum_steps)

    def run(params, batch_stats, batch):
        g, loss, iou, logits = grad_fn(params, batch_stats, batch)
        flat = {k: jnp.zeros_like(v) for k, v in flatten_dict(params).items()}
        return loss, iou, logits, unflatten_dict({**flat, **g})

    return jax.jit(run)


def train_forward_rows(d, loss, iou, logits, grads, case="train_forward"):
    """Rows comparing a training forward + backward with ``train_forward.npz``."""
    dlogits = jax.jit(jax.grad(segmentation_loss))(logits, jnp.asarray(d["test_masks"]))
    grad_norm = np.sqrt(sum(np.sum(np.asarray(v, np.float64) ** 2) for v in jax.tree_util.tree_leaves(grads)))
    rows = [Row(case, "mask_predictions", rel_error(logits, d["mask_predictions"]), TOL_FORWARD),
            Row(case, "loss", rel_error(loss, d["loss"]), TOL_FORWARD),
            Row(case, "jaccard_acc", rel_error(iou, d["jaccard_acc"]), TOL_FORWARD),
            Row(case, "grad/mask_predictions", rel_error(dlogits, d["grad/mask_predictions"]), TOL_GRAD_LOGITS),
            Row(case, "global_grad_norm", rel_error(grad_norm, d["global_grad_norm"]), TOL_GLOBAL_GRAD_NORM)]
    g = variables_to_state_dict({"params": grads})
    for key in sorted(d):
        if key.startswith("grad/") and key != "grad/mask_predictions":
            name = key[len("grad/"):]
            ref = d[key]
            ours = g[name][tuple(slice(0, s) for s in ref.shape)]
            rows.append(Row(case, key, rel_error(ours, ref), TOL_GRAD))
        elif key.startswith("grad_norm/"):
            name = key[len("grad_norm/"):]
            rows.append(Row(case, key, rel_error(np.linalg.norm(g[name].astype(np.float64)), d[key]),
                            TOL_GRAD_NORM))
    return rows


def train_forward_network(fx: Fixtures, d, **overrides):
    return fx.network(optim_iter=int(d["optim_iter"]), num_refinement_iter=int(d["num_refinement_iter"]),
                      **overrides)


def train_forward_batch(d):
    return {"train_images": nchw_to_nhwc(d["train_images"]), "test_images": nchw_to_nhwc(d["test_images"]),
            "train_masks": jnp.asarray(d["train_masks"]), "test_masks": jnp.asarray(d["test_masks"])}


def case_train_forward(fx: Fixtures, case="train_forward"):
    """The trainer's own jitted forward + backward on one device against the reference's gradients."""
    d = fx.load(case)
    model, v = train_forward_network(fx, d)
    out = train_grad_fn(model)(v["params"], v["batch_stats"], train_forward_batch(d))
    return train_forward_rows(d, *out, case=case)


def run_tracker(fx: Fixtures, case: str):
    """Run our tracker on a tracker fixture's video; returns the per-frame outputs."""
    import ml_collections

    from lwl_jax.tracking.tracker import LWLTracker

    d = fx.load(case)
    params = ml_collections.ConfigDict(fx.meta(case)["params"])
    box_mode = bool(params.get("init_with_box", False))
    model, v = fx.network("lwl_boxinit" if box_mode else "lwl")
    tracker = LWLTracker(model, v, params)
    ids = [int(i) for i in d["object_ids"]]
    objects = {}
    for j, i in enumerate(ids):
        objects[i] = {"box": d["init_boxes"][j]}
        if not box_mode:
            objects[i]["mask"] = d["init_label"] == i
    outs = [tracker.initialize(d["frames"][0], objects)]
    for frame in d["frames"][1:]:
        outs.append(tracker.track(frame))
    return d, ids, outs


def case_tracker(fx: Fixtures, case="tracker"):
    """Label maps: worst per-frame fraction of differing pixels; boxes, positions and sizes: worst absolute
    difference in pixels; scale: worst relative difference; memory weights: norm-wise relative error."""
    d, ids, outs = run_tracker(fx, case)
    labels = max(float(np.mean(o.labels != ref)) for o, ref in zip(outs, d["label_maps"]))
    boxes = np.stack([np.stack([o.boxes[i] for i in ids]) for o in outs])
    states = np.stack([np.stack([o.states[i] for i in ids]) for o in outs])
    weights = np.stack([np.stack([o.sample_weights[i] for i in ids]) for o in outs])
    ref_states = d["tracker_state"]
    px = [0, 1, 3, 4]
    return [Row(case, "label_maps (fraction of pixels)", labels, TOL_LABEL_FRACTION),
            Row(case, "boxes (px)", float(np.abs(boxes - d["boxes"]).max()), TOL_PIXELS),
            Row(case, "tracker_state pos/size (px)", float(np.abs(states[..., px] - ref_states[..., px]).max()),
                TOL_PIXELS),
            Row(case, "tracker_state scale", float(np.max(np.abs(states[..., 2] / ref_states[..., 2] - 1))),
                TOL_SCALE),
            Row(case, "sample_weights", rel_error(weights, d["sample_weights"]), TOL_MEMORY_WEIGHTS)]


CASES = {
    "backbone": case_backbone,
    "target_features": case_target_features,
    "label_encoder": case_label_encoder,
    "learner": case_learner,
    "target_model": case_target_model,
    "decoder": case_decoder,
    "box_init": case_box_init,
    "train_forward": case_train_forward,
    "tracker": case_tracker,
    "tracker_boxinit": functools.partial(case_tracker, case="tracker_boxinit"),
}
