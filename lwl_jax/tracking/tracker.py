"""The LWL tracker (SPEC §5): segment every frame of a video from first-frame masks or boxes.

Each object has its own search region, target model τ and memory (the reference's 'parallel' multi-object
mode); all objects of a frame run as one batch on the device, and their scores are merged by soft aggregation.
Host side (NumPy, float32 like the reference): search-region geometry, box estimates, memory weights.
Device side (``steps``): crops, backbone, T_τ, decoder, paste-back, merging, label encoding, the learner.

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
from typing import Mapping

import jax.numpy as jnp
import numpy as np

from lwl_jax.models.lwl import IMAGE_MEAN_BGR
from lwl_jax.tracking import steps
from lwl_jax.tracking.geometry import init_crop, paste_maps, sample_location, sample_patch
from lwl_jax.tracking.memory import update_sample_weights

f32 = np.float32


def mask_to_box(mask) -> np.ndarray:
    """(x, y, w, h) of a binary mask with w = x_max − x_min, h = y_max − y_min (as the VOS datasets do)."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        raise ValueError("empty mask")
    return np.array([xs.min(), ys.min(), xs.max() - xs.min(), ys.max() - ys.min()], f32)


def state_from_probs(prob, min_area: float, size_factor: float = 4.0):
    """('var' rule) centre = probability-weighted mean, size = size_factor · weighted std; None if the
    probability mass is below ``min_area``."""
    prob = np.asarray(prob, np.float64)
    total = prob.sum()
    if total < min_area:
        return None
    rows, cols = prob.sum(axis=1), prob.sum(axis=0)
    ys, xs = np.arange(prob.shape[0]), np.arange(prob.shape[1])
    ey, ex = (rows * ys).sum() / total, (cols * xs).sum() / total
    eh, ew = (rows * (ys - ey) ** 2).sum() / total, (cols * (xs - ex) ** 2).sum() / total
    return np.array([ey, ex], f32), np.array([math.sqrt(eh) * size_factor, math.sqrt(ew) * size_factor], f32)


@dataclasses.dataclass
class ObjectState:
    obj_id: int
    pos: np.ndarray             # (y, x) float32
    target_sz: np.ndarray       # (h, w)
    target_scale: float
    base_target_sz: np.ndarray
    frame_num: int = 1
    prev_pos: np.ndarray | None = None
    prev_scale: float | None = None
    weights: np.ndarray | None = None   # temporal memory weights (M,)
    num_stored: int = 1
    prev_replace: int | None = None

    def state_vector(self):
        return np.array([self.pos[0], self.pos[1], self.target_scale, self.target_sz[0], self.target_sz[1]], f32)


@dataclasses.dataclass
class FrameOutput:
    labels: np.ndarray          # (H, W) uint8 object ids (0 = background)
    probs: dict                 # id -> (H, W) float32 aggregated probability
    boxes: dict                 # id -> (x, y, w, h)
    states: dict                # id -> [pos_y, pos_x, scale, h, w] (the state used to crop this frame)
    sample_weights: dict        # id -> (M,) memory weights after this frame


