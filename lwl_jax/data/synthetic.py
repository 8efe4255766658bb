"""Built-in synthetic videos for CPU-scale training and evaluation, generated on the fly per index.

Each video has a textured background (oriented gratings, colour noise, soft blobs), distractors that look like
objects but are never annotated, and 1–``max_objects`` targets. Targets are textured shapes — ellipses, boxes,
rings (a hole), crosses and bars (thin parts) — that move along curved paths, scale and rotate, occlude each other
in a random depth order, and may enter the video after the first frame. The same (seed, index) always gives the
same video. ``write_davis`` stores videos in the DAVIS 2017 layout so ``evaluate.py`` can score them.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from lwl_jax.data.davis import write_davis_split, write_davis_video

SHAPES = ("ellipse", "box", "ring", "cross", "bar")            # the original families (style None)
# style families: ``style="train"`` draws only the families not held out, ``"heldout"`` only the held-out ones, so
# a held-out split measures transfer to shapes, textures and backgrounds never seen in training
FAMILIES = {"shape": SHAPES + ("blob", "star", "crescent"),
            "texture": ("grating", "checker", "dots"),
            "background": ("grating", "gradient", "checker")}
HELD_OUT = {"shape": ("star", "crescent"), "texture": ("dots",), "background": ("checker",)}
STYLES = (None, "train", "heldout")


def style_families(style, what):
    """The families of ``what`` ('shape', 'texture', 'background') a style draws from."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    if style is None:
        return SHAPES if what == "shape" else ("grating",)
    held = HELD_OUT[what]
    return tuple(f for f in FAMILIES[what] if (f in held) == (style == "heldout"))


@dataclasses.dataclass
class SyntheticConfig:
    height: int = 96
    width: int = 160
    num_frames: int = 12
    max_objects: int = 3
    num_distractors: int = 2
    late_entry_prob: float = 0.3
    style: str | None = None           # None: the original families; 'train' / 'heldout': see FAMILIES, HELD_OUT


