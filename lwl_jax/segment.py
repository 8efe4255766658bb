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
    from lwl_jax.data.davis import DatasetError, Video, frames_in, read_index_png, write_index_png
    from lwl_jax.data.video_io import overlay, read_video, write_video
    from lwl_jax.errors import writing
    from lwl_jax.tracking.tracker import LWLTracker
    from lwl_jax.tracking.video import load_tracking_model, objects_in

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
    first = get(0)
    if args.mask:
        labels = read_index_png(args.mask)
        if labels.shape != first.shape[:2]:
            raise DatasetError(f"{args.mask}: mask size {labels.shape[1]}x{labels.shape[0]} does not match "
                               f"the frame size {first.shape[1]}x{first.shape[0]}")
        ids = objects_in(labels)
        if not ids:
            raise DatasetError(f"{args.mask}: empty first-frame mask (no object to track)")
        objects = {k: {"mask": labels == k} for k in ids}
    else:
        objects = {k + 1: {"box": b} for k, b in enumerate(args.box)}
    mask_dir = os.path.join(args.out, "masks")
    with writing(mask_dir):
        os.makedirs(mask_dir, exist_ok=True)
    tracker = LWLTracker(model, variables, params)
    boxes, overlays = {}, []
    for i in tqdm(range(len(names)), unit="frame", desc="segmenting"):
        frame = first if i == 0 else get(i)
        out = tracker.initialize(frame, objects) if i == 0 else tracker.track(frame)
        write_index_png(os.path.join(mask_dir, names[i] + ".png"), out.labels)
        boxes[names[i]] = {str(k): [round(float(v), 2) for v in b] for k, b in out.boxes.items()}
        overlays.append(overlay(frame, out.labels, out.boxes))
    tmp = os.path.join(args.out, "boxes.json.tmp")
    with writing(tmp):
        with open(tmp, "w") as f:
            json.dump(boxes, f, indent=1)
        os.replace(tmp, os.path.join(args.out, "boxes.json"))
    with writing(os.path.join(args.out, "overlay")):
        video = write_video(os.path.join(args.out, "overlay"), overlays, args.fps)
    print(f"wrote {len(names)} masks to {mask_dir}, boxes.json and {video}")
    return 0


main = entry_point(_main)


if __name__ == "__main__":
    sys.exit(main())