class LWLTracker:
    def __init__(self, model, variables, params):
        self.model, self.variables = model, variables
        self.p = params
        self.sample_size = tuple(int(s) for s in params.image_sample_size)
        self.objects: list[ObjectState] = []
        self.tau = None
        self.prev_x = None
        self.mem_x = self.mem_e = self.mem_w = None
        self.prev_probs = None
        self.feature_sz = None
        self.last = {}   # device arrays of the last step, for pictures (crops, E, W, T_τ(x), logits)

    # ---- helpers -----------------------------------------------------------------------------------------
    def _ids(self):
        return [o.obj_id for o in self.objects]

    def _stack_crops(self, crops):
        return (jnp.asarray(np.stack([c.rows for c in crops])), jnp.asarray(np.stack([c.cols for c in crops])))

    def _centered_pos(self, o):
        fs = self.feature_sz
        k = f32(self.model.filter_size)
        return o.pos + ((fs + k) % 2) * f32(o.target_scale) * np.array(self.sample_size, f32) / (2 * fs)

    # ---- first frame of an object -----------------------------------------------------------------------
    def _new_objects(self, frame, objects: Mapping[int, Mapping]):
        """Initialise the given objects on ``frame``; returns their first-frame scores (K_new, H, W)."""
        hw = frame.shape[:2]
        ids = list(objects)
        scores = []
        masks = []
        box_mode = bool(self.p.get("init_with_box", False))
        if box_mode:
            boxes = np.stack([np.asarray(objects[i]["box"], f32) for i in ids])
            img = jnp.asarray(frame)[None, ..., ::-1].astype(jnp.float32) - IMAGE_MEAN_BGR
            logits = np.asarray(steps.box_init_fn(self.model)(self.variables, img, jnp.asarray(boxes)))
            for j in range(len(ids)):
                scores.append(logits[j])
                masks.append(1.0 / (1.0 + np.exp(-logits[j].astype(np.float64))).astype(f32))
        else:
            for i in ids:
                m = np.asarray(objects[i]["mask"]).astype(f32)
                if m.shape != hw:
                    raise ValueError(f"mask of object {i} is {m.shape[1]}x{m.shape[0]}, the frame {hw[1]}x{hw[0]}")
                if not m.any():
                    raise ValueError(f"mask of object {i} is empty")
                masks.append(m)
                scores.append((m - f32(0.5)) * f32(200.0))
        new_states, img_crops, mask_crops = [], [], []
        sample = np.array(self.sample_size, f32)
        for i, m in zip(ids, masks):
            box = np.asarray(objects[i]["box"], f32) if "box" in objects[i] else mask_to_box(m > 0.5)
            pos = np.array([box[1] + (box[3] - 1) / 2, box[0] + (box[2] - 1) / 2], f32)
            # at least one pixel: a one-pixel-wide mask has w = x_max − x_min = 0, which would make the scale 0
            # (the reference then tracks NaN)
            target_sz = np.maximum(np.array([box[3], box[2]], f32), f32(1.0))
            search = float(np.prod(target_sz * f32(self.p.search_area_scale)))
            scale = f32(math.sqrt(search) / math.sqrt(float(np.prod(sample))))
            st = ObjectState(i, pos, target_sz, float(scale), target_sz / scale)
            new_states.append(st)
            mode = self.p.get("border_mode", "replicate")
            img_crops.append(init_crop(hw, pos, scale, self.sample_size, False, mode))
            mask_crops.append(init_crop(hw, pos, scale, self.sample_size, True, mode))
        rows, cols = self._stack_crops(img_crops)
        crops = steps.crop_frame(jnp.asarray(frame), rows, cols)
        x = steps.features_fn(self.model)(self.variables, crops)
        self.feature_sz = np.array(x.shape[1:3], f32)
        mrows, mcols = self._stack_crops(mask_crops)
        mcrop = steps.crop_maps(jnp.asarray(np.stack(masks)), mrows, mcols)
        e, w = steps.encode_fn(self.model)(self.variables, mcrop)
        self.last = {"crops": crops, "mask_crops": mcrop, "labels": e, "weights": w}
        k_new = len(ids)
        tau0 = steps.zeros_tau(self.model, k_new, x.shape[-1])
        tau = steps.learn_fn(self.model, int(self.p.net_opt_iter))(
            self.variables, tau0, x[None], e[None], w[None], jnp.ones((1, k_new), jnp.float32))
        size = int(self.p.sample_memory_size)
        for st in new_states:
            st.weights = np.zeros(size, f32)
            st.weights[0] = 1.0
        mem_x = jnp.zeros((size,) + x.shape, jnp.float32).at[0].set(x)
        mem_e = jnp.zeros((size,) + e.shape, jnp.float32).at[0].set(e)
        mem_w = jnp.zeros((size,) + w.shape, jnp.float32).at[0].set(w)
        if self.objects:
            self.tau = jnp.concatenate([self.tau, tau])
            self.prev_x = jnp.concatenate([self.prev_x, jnp.zeros_like(x)])
            self.mem_x = jnp.concatenate([self.mem_x, mem_x], axis=1)
            self.mem_e = jnp.concatenate([self.mem_e, mem_e], axis=1)
            self.mem_w = jnp.concatenate([self.mem_w, mem_w], axis=1)
        else:
            self.tau, self.prev_x, self.mem_x, self.mem_e, self.mem_w = tau, jnp.zeros_like(x), mem_x, mem_e, mem_w
        self.objects.extend(new_states)
        return np.stack(scores)

    # ---- public API ---------------------------------------------------------------------------------------
    def initialize(self, frame, objects: Mapping[int, Mapping]) -> FrameOutput:
        """Start tracking: ``objects`` maps an object id to ``{"mask": (H, W) bool}`` and/or ``{"box": (x,y,w,h)}``
        (box only with a box network and ``init_with_box``)."""
        self.objects, self.tau = [], None
        frame = np.asarray(frame)
        scores = self._new_objects(frame, objects)
        return self._merge(scores, {o.obj_id: o.state_vector() for o in self.objects})

    def track(self, frame, new_objects: Mapping[int, Mapping] | None = None) -> FrameOutput:
        frame = np.asarray(frame)
        hw = frame.shape[:2]
        k = len(self.objects)
        sample = np.array(self.sample_size, f32)
        for o in self.objects:
            o.frame_num += 1
        # 1. memory and target-model update from the previous frame's merged probabilities
        do_mem = np.array([o.frame_num > 2 and self.p.get("update_target_model", True) for o in self.objects])
        if do_mem.any():
            crops = [sample_patch(hw, o.prev_pos if o.prev_pos is not None else o.pos,
                                  f32(o.prev_scale or o.target_scale) * sample, self.sample_size,
                                  self.p.get("border_mode", "replicate"), True) for o in self.objects]
            rows, cols = self._stack_crops(crops)
            mcrop = steps.crop_maps(jnp.asarray(self.prev_probs), rows, cols)
            e, w = steps.encode_fn(self.model)(self.variables, mcrop)
            slots = np.zeros(k, np.int32)
            for j, o in enumerate(self.objects):
                if do_mem[j]:
                    o.weights, r = update_sample_weights(
                        o.weights, o.num_stored, o.prev_replace, float(self.p.learning_rate),
                        float(self.p.get("init_samples_minimum_weight", 0.0) or 0.0),
                        bool(self.p.get("lower_init_weight", False)))
                    o.prev_replace = r
                    o.num_stored = min(o.num_stored + 1, len(o.weights))
                    slots[j] = r
            slots_d, do_d = jnp.asarray(slots), jnp.asarray(do_mem)
            self.mem_x = steps.memory_insert(self.mem_x, slots_d, self.prev_x, do_d)
            self.mem_e = steps.memory_insert(self.mem_e, slots_d, e, do_d)
            self.mem_w = steps.memory_insert(self.mem_w, slots_d, w, do_d)
            skip = int(self.p.get("train_skipping", 1))
            do_learn = np.array([do_mem[j] and (o.frame_num - 1) % skip == 0 for j, o in enumerate(self.objects)])
            if do_learn.any():
                m = self._memory_bucket(max(o.num_stored for o in self.objects))
                tw = np.stack([o.weights[:m] for o in self.objects], axis=1)
                tau = steps.learn_fn(self.model, int(self.p.net_opt_update_iter))(
                    self.variables, self.tau, self.mem_x[:m], self.mem_e[:m], self.mem_w[:m], jnp.asarray(tw))
                sel = jnp.asarray(do_learn).reshape((-1,) + (1,) * (tau.ndim - 1))
                self.tau = jnp.where(sel, tau, self.tau)
        # 2. target state from the previous merged probabilities, scale clipping
        crops = []
        for j, o in enumerate(self.objects):
            est = state_from_probs(self.prev_probs[j], float(self.p.get("min_mask_area", -10)))
            if est is not None:
                o.pos, o.target_sz = est
            new_scale = f32(math.sqrt(float(np.prod(o.target_sz) / np.prod(o.base_target_sz))))
            lo, hi = self.p.get("max_scale_change") or (None, None)
            if lo is not None:
                change = new_scale / f32(o.target_scale)
                if change < lo:
                    new_scale = f32(o.target_scale) * f32(lo)
                elif change > hi:
                    new_scale = f32(o.target_scale) * f32(hi)
            o.target_scale = float(new_scale)
            o.target_sz = (o.base_target_sz * f32(new_scale)).astype(f32)
            centre = self._centered_pos(o).astype(f32)
            crops.append(sample_patch(hw, centre, f32(o.target_scale) * sample, self.sample_size,
                                      self.p.get("border_mode", "replicate")))
            o.prev_pos, o.prev_scale = centre, o.target_scale
        states = {o.obj_id: o.state_vector() for o in self.objects}
        # 3. segment all objects as one batch, paste back into the frame
        rows, cols = self._stack_crops(crops)
        images = steps.crop_frame(jnp.asarray(frame), rows, cols)
        logits, self.prev_x, encoding = steps.predict_fn(self.model)(self.variables, self.tau, images)
        self.last = {"crops": images, "encoding": encoding, "logits": logits}
        pastes = [paste_maps(hw, *sample_location(c.coords, self.sample_size), self.sample_size) for c in crops]
        scores = steps.paste_scores(logits, *(jnp.asarray(np.stack([p[i] for p in pastes])) for i in range(4)))
        scores = np.asarray(scores)
        if new_objects:
            scores = np.concatenate([scores, self._new_objects(frame, new_objects)])
            states.update({o.obj_id: o.state_vector() for o in self.objects[k:]})
        return self._merge(scores, states)

    def _memory_bucket(self, n):
        size = int(self.p.sample_memory_size)
        b = 1
        while b < n:
            b *= 2
        return min(b, size)

    def _merge(self, scores, states) -> FrameOutput:
        probs, index = steps.soft_aggregate(jnp.asarray(scores))
        probs = np.asarray(probs)
        self.prev_probs = probs
        ids = np.array([0] + self._ids(), np.int64)
        labels = ids[np.asarray(index)].astype(np.uint8)
        boxes = {}
        first = self.objects[0]
        for j, o in enumerate(self.objects):
            est = state_from_probs(probs[j], float(self.p.get("min_mask_area", -10)))
            pos, sz = est if est is not None else (first.pos, first.target_sz)
            boxes[o.obj_id] = np.array([pos[1] - (sz[1] - 1) / 2, pos[0] - (sz[0] - 1) / 2, sz[1], sz[0]], f32)
        return FrameOutput(labels, {o.obj_id: probs[j] for j, o in enumerate(self.objects)}, boxes, states,
                           {o.obj_id: o.weights.copy() for o in self.objects})
