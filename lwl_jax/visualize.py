"""Pictures of what the network learned (paper Fig. 11): for the first frame the search-region crop, its mask,
the label encoding E(y) and the importance weights |W(y)| (one tile per channel); for later frames the crop,
the predicted mask and the target model's output T_τ(x).

    python -m lwl_jax.visualize --frames DIR --mask first.png --checkpoint CKPT --out encodings.png
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
from PIL import Image, ImageDraw

from lwl_jax.cli import entry_point
from lwl_jax.models.lwl import denormalize

# anchor colours of a perceptual "magma"-like map
_ANCHORS = np.array([[0, 0, 4], [59, 15, 112], [140, 41, 129], [222, 73, 104], [254, 159, 109], [252, 253, 191]],
                    np.float32)


def colormap(x):
    """Values in [0, 1] -> RGB uint8."""
    t = np.clip(x, 0, 1) * (len(_ANCHORS) - 1)
    i = np.minimum(t.astype(int), len(_ANCHORS) - 2)
    f = (t - i)[..., None]
    return ((1 - f) * _ANCHORS[i] + f * _ANCHORS[i + 1]).astype(np.uint8)


def _tile(channel, size, lo, hi):
    img = colormap((channel - lo) / max(hi - lo, 1e-12))
    return np.array(Image.fromarray(img).resize(size[::-1], Image.NEAREST))


def _crop_rgb(crop_bgr):
    rgb = denormalize(np.asarray(crop_bgr))
    return np.clip(rgb, 0, 255).astype(np.uint8)


def render_rows(rows, tile=(60, 104), label_w=150):
    """rows: [(label, [HxWx3 uint8 images])] -> one picture."""
    n = max(len(r[1]) for r in rows)
    h, w = tile
    canvas = Image.new("RGB", (label_w + n * (w + 2), len(rows) * (h + 2)), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for r, (label, images) in enumerate(rows):
        y = r * (h + 2)
        draw.text((4, y + h // 2 - 6), label, fill=(0, 0, 0))
        for c, im in enumerate(images):
            canvas.paste(Image.fromarray(im).resize((w, h), Image.BILINEAR), (label_w + c * (w + 2), y))
    return canvas


def comparison_picture(seq, results_dir, num_frames: int = 6, tile=None):
    """Input | ground truth | prediction strips of a scored sequence (``seq``: a DAVIS :class:`Video`;
    ``results_dir/<seq>/<frame>.png``: the predictions), at ``num_frames`` frames spread over the video."""
    from lwl_jax.data.davis import read_index_png
    from lwl_jax.data.video_io import overlay

    idx = np.unique(np.linspace(0, len(seq.frames) - 1, num_frames).round().astype(int))
    names = seq.frame_names()
    frames = [seq.load_frame(int(i)) for i in idx]
    hw = frames[0].shape[:2]
    truth = [overlay(f, seq.load_annotation(int(i), hw)) if int(i) in seq.annotations else f
             for f, i in zip(frames, idx)]
    pred = [overlay(f, read_index_png(os.path.join(results_dir, seq.name, names[int(i)] + ".png")))
            for f, i in zip(frames, idx)]
    rows = [(f"{seq.name}\ninput", frames), ("ground truth", truth), ("prediction", pred)]
    return render_rows(rows, tile or hw, label_w=110)


def channel_row(maps, tile, absolute=False):
    maps = np.abs(maps) if absolute else np.asarray(maps)
    lo, hi = float(maps.min()), float(maps.max())
    return [_tile(maps[..., c], tile, lo, hi) for c in range(maps.shape[-1])]


def encodings_picture(model, variables, params, get, num_video_frames: int, labels, obj=None, num_frames: int = 3):
    """The picture (PIL image) for object ``obj`` (default: the first) of the frames ``get(i)`` started from the
    first-frame label map ``labels``; ``num_frames`` later frames. ``python -m lwl_jax.visualize`` and the demo."""
    from lwl_jax.tracking.tracker import LWLTracker
    from lwl_jax.tracking.video import objects_in

    ids = objects_in(labels)
    obj = ids[0] if obj is None else obj
    k = ids.index(obj)
    tracker = LWLTracker(model, variables, params)
    tracker.initialize(get(0), {i: {"mask": labels == i} for i in ids})
    first = {n: np.asarray(v[k]) for n, v in tracker.last.items()}
    tile = first["labels"].shape[:2]
    tile = (tile[0] * 2, tile[1] * 2)
    rows = [("frame 0: crop, mask", [_crop_rgb(first["crops"]), colormap(first["mask_crops"])]),
            ("E(y) labels", channel_row(first["labels"], tile)),
            ("|W(y)| weights", channel_row(first["weights"], tile, absolute=True))]
    for t in range(1, min(num_video_frames, num_frames + 1)):
        tracker.track(get(t))
        last = {n: np.asarray(v[k]) for n, v in tracker.last.items()}
        prob = 1 / (1 + np.exp(-last["logits"]))
        rows.append((f"frame {t}: crop, mask", [_crop_rgb(last["crops"]), colormap(prob)]))
        rows.append((f"frame {t}: T_tau(x)", channel_row(last["encoding"], tile)))
    return render_rows(rows, tile)


def _main(argv) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    overrides = [a for a in argv if a.startswith("--config.")]
    p = argparse.ArgumentParser(prog="python -m lwl_jax.visualize", description=__doc__.splitlines()[0])
    p.add_argument("--frames", required=True)
    p.add_argument("--mask", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--config", default="lwl_ytvos", help="tracker settings: a preset name or a config file")
    p.add_argument("--object", type=int, help="object id to show (default: the first)")
    p.add_argument("--num_frames", type=int, default=3, help="later frames to show")
    p.add_argument("--out", required=True)
    a = p.parse_args([x for x in argv if not x.startswith("--config.")])

    from lwl_jax.config_util import load_config
    from lwl_jax.data.davis import DatasetError, folder_sequence
    from lwl_jax.tracking.video import load_tracking_model, objects_in

    params = load_config(a.config, overrides)
    model, variables = load_tracking_model(a.checkpoint, params)
    seq = folder_sequence(a.frames, a.mask)
    frame = seq.load_frame(0)
    labels = seq.load_annotation(0, frame.shape[:2])
    ids = objects_in(labels)
    if not ids:
        raise DatasetError(f"{a.mask}: empty first-frame mask (no object to track)")
    if a.object is not None and a.object not in ids:
        raise DatasetError(f"{a.mask}: no object {a.object} (objects: {ids})")
    canvas = encodings_picture(model, variables, params, seq.load_frame, len(seq.frames), labels, a.object,
                               a.num_frames)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    tmp = a.out + ".tmp.png"
    canvas.save(tmp)
    os.replace(tmp, a.out)
    print(f"wrote {a.out}")
    return 0


main = entry_point(_main)


if __name__ == "__main__":
    sys.exit(main())
