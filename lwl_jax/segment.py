"""Segment your own video from a first-frame mask or boxes.

    python -m lwl_jax.segment --video clip.mp4 --mask first.png --checkpoint CKPT --out out/
    python -m lwl_jax.segment --frames frames/ --box 120,40,80,150 --box 300,60,50,90 \\
        --checkpoint lwl_boxinit_converted --out out/

Writes ``out/masks/<frame>.png`` (palette PNGs, object ids as in the mask, boxes numbered 1, 2, …),
``out/boxes.json`` (per frame: object id -> [x, y, w, h]) and ``out/overlay.mp4`` (``overlay.gif`` when no
video encoder is installed). Tracker settings come from ``--config`` (default: the preset lwl_ytvos, or
lwl_boxinit with ``--box``) with ``--config.key=value`` overrides.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from lwl_jax.cli import entry_point


def _box(text):
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        vals = []
    if len(vals) != 4 or vals[2] <= 0 or vals[3] <= 0:
        raise argparse.ArgumentTypeError(f"box must be X,Y,W,H with positive W and H, got {text!r}")
    return vals


def _main(argv) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    overrides = [a for a in argv if a.startswith("--config.")]
    p = argparse.ArgumentParser(prog="python -m lwl_jax.segment", description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--video")
    src.add_argument("--frames")
    init = p.add_mutually_exclusive_group(required=True)
    init.add_argument("--mask", help="palette PNG of the first frame")
    init.add_argument("--box", type=_box, action="append", help="X,Y,W,H (repeat for several objects)")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--config")
    p.add_argument("--out", required=True)
    p.add_argument("--fps", type=float, default=10.0)
    args = p.parse_args([a for a in argv if not a.startswith("--config.")])

    from tqdm import tqdm

    from lwl_jax.config_util import load_config
    from lwl_jax.data.davis import DatasetError, Video, frames_in, read_index_png
    from lwl_jax.data.video_io import read_video
    from lwl_jax.tracking.video import load_tracking_model

    config = args.config or ("lwl_boxinit" if args.box else "lwl_ytvos")
    params = load_config(config, overrides)
    if args.box:
        params.init_with_box = True
    model, variables = load_tracking_model(args.checkpoint, params)
    if args.video:
        frames = read_video(args.video)
        names = [f"{i:05d}" for i in range(len(frames))]
        get = frames.__getitem__
    else:
        paths = frames_in(args.frames)
        seq = Video("frames", paths, {})
        seq.check_frame_sizes()         # before any work (a video's frames share one size by construction)
        names = seq.frame_names()
        get = seq.load_frame
    if not names:
        raise DatasetError(f"{args.video}: no frames")
    if args.mask:
        objects = mask_objects(read_index_png(args.mask), get(0).shape[:2], args.mask)
    else:
        objects = {k + 1: {"box": b} for k, b in enumerate(args.box)}
    video = segment_frames(model, variables, params, names, get, objects, args.out, args.fps,
                           lambda it: tqdm(it, unit="frame", desc="segmenting"))
    print(f"wrote {len(names)} masks to {os.path.join(args.out, 'masks')}, boxes.json and {video}")
    return 0


def mask_objects(labels, frame_shape, source: str) -> dict:
    """{object id: {"mask": bool map}} of a first-frame label map; ``source`` names it in errors (wrong size,
    no object)."""
    from lwl_jax.data.davis import DatasetError
    from lwl_jax.tracking.video import objects_in

    if labels.shape != tuple(frame_shape):
        raise DatasetError(f"{source}: mask size {labels.shape[1]}x{labels.shape[0]} does not match "
                           f"the frame size {frame_shape[1]}x{frame_shape[0]}")
    ids = objects_in(labels)
    if not ids:
        raise DatasetError(f"{source}: empty first-frame mask (no object to track)")
    return {k: {"mask": labels == k} for k in ids}


def segment_frames(model, variables, params, names, get, objects, out_dir, fps: float = 10.0, progress=None) -> str:
    """Track ``objects`` (``{id: {"mask": ...}}`` or ``{id: {"box": [x, y, w, h]}}`` on frame 0) through the frames
    ``get(i)`` named ``names``; write ``out_dir/masks/<name>.png``, ``out_dir/boxes.json`` and the overlay video.
    ``progress`` wraps the frame range (e.g. tqdm). Returns the overlay video's path. ``segment`` and the demo
    both run this."""
    from lwl_jax.data.davis import write_index_png
    from lwl_jax.data.video_io import overlay, write_video
    from lwl_jax.errors import writing
    from lwl_jax.tracking.tracker import LWLTracker

    mask_dir = os.path.join(out_dir, "masks")
    with writing(mask_dir):
        os.makedirs(mask_dir, exist_ok=True)
    tracker = LWLTracker(model, variables, params)
    boxes, overlays = {}, []
    frames = range(len(names))
    for i in (progress(frames) if progress is not None else frames):
        frame = get(i)
        out = tracker.initialize(frame, objects) if i == 0 else tracker.track(frame)
        write_index_png(os.path.join(mask_dir, names[i] + ".png"), out.labels)
        boxes[names[i]] = {str(k): [round(float(v), 2) for v in b] for k, b in out.boxes.items()}
        overlays.append(overlay(frame, out.labels, out.boxes))
    tmp = os.path.join(out_dir, "boxes.json.tmp")
    with writing(tmp):
        with open(tmp, "w") as f:
            json.dump(boxes, f, indent=1)
        os.replace(tmp, os.path.join(out_dir, "boxes.json"))
    with writing(os.path.join(out_dir, "overlay")):
        return write_video(os.path.join(out_dir, "overlay"), overlays, fps)


main = entry_point(_main)


if __name__ == "__main__":
    sys.exit(main())
