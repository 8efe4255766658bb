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
            "texture": ("grating", "checker", "plain", "dots"),
            "background": ("grating", "gradient", "clutter", "checker")}
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
    # the rest is drawn only with a style (the original families keep their videos bit-identical)
    occluder_prob: float = 0.4         # a pole in front of everything crosses the frame
    leave_prob: float = 0.25           # per target: swings out of the frame and comes back
    deform: float = 0.2                # non-rigid: the shape's two axes breathe by up to ± this
    zoom: float = 0.03                 # camera zoom rate, up to exp(± this) per frame (the camera also pans)
    lighting: float = 0.25             # the light's gain oscillates by up to ± this (and its tint by ± 0.1)
    blur_prob: float = 0.3             # motion blur along the camera's pan


def _texture(rng, h, w, base, kind="grating"):
    """A colour texture around a base colour, (h, w, 3) float in 0..255: two oriented gratings and noise
    ('grating'), a checkerboard ('checker'), a dot grid ('dots'), a linear gradient ('gradient'), a flat colour with
    soft shading ('plain') or a gradient cluttered with soft-edged blobs of other colours ('clutter'), plus noise."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.zeros((h, w, 3), np.float32) + base
    if kind != "grating":
        out = out.astype(np.float32)
        period = rng.uniform(4, 14)
        amp = rng.uniform(30, 70, size=3) * rng.choice([-1, 1], size=3)
        if kind == "checker":
            pattern = np.sign(np.sin(np.pi * xx / period) * np.sin(np.pi * yy / period))
        elif kind == "dots":
            d = np.hypot((xx % period) - period / 2, (yy % period) - period / 2)
            pattern = (d < period * rng.uniform(0.2, 0.35)).astype(np.float32)
        elif kind in ("gradient", "plain", "clutter"):
            ang = rng.uniform(0, 2 * np.pi)
            pattern = (np.cos(ang) * xx + np.sin(ang) * yy) / max(h, w)
            if kind == "plain":
                pattern = pattern * 0.4
        else:
            raise ValueError(kind)
        out = out + amp * pattern[..., None]
        if kind == "clutter":
            for _ in range(int(rng.integers(6, 14))):
                cy, cx = rng.uniform(0, h), rng.uniform(0, w)
                ry = rng.uniform(0.03, 0.12) * max(h, w)
                rx = ry * rng.uniform(0.5, 2)
                y0, y1 = int(max(cy - 1.5 * ry, 0)), int(min(cy + 1.5 * ry + 1, h))
                x0, x1 = int(max(cx - 1.5 * rx, 0)), int(min(cx + 1.5 * rx + 1, w))
                a = np.clip(1.5 - np.hypot((yy[y0:y1, x0:x1] - cy) / ry, (xx[y0:y1, x0:x1] - cx) / rx), 0, 1)[..., None]
                out[y0:y1, x0:x1] = out[y0:y1, x0:x1] * (1 - a) + a * rng.uniform(20, 235, size=3)
        return np.clip(out + 8 * rng.standard_normal((h, w, 3), np.float32), 0, 255)
    for _ in range(2):
        ang, freq = rng.uniform(0, np.pi), rng.uniform(0.05, 0.4)
        phase = rng.uniform(0, 2 * np.pi)
        amp = rng.uniform(10, 45, size=3)
        out += amp * np.sin(freq * (np.cos(ang) * xx + np.sin(ang) * yy) + phase)[..., None]
    out += rng.normal(0, 8, (h, w, 3))
    return np.clip(out, 0, 255)


def _shape_mask(kind, u, v, params):
    """Membership of object coordinates (u, v) (unit scale) in a shape; every shape lies within radius
    1.5 · max(1, params)."""
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
    deform: tuple = (0.0, 0.0, 0.0)        # (amplitude, rate, phase) of the axes' breathing
    swing: tuple = (np.zeros(2), 0.0, 0.0)   # (amplitude (y, x), rate, phase) of a path out of the frame and back

    def pose(self, t):
        """(centre (y, x) in scene coordinates, scale, angle, shape parameters) at frame ``t``."""
        c = self.start + self.velocity * t + self.wobble * np.sin(0.5 * t + self.angle)
        amp, rate, phase = self.swing
        if rate:
            c = c + amp * (np.sin(rate * t + phase) - np.sin(phase))
        params = self.params
        if self.deform[0]:
            b = self.deform[0] * np.sin(self.deform[1] * t + self.deform[2])
            params = (params[0] * (1 + b), params[1] * (1 - b))
        return c, self.size * (1 + self.growth) ** t, self.angle + self.spin * t, params


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
    if cfg.style is not None:                      # non-rigid shapes; targets that leave the frame and come back
        for a in actors:
            a.deform = (rng.uniform(0, cfg.deform), rng.uniform(0.3, 1.0), rng.uniform(0, 2 * np.pi))
            if a.annotated and rng.random() < cfg.leave_prob:
                axis = int(rng.integers(2))
                amp = np.zeros(2)
                amp[axis] = rng.uniform(0.5, 0.7) * (h, w)[axis] * rng.choice([-1, 1])
                a.swing = (amp, 2 * np.pi / (cfg.num_frames * rng.uniform(0.7, 1.0)), rng.uniform(-0.5, 0.5))
    order = rng.permutation(len(actors))          # depth: later actors are drawn on top
    return [actors[i] for i in order], n_obj


@dataclasses.dataclass
class _Scene:
    index: int
    seed: int
    cfg: SyntheticConfig
    background: np.ndarray
    bg_kind: str
    drift: np.ndarray
    actors: list
    rng: np.random.Generator           # style None: draws the frames' noise in order
    zoom_rate: float = 0.0
    pole: tuple | None = None          # (axis, position, velocity, half width, texture, texture family)
    light: tuple = (0.0, 0.0, 0.0, np.zeros(3), 0.0, 0.0)   # (gain amp, rate, phase, tint amp (3), rate, phase)
    blur: tuple | None = None          # (axis, length)

    def camera(self, t):
        """Scene coordinates of the frame's pixel rows and columns at ``t`` (the camera pans and zooms about the
        frame centre; style None: a fixed camera over a drifting background)."""
        h, w = self.cfg.height, self.cfg.width
        rows, cols = np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32)
        if self.cfg.style is None:
            return rows, cols
        z = np.exp(self.zoom_rate * t)
        pan = self.drift * t
        return ((h - 1) / 2 + pan[0] + (rows - (h - 1) / 2) / z).astype(np.float32), \
            ((w - 1) / 2 + pan[1] + (cols - (w - 1) / 2) / z).astype(np.float32)


BG_MARGIN = 20      # style None: the background is this much larger on every side than the frame and drifts in it


def _scene(index, seed, cfg):
    """The video's background, camera, actors and effects, drawn from (seed, index); the original families (style
    None) draw no family and none of the effects, so their videos are unchanged."""
    rng = np.random.default_rng([seed, index])
    h, w, t_len = cfg.height, cfg.width, cfg.num_frames
    backgrounds = style_families(cfg.style, "background")
    bg_kind = backgrounds[int(rng.integers(len(backgrounds)))] if cfg.style is not None else "grating"
    if cfg.style is None:
        bg = _texture(rng, h + 2 * BG_MARGIN, w + 2 * BG_MARGIN, rng.uniform(60, 190, size=3), bg_kind)
        drift = rng.normal(0, 1.0, 2)
        actors, _ = _actors(rng, cfg)
        return _Scene(index, seed, cfg, bg, bg_kind, drift, actors, rng)
    zoom_rate = rng.uniform(-cfg.zoom, cfg.zoom)
    drift = rng.normal(0, 0.01, 2) * (h, w)
    reach = 0.5 / np.exp(-abs(zoom_rate) * t_len) + np.abs(drift) * t_len / np.array([h, w]) + 0.05
    bh, bw = int(np.ceil(2 * reach[0] * h)), int(np.ceil(2 * reach[1] * w))
    bg = _texture(rng, bh, bw, rng.uniform(60, 190, size=3), bg_kind).astype(np.float32)
    actors, _ = _actors(rng, cfg)
    scene = _Scene(index, seed, cfg, bg, bg_kind, drift, actors, None, zoom_rate)
    if rng.random() < cfg.occluder_prob:
        axis = int(rng.integers(2))
        extent = (h, w)[axis]
        textures = style_families(cfg.style, "texture")
        tex_kind = textures[int(rng.integers(len(textures)))]
        tex = _texture(rng, 64, 64, rng.uniform(40, 215, size=3), tex_kind)
        scene.pole = (axis, rng.uniform(0, extent), rng.choice([-1, 1]) * rng.uniform(0.03, 0.08) * extent,
                      rng.uniform(0.02, 0.05) * extent, tex, tex_kind)
    scene.light = (rng.uniform(0, cfg.lighting), rng.uniform(0.2, 0.8), rng.uniform(0, 2 * np.pi),
                   rng.uniform(-0.1, 0.1, 3), rng.uniform(0.2, 0.8), rng.uniform(0, 2 * np.pi))
    if rng.random() < cfg.blur_prob:
        scene.blur = (int(np.argmax(np.abs(drift))), 2 * max(1, int(rng.integers(1, 4) * max(h, w) / 320)) + 1)
    return scene


def scene_families(index: int, seed: int = 0, cfg: SyntheticConfig | None = None) -> dict:
    """The families video ``index`` draws: {'background': kind, 'shape': {kinds}, 'texture': {kinds}}."""
    s = _scene(index, seed, cfg or SyntheticConfig())
    textures = {a.texture_kind for a in s.actors}
    if s.pole is not None:
        textures.add(s.pole[-1])
    return {"background": s.bg_kind, "shape": {a.kind for a in s.actors}, "texture": textures}


def _box_blur(img, axis, length):
    pad = [(0, 0)] * img.ndim
    pad[axis] = (length // 2 + 1, length // 2)
    c = np.cumsum(np.pad(img, pad, mode="edge"), axis=axis, dtype=np.float32)
    n = img.shape[axis]
    return (np.take(c, np.arange(length, length + n), axis=axis) - np.take(c, np.arange(n), axis=axis)) / length


def _render(scene: _Scene, t: int, image: bool = True):
    """Frame ``t``: (image (H, W, 3) float or None, labels (H, W) uint8). Each actor is drawn only inside its
    bounding square (the same pixels as drawing it everywhere)."""
    cfg = scene.cfg
    h, w = cfg.height, cfg.width
    wy, wx = scene.camera(t)
    if not image:
        img = None
    elif cfg.style is None:
        oy, ox = (np.clip(BG_MARGIN + scene.drift * t, 0, 2 * BG_MARGIN - 1)).astype(int)
        img = scene.background[oy:oy + h, ox:ox + w].copy()
    else:
        bh, bw = scene.background.shape[:2]
        iy = np.clip(np.round(wy - (h - 1) / 2 + (bh - 1) / 2).astype(int), 0, bh - 1)
        ix = np.clip(np.round(wx - (w - 1) / 2 + (bw - 1) / 2).astype(int), 0, bw - 1)
        img = scene.background[iy[:, None], ix[None, :]]
    lab = np.zeros((h, w), np.uint8)
    ids = {}
    for a in scene.actors:                             # object ids in depth order
        if a.annotated:
            ids[id(a)] = len(ids) + 1
    for a in scene.actors:
        if t < a.first_frame:
            continue
        c, s, th, params = a.pose(t)
        reach = 1.5 * s * max(1.0, *params) + 2
        r0, r1 = np.searchsorted(wy, c[0] - reach), np.searchsorted(wy, c[0] + reach, side="right")
        c0, c1 = np.searchsorted(wx, c[1] - reach), np.searchsorted(wx, c[1] + reach, side="right")
        if r0 >= r1 or c0 >= c1:
            continue
        dy, dx = wy[r0:r1, None] - c[0], wx[None, c0:c1] - c[1]
        u = (np.cos(th) * dx + np.sin(th) * dy) / s
        v = (-np.sin(th) * dx + np.cos(th) * dy) / s
        m = _shape_mask(a.kind, u, v, params)
        if not m.any():
            continue
        lab[r0:r1, c0:c1][m] = ids.get(id(a), 0)          # distractors occlude targets but are background
        if img is not None:
            th_, tw_ = a.texture.shape[:2]
            ty = np.clip(((v + 1) * 0.5 * (th_ - 1)).astype(int), 0, th_ - 1)
            tx = np.clip(((u + 1) * 0.5 * (tw_ - 1)).astype(int), 0, tw_ - 1)
            img[r0:r1, c0:c1][m] = a.texture[ty[m], tx[m]]
    if scene.pole is not None:                         # in front of everything, never annotated
        axis, pos, vel, half, tex, _ = scene.pole
        coord = (wy, wx)[axis]
        on = np.abs(coord - (pos + vel * t)) <= half
        if on.any():
            sel = (on[:, None] if axis == 0 else on[None, :]) & np.ones((h, w), bool)
            lab[sel] = 0
            if img is not None:
                yy, xx = np.nonzero(sel)
                img[sel] = tex[yy % tex.shape[0], xx % tex.shape[1]]
    if img is not None and cfg.style is not None:
        gain_amp, rate, phase, tint, tint_rate, tint_phase = scene.light
        light = (1 + gain_amp * np.sin(rate * t + phase)) * (1 + tint * np.sin(tint_rate * t + tint_phase))
        img = img * light.astype(np.float32)
        if scene.blur is not None:
            img = _box_blur(img, *scene.blur)
    return img, lab


def _object_ids(labels):
    return sorted(int(i) for i in np.unique(labels) if i)


class SyntheticVideo:
    """Video ``index`` of generator ``seed``, drawn on demand: ``labels()`` renders only the labels of every frame,
    ``frames(ts)`` the images and labels of some frames (the same pixels as in the whole video). With a style the
    drawn frames are kept for later calls; style None draws the frames' noise in frame order from the scene's
    generator, so call its ``frames`` once."""

    def __init__(self, index: int, seed: int = 0, cfg: SyntheticConfig | None = None):
        self.cfg = cfg or SyntheticConfig()
        self.scene = _scene(index, seed, self.cfg)
        self._drawn = {}                          # styled: frame -> (image, labels), kept for later calls

    def labels(self):
        """(labels (T, H, W) uint8, object ids)."""
        labels = np.stack([_render(self.scene, t, image=False)[1] for t in range(self.cfg.num_frames)])
        return labels, _object_ids(labels)

    def _noise(self, t, shape):
        if self.cfg.style is None:
            return self.scene.rng.normal(0, 3, shape)
        return 3 * np.random.default_rng([self.scene.seed, self.scene.index, 1, t]).standard_normal(shape, np.float32)

    def frames(self, ts=None):
        """(frames (N, H, W, 3) uint8, labels (N, H, W) uint8) of frames ``ts`` (default: all)."""
        cfg = self.cfg
        ts = list(range(cfg.num_frames)) if ts is None else [int(t) for t in ts]
        out = self._drawn if cfg.style is not None else {}
        order = range(max(ts) + 1) if cfg.style is None else sorted(set(ts) - set(out))
        for t in order:
            if t not in ts:                       # style None: keep the order of the noise draws
                self._noise(t, (cfg.height, cfg.width, 3))
                continue
            img, lab = _render(self.scene, t)
            out[t] = (np.clip(img + self._noise(t, img.shape), 0, 255).astype(np.uint8), lab)
        return np.stack([out[t][0] for t in ts]), np.stack([out[t][1] for t in ts])


def video_labels(index: int, seed: int = 0, cfg: SyntheticConfig | None = None):
    """The labels of video ``index`` without drawing its images: (labels (T, H, W) uint8, object ids)."""
    return SyntheticVideo(index, seed, cfg).labels()


def generate(index: int, seed: int = 0, cfg: SyntheticConfig | None = None):
    """Video ``index`` of generator ``seed``: (frames (T, H, W, 3) uint8, labels (T, H, W) uint8, object ids).
    The same (seed, index, cfg) always gives the same video."""
    frames, labels = SyntheticVideo(index, seed, cfg).frames()
    return frames, labels, _object_ids(labels)


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
