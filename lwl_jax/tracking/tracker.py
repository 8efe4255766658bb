"""The LWL tracker (paper §3.5, appendix C): segment every frame of a video from first-frame masks or boxes.

Each object has its own search region, target model τ and memory (the reference's 'parallel' multi-object
mode); all objects of a frame run as one batch on the device, and their scores are merged by soft aggregation.

The whole tracker state is one pytree, :class:`TrackerState`: per-object host state (search-region geometry and
memory weights, NumPy float32 like the reference, O(objects)) and :class:`~lwl_jax.tracking.steps.DeviceState`
(τ, the memory, the last frame's features and merged probabilities). A tracked frame is one device call
(``steps.track_fn``: crop → backbone → T_τ → decoder → paste-back → merge), preceded from the third frame on by
the memory/learner call of the previous frame's result (``steps.update_fn``), with no device→host transfer in
between; only the label map and each object's row and column probability sums come back.

Usage::

    tracker = LWLTracker(model, variables, configs.lwl_ytvos.get_config())
    out = tracker.initialize(frame0, {1: {"mask": mask1, "box": box1}, 2: {...}})
    for frame in frames[1:]:
        out = tracker.track(frame)               # out.labels, out.boxes, out.probs
        # objects that first appear later: tracker.track(frame, new_objects={3: {"mask": ...}})
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from lwl_jax.models.lwl import LWLNet, normalize
from lwl_jax.ops.boxes import masks_to_boxes
from lwl_jax.tracking import steps
from lwl_jax.tracking.geometry import crop_params, init_crop, paste_params, sample_location
from lwl_jax.tracking.memory import update_sample_weights
from lwl_jax.tracking.presets import lwl_ytvos

f32 = np.float32


def state_from_sums(rows, cols, min_area: float, size_factor: float = 4.0):
    """('var' rule) from a probability map's row sums (H,) and column sums (W,): centre = probability-weighted
    mean, size = size_factor · weighted std; None if the probability mass is below ``min_area``."""
    rows, cols = np.asarray(rows, np.float64), np.asarray(cols, np.float64)
    total = rows.sum()
    if total < min_area:
        return None
    ys, xs = np.arange(rows.shape[0]), np.arange(cols.shape[0])
    ey, ex = (rows * ys).sum() / total, (cols * xs).sum() / total
    eh, ew = (rows * (ys - ey) ** 2).sum() / total, (cols * (xs - ex) ** 2).sum() / total
    return np.array([ey, ex], f32), np.array([math.sqrt(eh) * size_factor, math.sqrt(ew) * size_factor], f32)


def state_from_probs(prob, min_area: float, size_factor: float = 4.0):
    """``state_from_sums`` of a whole probability map (H, W)."""
    prob = np.asarray(prob, np.float64)
    return state_from_sums(prob.sum(axis=1), prob.sum(axis=0), min_area, size_factor)


@flax.struct.dataclass
class Targets:
    """Host state of K objects, NumPy, objects on axis 0."""
    ids: np.ndarray             # (K,) int object ids
    pos: np.ndarray             # (K, 2) (y, x) float32
    target_sz: np.ndarray       # (K, 2) (h, w)
    scale: np.ndarray           # (K,) search-region scale
    base_sz: np.ndarray         # (K, 2) target size at scale 1
    prev_pos: np.ndarray        # (K, 2) centre of the last search region
    prev_scale: np.ndarray      # (K,) its scale
    frame_num: np.ndarray       # (K,) frames seen, 1 on the object's first frame
    weights: np.ndarray         # (K, M) temporal memory weights
    num_stored: np.ndarray      # (K,) samples in the memory
    prev_replace: np.ndarray    # (K,) slot written last, −1 before the first insertion
    prob_rows: np.ndarray       # (K, H) row sums of the last merged probabilities
    prob_cols: np.ndarray       # (K, W) column sums

    def state_vectors(self):
        return {int(i): np.array([p[0], p[1], s, t[0], t[1]], f32)
                for i, p, s, t in zip(self.ids, self.pos, self.scale, self.target_sz)}


@flax.struct.dataclass
class TrackerState:
    """Everything the tracker carries from frame to frame."""
    targets: Targets
    device: steps.DeviceState

    def add(self, other: "TrackerState") -> "TrackerState":
        """The objects of ``other`` appended after those of ``self`` (objects that start later)."""
        if self.targets is None:
            return other
        targets = jax.tree_util.tree_map(lambda a, b: np.concatenate([a, b]), self.targets, other.targets)
        return TrackerState(targets, self.device.concat(other.device))

    def with_merged(self, probs, rows, cols) -> "TrackerState":
        return TrackerState(self.targets.replace(prob_rows=rows, prob_cols=cols),
                            self.device.replace(prev_probs=probs))


@dataclasses.dataclass
class FrameOutput:
    labels: np.ndarray          # (H, W) uint8 object ids (0 = background)
    boxes: dict                 # id -> (x, y, w, h)
    states: dict                # id -> [pos_y, pos_x, scale, h, w] (the state used to crop this frame)
    sample_weights: dict        # id -> (M,) memory weights after this frame
    device_probs: jax.Array     # (K, H, W) aggregated probabilities, left on the device
    ids: tuple

    @property
    def probs(self) -> dict:
        """id -> (H, W) float32 aggregated probability (transferred from the device on first use)."""
        p = np.asarray(self.device_probs)
        return {i: p[j] for j, i in enumerate(self.ids)}


def with_defaults(params) -> dict:
    """The caller's settings over the ``lwl_ytvos`` preset (the only source of defaults); extra keys (the
    reference's ``debug``, ``use_gpu``, …) are kept and ignored."""
    out = dict(lwl_ytvos())
    out.update(dict(params))
    return _Settings(out)


