"""Interactive demo: paint the objects (or draw boxes) on a clip's first frame in the browser, press Track, watch LWL
segment the clip, download the masks.

    pip install -e ".[demo]"
    python -m lwl_jax.demo                               # the small built-in model on built-in synthetic clips
    python -m lwl_jax.demo --checkpoint lwl_stage2.pth   # any checkpoint ``segment`` accepts

The page only collects the clip and the first-frame objects; tracking goes through ``lwl_jax.segment``'s
``segment_frames`` (the same function as ``python -m lwl_jax.segment``), into a fresh folder per request.
"""
from __future__ import annotations

import os
import tempfile
import zipfile

import numpy as np

from lwl_jax.data.davis import DatasetError, read_index_png, write_index_png
from lwl_jax.data.synthetic import SyntheticConfig, generate

# the shipped small model: configs/synthetic.py's quickstart (README, Results), exported with save_converted
BUILTIN_MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model")
BUILTIN_CONFIG = "lwl_synthetic"          # its tracker settings (lwl_jax/tracking/presets.py)
# built-in clips: held-out synthetic videos of the training styles (generator seed 1, never seen in training), twice
# the training length
BUILTIN_CLIPS = {f"synthetic clip {i + 1}": i for i in range(3)}
CLIP_CONFIG = SyntheticConfig(192, 320, num_frames=24, style="train")
CLIP_SEED = 1
# brush colours = the DAVIS palette's first objects (object id = position + 1)
OBJECT_COLORS = ["#800000", "#008000", "#808000", "#000080", "#800080"]


class DemoError(ValueError):
    """A problem with what the user gave the page (shown in the page, never as a traceback)."""


def builtin_clip(name: str) -> np.ndarray:
    """Frames (T, H, W, 3) uint8 of a built-in clip."""
    if name not in BUILTIN_CLIPS:
        raise DemoError(f"unknown built-in clip {name!r}; choose one of {sorted(BUILTIN_CLIPS)}")
    return generate(BUILTIN_CLIPS[name], CLIP_SEED, CLIP_CONFIG)[0]


def load_clip(clip_name: str | None, video_path: str | None, max_frames: int) -> np.ndarray:
    """The clip to track: an uploaded video (wins) or a built-in clip; at most ``max_frames`` frames."""
    if video_path:
        from lwl_jax.data.video_io import read_video

        try:
            frames = np.stack(read_video(video_path))
        except DatasetError as e:
            raise DemoError(f"the uploaded video cannot be decoded: {e}") from None
    elif clip_name:
        frames = builtin_clip(clip_name)
    else:
        raise DemoError("choose a built-in clip or upload a video first")
    if len(frames) > max_frames:
        raise DemoError(f"the clip has {len(frames)} frames; this demo tracks at most {max_frames} "
                        f"(start it with --max_frames to change the limit)")
    return frames


def painted_ids(editor_value, frame_shape) -> np.ndarray:
    """Label map (H, W) uint8 of the brush strokes: object id = index of the stroke's colour in OBJECT_COLORS + 1."""
    layers = [] if editor_value is None else [x for x in editor_value.get("layers") or [] if x is not None]
    labels = np.zeros(frame_shape, np.uint8)
    palette = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in OBJECT_COLORS], np.float32)
    for layer in layers:
        layer = np.asarray(layer)
        if layer.shape[:2] != tuple(frame_shape):
            raise DemoError(f"the painted mask is {layer.shape[1]}x{layer.shape[0]} but the frame is "
                            f"{frame_shape[1]}x{frame_shape[0]}")
        if layer.ndim != 3 or layer.shape[2] != 4:
            continue
        on = layer[..., 3] > 127
        if on.any():
            d = np.linalg.norm(layer[on][:, None, :3].astype(np.float32) - palette[None], axis=-1)
            labels[on] = np.argmin(d, axis=1).astype(np.uint8) + 1
    return labels


def boxes_of(labels) -> dict:
    """{id: [x, y, w, h]}: the bounding box of each painted object (a box is drawn as a stroke across it)."""
    from lwl_jax.tracking.video import objects_in

    out = {}
    for k in objects_in(labels):
        ys, xs = np.nonzero(labels == k)
        out[k] = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
    return out


def first_frame_objects(mode: str, editor_value, palette_png: str | None, frame_shape, box_model: bool):
    """(objects for the tracker, first-frame label map for the record) from the page's inputs."""
    from lwl_jax.segment import mask_objects

    if mode == "boxes":
        if not box_model:
            raise DemoError("this checkpoint has no box encoder: paint masks instead, or start the demo with a "
                            "box-init checkpoint (e.g. lwl_boxinit.pth)")
        labels = painted_ids(editor_value, frame_shape)
        boxes = boxes_of(labels)
        if not boxes:
            raise DemoError("no box drawn: drag the brush across each object's extent first")
        return {k: {"box": b} for k, b in boxes.items()}, labels
    if palette_png:
        try:
            labels = read_index_png(palette_png)
        except DatasetError as e:
            raise DemoError(str(e)) from None
        source = f"the uploaded mask {os.path.basename(palette_png)}"
    else:
        labels = painted_ids(editor_value, frame_shape)
        source = "the painted mask"
        if not labels.any():
            raise DemoError("no object painted: paint each object with a brush colour, or upload a first-frame "
                            "palette PNG")
    try:
        return mask_objects(labels, frame_shape, source), labels
    except DatasetError as e:
        raise DemoError(str(e)) from None


def mode_params(params, mode: str):
    """The tracker settings for a start from boxes (``mode="boxes"``) or from masks: a box-init network starts
    from painted masks through its label encoder like any other."""
    out = params.copy_and_resolve_references()
    out.init_with_box = mode == "boxes"
    return out


def track(model, variables, params, frames, objects, first_labels, workdir, progress=None) -> dict:
    """Segment ``frames`` into a new folder under ``workdir``; returns the overlay video, the masks zip and the
    folder. The zip holds ``masks/<frame>.png`` as ``segment`` writes them and the first-frame mask it started from."""
    from lwl_jax.segment import segment_frames

    out = tempfile.mkdtemp(prefix="track-", dir=workdir)
    names = [f"{i:05d}" for i in range(len(frames))]
    video = segment_frames(model, variables, params, names, frames.__getitem__, objects, out, progress=progress)
    write_index_png(os.path.join(out, "first_frame_mask.png"), first_labels)
    zip_path = os.path.join(out, "masks.zip")
    with zipfile.ZipFile(zip_path + ".tmp", "w") as z:
        for n in names:
            z.write(os.path.join(out, "masks", n + ".png"), f"masks/{n}.png")
        z.write(os.path.join(out, "first_frame_mask.png"), "first_frame_mask.png")
        z.write(os.path.join(out, "boxes.json"), "boxes.json")
    os.replace(zip_path + ".tmp", zip_path)
    return {"video": video, "zip": zip_path, "folder": out}