def _texture(rng, h, w, base, kind="grating"):
    """A colour texture around a base colour, (h, w, 3) float in 0..255: two oriented gratings and noise
    ('grating'), a checkerboard ('checker'), a dot grid ('dots') or a linear gradient ('gradient'), plus noise."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.zeros((h, w, 3), np.float32) + base
    if kind != "grating":
        period = rng.uniform(4, 14)
        amp = rng.uniform(30, 70, size=3) * rng.choice([-1, 1], size=3)
        if kind == "checker":
            pattern = np.sign(np.sin(np.pi * xx / period) * np.sin(np.pi * yy / period))
        elif kind == "dots":
            d = np.hypot((xx % period) - period / 2, (yy % period) - period / 2)
            pattern = (d < period * rng.uniform(0.2, 0.35)).astype(np.float32)
        elif kind == "gradient":
            ang = rng.uniform(0, 2 * np.pi)
            pattern = (np.cos(ang) * xx + np.sin(ang) * yy) / max(h, w)
        else:
            raise ValueError(kind)
        return np.clip(out + amp * pattern[..., None] + rng.normal(0, 8, (h, w, 3)), 0, 255)
    for _ in range(2):
        ang, freq = rng.uniform(0, np.pi), rng.uniform(0.05, 0.4)
        phase = rng.uniform(0, 2 * np.pi)
        amp = rng.uniform(10, 45, size=3)
        out += amp * np.sin(freq * (np.cos(ang) * xx + np.sin(ang) * yy) + phase)[..., None]
    out += rng.normal(0, 8, (h, w, 3))
    return np.clip(out, 0, 255)


def _shape_mask(kind, u, v, params):
    """Membership of object coordinates (u, v) (unit scale) in a shape."""
    if kind == "ellipse":
        return (u / params[0]) ** 2 + (v / params[1]) ** 2 <= 1
    if kind == "box":
        return (np.abs(u) <= params[0]) & (np.abs(v) <= params[1])
    if kind == "ring":
        r = np.sqrt((u / params[0]) ** 2 + (v / params[1]) ** 2)
        return (r <= 1) & (r >= 0.55)
    if kind == "cross":
        t = 0.18 * max(params[0], params[1])
        return ((np.abs(u) <= params[0]) & (np.abs(v) <= t)) | ((np.abs(v) <= params[1]) & (np.abs(u) <= t))
    if kind == "bar":
        return (np.abs(u) <= params[0]) & (np.abs(v) <= 0.12 * params[1])
    r, th = np.hypot(u, v), np.arctan2(v, u)
    if kind == "blob":                      # a wobbly disc
        return r <= params[0] * (1 + 0.25 * np.sin(3 * th + 6 * params[1]))
    if kind == "star":                      # five thin limbs
        return r <= params[0] * (0.3 + 0.7 * ((1 + np.cos(5 * th)) / 2) ** 3)
    if kind == "crescent":                  # a disc with a bite out of it
        return (r <= params[0]) & (np.hypot(u - 0.45 * params[0], v) > 0.75 * params[0])
    raise ValueError(kind)


@dataclasses.dataclass
class _Actor:
    kind: str
    texture_kind: str
    params: tuple
    texture: np.ndarray
    start: np.ndarray
    velocity: np.ndarray
    wobble: np.ndarray
    size: float
    growth: float
    angle: float
    spin: float
    first_frame: int
    annotated: bool


def _actors(rng, cfg: SyntheticConfig):
    h, w = cfg.height, cfg.width
    n_obj = int(rng.integers(1, cfg.max_objects + 1))
    actors = []
    for i in range(n_obj + cfg.num_distractors):
        annotated = i < n_obj
        shapes = style_families(cfg.style, "shape")
        kind = shapes[int(rng.integers(len(shapes)))]
        size = rng.uniform(0.1, 0.22) * min(h, w) * (1.0 if annotated else 0.8)
        textures = style_families(cfg.style, "texture")
        tex_kind = textures[int(rng.integers(len(textures)))] if cfg.style is not None else "grating"
        tex = _texture(rng, 2 * int(size) + 8, 2 * int(size) + 8, rng.uniform(40, 215, size=3), tex_kind)
        late = annotated and i > 0 and rng.random() < cfg.late_entry_prob
        actors.append(_Actor(kind, tex_kind, (rng.uniform(0.6, 1.0), rng.uniform(0.5, 1.0)), tex,
                             np.array([rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w]),
                             rng.normal(0, 0.02, 2) * np.array([h, w]), rng.uniform(0, 0.03, 2) * np.array([h, w]),
                             size, rng.uniform(-0.04, 0.04), rng.uniform(0, np.pi), rng.normal(0, 0.12),
                             int(rng.integers(1, max(2, cfg.num_frames // 2))) if late else 0, annotated))
    order = rng.permutation(len(actors))          # depth: later actors are drawn on top
    return [actors[i] for i in order], n_obj


def _scene(index, seed, cfg):
    """(background, its family, camera drift, actors, rng) of a video; ``rng`` goes on to draw the frames' noise.
    The original families (style None) draw no family, so their videos are unchanged."""
    rng = np.random.default_rng([seed, index])
    backgrounds = style_families(cfg.style, "background")
    bg_kind = backgrounds[int(rng.integers(len(backgrounds)))] if cfg.style is not None else "grating"
    bg = _texture(rng, cfg.height + 40, cfg.width + 40, rng.uniform(60, 190, size=3), bg_kind)
    drift = rng.normal(0, 1.0, 2)
    actors, _ = _actors(rng, cfg)
    return bg, bg_kind, drift, actors, rng


def scene_families(index: int, seed: int = 0, cfg: SyntheticConfig | None = None) -> dict:
    """The families video ``index`` draws: {'background': kind, 'shape': {kinds}, 'texture': {kinds}}."""
    _, bg_kind, _, actors, _ = _scene(index, seed, cfg or SyntheticConfig())
    return {"background": bg_kind, "shape": {a.kind for a in actors}, "texture": {a.texture_kind for a in actors}}


def generate(index: int, seed: int = 0, cfg: SyntheticConfig | None = None):
    """Video ``index`` of generator ``seed``: (frames (T, H, W, 3) uint8, labels (T, H, W) uint8, object ids)."""
    cfg = cfg or SyntheticConfig()
    h, w, t_len = cfg.height, cfg.width, cfg.num_frames
    bg, _, drift, actors, rng = _scene(index, seed, cfg)
    ids = {}
    for a in actors:
        if a.annotated:
            ids[id(a)] = len(ids) + 1
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = np.zeros((t_len, h, w, 3), np.uint8)
    labels = np.zeros((t_len, h, w), np.uint8)
    for t in range(t_len):
        oy, ox = (np.clip(20 + drift * t, 0, 39)).astype(int)
        img = bg[oy:oy + h, ox:ox + w].copy()
        lab = np.zeros((h, w), np.uint8)
        for a in actors:
            if t < a.first_frame:
                continue
            c = a.start + a.velocity * t + a.wobble * np.sin(0.5 * t + a.angle)
            s = a.size * (1 + a.growth) ** t
            th = a.angle + a.spin * t
            dy, dx = yy - c[0], xx - c[1]
            u = (np.cos(th) * dx + np.sin(th) * dy) / s
            v = (-np.sin(th) * dx + np.cos(th) * dy) / s
            m = _shape_mask(a.kind, u, v, a.params)
            if not m.any():
                continue
            th_, tw_ = a.texture.shape[:2]
            ty = np.clip(((v + 1) * 0.5 * (th_ - 1)).astype(int), 0, th_ - 1)
            tx = np.clip(((u + 1) * 0.5 * (tw_ - 1)).astype(int), 0, tw_ - 1)
            img[m] = a.texture[ty[m], tx[m]]
            lab[m] = ids.get(id(a), 0)          # distractors occlude targets but are background
        frames[t] = np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)
        labels[t] = lab
    present = sorted(int(i) for i in np.unique(labels) if i)
    return frames, labels, present


def write_davis(root, num_videos: int, seed: int = 0, cfg: SyntheticConfig | None = None, split="val"):
    """Write ``num_videos`` synthetic videos as a DAVIS 2017 folder (JPEG frames, palette annotations on every
    frame, ImageSets/2017/<split>.txt); objects entering later are annotated from their first frame."""
    names = []
    for i in range(num_videos):
        frames, labels, _ = generate(i, seed, cfg)
        if not labels[0].any():
            continue                      # the first frame must show at least one object
        name = f"synth{seed:03d}_{i:04d}"
        write_davis_video(root, name, frames, labels)
        names.append(name)
    write_davis_split(root, split, names)
    return names


def main(argv=None):
    """``python -m lwl_jax.data.synthetic OUT_DIR [--videos N] [--seed S] [--static_baseline RESULTS_DIR]``"""
    import argparse

    p = argparse.ArgumentParser(prog="python -m lwl_jax.data.synthetic", description=main.__doc__)
    p.add_argument("out_dir")
    p.add_argument("--videos", type=int, default=30)
    p.add_argument("--seed", type=int, default=1, help="0 is the training generator's default; 1+ for held-out")
    p.add_argument("--height", type=int, default=96)
    p.add_argument("--width", type=int, default=160)
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--style", choices=("train", "heldout"), help="draw only the training or only the held-out "
                   "shape/texture/background families (default: the original families)")
    p.add_argument("--static_baseline", help="also write the first-frame-repeated baseline here and score it")
    a = p.parse_args(argv)
    names = write_davis(a.out_dir, a.videos, a.seed, SyntheticConfig(a.height, a.width, a.frames, style=a.style))
    print(f"wrote {len(names)} videos to {a.out_dir}")
    if a.static_baseline:
        from lwl_jax import metrics

        metrics.static_baseline(a.out_dir, a.static_baseline)
        g, _ = metrics.write_results(a.static_baseline, "val",
                                     metrics.evaluate_folder(a.out_dir, a.static_baseline, "val"))
        print("static baseline: " + "  ".join(f"{k} {v:.3f}" for k, v in g.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