class _Settings(dict):
    """A dict whose keys also read as attributes (``p.net_opt_iter``), like the ConfigDicts it replaces."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class LWLTracker:
    def __init__(self, model: LWLNet, variables: Mapping[str, Any], params: Any):
        self.model, self.variables = model, variables
        self.p = with_defaults(params)
        self.sample_size = tuple(int(s) for s in params.image_sample_size)
        self.state = TrackerState(None, None)
        self.last = {}   # device arrays of the last step, for pictures (crops, E, W, T_τ(x), logits)

    @property
    def border_mode(self):
        return self.p["border_mode"]

    def _crop(self, hw, pos, scale):
        return crop_params(hw, pos, f32(scale) * np.array(self.sample_size, f32), self.sample_size,
                           self.border_mode)

    # ---- first frame of objects -------------------------------------------------------------------------
    def _new_objects(self, frame, objects: Mapping[int, Mapping]):
        """State of the given objects initialised on ``frame`` and their first-frame scores (K_new, H, W)."""
        hw = frame.shape[:2]
        ids = list(objects)
        if self.p["init_with_box"]:
            boxes = np.stack([np.asarray(objects[i]["box"], f32) for i in ids])
            img = normalize(jnp.asarray(frame)[None])
            logits = steps.box_init_fn(self.model)(self.variables, img, jnp.asarray(boxes))
            scores = logits
            masks = [1.0 / (1.0 + np.exp(-lg.astype(np.float64))).astype(f32) for lg in np.asarray(logits)]
        else:
            masks = []
            for i in ids:
                m = np.asarray(objects[i]["mask"]).astype(f32)
                if m.shape != hw:
                    raise ValueError(f"mask of object {i} is {m.shape[1]}x{m.shape[0]}, the frame {hw[1]}x{hw[0]}")
                if not m.any():
                    raise ValueError(f"mask of object {i} is empty")
                masks.append(m)
            scores = jnp.asarray((np.stack(masks) - f32(0.5)) * f32(200.0))
        sample = np.array(self.sample_size, f32)
        pos, size, scale, img_crops, mask_crops = [], [], [], [], []
        for i, m in zip(ids, masks):
            box = np.asarray(objects[i]["box"], f32) if "box" in objects[i] else masks_to_boxes(m, "span").astype(f32)
            p = np.array([box[1] + (box[3] - 1) / 2, box[0] + (box[2] - 1) / 2], f32)
            # at least one pixel: a one-pixel-wide mask has w = x_max − x_min = 0, which would make the scale 0
            # (the reference then tracks NaN)
            sz = np.maximum(np.array([box[3], box[2]], f32), f32(1.0))
            search = float(np.prod(sz * f32(self.p.search_area_scale)))
            s = f32(math.sqrt(search) / math.sqrt(float(np.prod(sample))))
            pos.append(p)
            size.append(sz)
            scale.append(s)
            img_crops.append(init_crop(hw, p, s, self.sample_size, False, self.border_mode))
            mask_crops.append(init_crop(hw, p, s, self.sample_size, True, self.border_mode))
        stack = lambda cs: (jnp.asarray(np.stack([c.rows for c in cs])),  # noqa: E731
                            jnp.asarray(np.stack([c.cols for c in cs])))
        crops = steps.crop_frame(jnp.asarray(frame), *stack(img_crops))
        x = steps.features_fn(self.model)(self.variables, crops)
        mcrop = steps.crop_maps(jnp.asarray(np.stack(masks)), *stack(mask_crops))
        e, w = steps.encode_fn(self.model)(self.variables, mcrop)
        self.last = {"crops": crops, "mask_crops": mcrop, "labels": e, "weights": w}
        k = len(ids)
        tau, u = steps.init_learn_fn(self.model, int(self.p.net_opt_iter))(self.variables, x, e, w)
        size_m = int(self.p.sample_memory_size)
        mem = lambda a: jnp.zeros((size_m,) + a.shape, jnp.float32).at[0].set(a)  # noqa: E731
        weights = np.zeros((k, size_m), f32)
        weights[:, 0] = 1.0
        pos, size, scale = np.stack(pos), np.stack(size), np.array(scale, f32)
        targets = Targets(ids=np.array(ids, np.int64), pos=pos, target_sz=size, scale=scale,
                          base_sz=size / scale[:, None],
                          prev_pos=pos.copy(), prev_scale=scale.copy(), frame_num=np.ones(k, np.int64),
                          weights=weights, num_stored=np.ones(k, np.int64), prev_replace=np.full(k, -1, np.int64),
                          prob_rows=np.zeros((k, hw[0]), f32), prob_cols=np.zeros((k, hw[1]), f32))
        device = steps.DeviceState(tau, mem(x), mem(e), mem(w), mem(u), jnp.zeros_like(x), jnp.zeros_like(u),
                                   jnp.zeros((k,) + hw, jnp.float32))
        return TrackerState(targets, device), scores

    def _ids_array(self):
        return jax.device_put(np.concatenate([[0], self.state.targets.ids]).astype(np.int32))

    def _merge_new(self, scores, states) -> FrameOutput:
        """Merge ``scores`` of all objects (device, (K, H, W)) as the frame's result."""
        probs, labels, rows, cols = steps.merge(scores, self._ids_array())
        labels, rows, cols = jax.device_get((labels, rows, cols))
        self.state = self.state.with_merged(probs, rows, cols)
        return self._output(labels, probs, states)

    # ---- public API ---------------------------------------------------------------------------------------
    def initialize(self, frame: np.ndarray, objects: Mapping[int, Mapping]) -> FrameOutput:
        """Start tracking: ``objects`` maps an object id to ``{"mask": (H, W) bool}`` and/or ``{"box": (x,y,w,h)}``
        (box only with a box network and ``init_with_box``)."""
        self.state, scores = self._new_objects(np.asarray(frame), objects)
        return self._merge_new(scores, self.state.targets.state_vectors())

    def track(self, frame: np.ndarray, new_objects: Mapping[int, Mapping] | None = None) -> FrameOutput:
        frame = np.asarray(frame)
        hw = frame.shape[:2]
        t = jax.tree_util.tree_map(np.copy, self.state.targets)
        k = len(t.ids)
        t = t.replace(frame_num=t.frame_num + 1)
        # 1. memory and target-model update from the previous frame's merged probabilities (on the device)
        insert = (t.frame_num > 2) & bool(self.p["update_target_model"])
        device = self.state.device
        if insert.any():
            axes = np.stack([self._crop(hw, t.prev_pos[j], t.prev_scale[j])[0] for j in range(k)])
            slots = np.zeros(k, np.int32)
            for j in np.flatnonzero(insert):
                t.weights[j], r = update_sample_weights(
                    t.weights[j], int(t.num_stored[j]), None if t.prev_replace[j] < 0 else int(t.prev_replace[j]),
                    float(self.p.learning_rate), float(self.p["init_samples_minimum_weight"] or 0.0),
                    bool(self.p["lower_init_weight"]))
                t.prev_replace[j] = r
                t.num_stored[j] = min(t.num_stored[j] + 1, t.weights.shape[1])
                slots[j] = r
            skip = int(self.p["train_skipping"])
            learn = insert & ((t.frame_num - 1) % skip == 0)
            m = self._memory_bucket(int(t.num_stored.max()))
            update = steps.update_fn(self.model, int(self.p.net_opt_update_iter) if learn.any() else 0, m,
                                     self.sample_size)
            device = update(self.variables, device, *jax.device_put(
                (axes, slots, insert, learn, np.ascontiguousarray(t.weights[:, :m].T))))
        # 2. target state from the previous merged probabilities, scale clipping, this frame's search regions
        axes, paste = [], []
        min_area = float(self.p["min_mask_area"])
        sample = np.array(self.sample_size, f32)
        fs = np.array(device.prev_x.shape[1:3], f32)
        kf = f32(self.model.filter_size)
        for j in range(k):
            est = state_from_sums(t.prob_rows[j], t.prob_cols[j], min_area)
            if est is not None:
                t.pos[j], t.target_sz[j] = est
            new_scale = f32(math.sqrt(float(np.prod(t.target_sz[j]) / np.prod(t.base_sz[j]))))
            lo, hi = self.p["max_scale_change"] or (None, None)
            if lo is not None:
                change = new_scale / t.scale[j]
                if change < lo:
                    new_scale = t.scale[j] * f32(lo)
                elif change > hi:
                    new_scale = t.scale[j] * f32(hi)
            t.scale[j] = new_scale
            t.target_sz[j] = (t.base_sz[j] * f32(new_scale)).astype(f32)
            centre = (t.pos[j] + ((fs + kf) % 2) * t.scale[j] * sample / (2 * fs)).astype(f32)
            a, coords = self._crop(hw, centre, t.scale[j])
            axes.append(a)
            paste.append(paste_params(*sample_location(coords, self.sample_size), self.sample_size))
            t.prev_pos[j], t.prev_scale[j] = centre, t.scale[j]
        states = t.state_vectors()
        self.state = TrackerState(t, device)
        # 3. segment all objects as one batch, paste back into the frame, merge (one device call)
        step = steps.track_fn(self.model, self.sample_size)
        device, out = step(self.variables, device, *jax.device_put((frame, np.stack(axes), np.stack(paste))),
                           self._ids_array())
        self.last = {n: out[n] for n in ("crops", "encoding", "logits")}
        self.state = TrackerState(t, device)
        if new_objects:
            new, new_scores = self._new_objects(frame, new_objects)
            self.state = self.state.add(new)
            states.update(new.targets.state_vectors())
            return self._merge_new(jnp.concatenate([out["scores"], new_scores]), states)
        labels, rows, cols = jax.device_get((out["labels"], out["rows"], out["cols"]))
        self.state = self.state.with_merged(device.prev_probs, rows, cols)
        return self._output(labels, device.prev_probs, states)

    def _memory_bucket(self, n):
        size = int(self.p.sample_memory_size)
        b = 1
        while b < n:
            b *= 2
        return min(b, size)

    def _output(self, labels, probs, states) -> FrameOutput:
        t = self.state.targets
        boxes = {}
        min_area = float(self.p["min_mask_area"])
        for j, i in enumerate(t.ids):
            est = state_from_sums(t.prob_rows[j], t.prob_cols[j], min_area)
            pos, sz = est if est is not None else (t.pos[0], t.target_sz[0])
            boxes[int(i)] = np.array([pos[1] - (sz[1] - 1) / 2, pos[0] - (sz[0] - 1) / 2, sz[1], sz[0]], f32)
        return FrameOutput(labels, boxes, states, {int(i): t.weights[j].copy() for j, i in enumerate(t.ids)},
                           probs, tuple(int(i) for i in t.ids))
