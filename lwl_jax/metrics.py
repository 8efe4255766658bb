"""DAVIS-2017 region similarity J and boundary F, computed as the official evaluation code does, vectorised.

* J: IoU of binary masks ignoring void pixels (255 in the ground truth); 1 where the union is empty.
* F: boundary maps (``seg2bmap``: a pixel differs from its east, south or south-east neighbour; last row/column
  compared along the border only), each dilated by a disk of radius ``ceil(0.008 · image diagonal)``; precision =
  matched predicted boundary / predicted boundary, recall likewise; empty-boundary conventions as the official
  code (both empty: 1; only one empty: P or R 0).
* Per object: Mean, Recall (fraction > 0.5), Decay (mean of the first minus the last of 4 bins); the first and last
  frames are excluded; J&F = (mean J + mean F) / 2 over all objects.

``python -m lwl_jax.metrics DAVIS_ROOT RESULTS_DIR --split val [--json FILE]`` scores any results folder and writes
``global_results-<split>.csv`` and ``per-sequence_results-<split>.csv`` into RESULTS_DIR.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings

import numpy as np

from lwl_jax.cli import run
from lwl_jax.data.davis import DatasetError, read_index_png
from lwl_jax.errors import writing

BOUND_TH = 0.008


def jaccard(gt, pred, void=None):
    """gt, pred (..., H, W) bool -> J per leading index."""
    gt, pred = gt.astype(bool), pred.astype(bool)
    valid = np.ones_like(gt) if void is None else ~void.astype(bool)
    inter = np.sum(gt & pred & valid, axis=(-2, -1))
    union = np.sum((gt | pred) & valid, axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        j = inter / union
    return np.where(np.isclose(union, 0), 1.0, j)


def boundary_map(seg):
    """seg (..., H, W) -> 1-pixel boundaries (the official ``_seg2bmap`` at full resolution)."""
    seg = seg.astype(bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[..., :, :-1] = seg[..., :, 1:]
    s[..., :-1, :] = seg[..., 1:, :]
    se[..., :-1, :-1] = seg[..., 1:, 1:]
    b = (seg ^ e) | (seg ^ s) | (seg ^ se)
    b[..., -1, :] = seg[..., -1, :] ^ e[..., -1, :]
    b[..., :, -1] = seg[..., :, -1] ^ s[..., :, -1]
    b[..., -1, -1] = False
    return b


def dilate_disk(b, radius: int):
    """Binary dilation of (..., H, W) by the disk x² + y² ≤ r² (no extension beyond the border), as a union of
    row-shifted horizontal dilations computed with cumulative sums."""
    h, w = b.shape[-2:]
    c = np.zeros(b.shape[:-1] + (w + 1,), np.int32)
    np.cumsum(b, axis=-1, out=c[..., 1:])
    out = np.zeros(b.shape, bool)
    x = np.arange(w)
    for dy in range(-radius, radius + 1):
        half = math.isqrt(radius * radius - dy * dy)
        lo, hi = np.clip(x - half, 0, w), np.clip(x + half + 1, 0, w)
        row = (c[..., hi] - c[..., lo]) > 0          # any boundary within ±half in the same row
        if dy >= 0:                                   # out[y] |= row[y + dy]
            out[..., : h - dy, :] |= row[..., dy:, :]
        else:
            out[..., -dy:, :] |= row[..., : h + dy, :]
    return out


def boundary_f(gt, pred, void=None, bound_th: float = BOUND_TH):
    """gt, pred (..., H, W) -> boundary F-measure per leading index."""
    gt, pred = gt.astype(bool), pred.astype(bool)
    if void is not None:
        gt, pred = gt & ~void.astype(bool), pred & ~void.astype(bool)
    h, w = gt.shape[-2:]
    radius = int(bound_th if bound_th >= 1 else math.ceil(bound_th * math.hypot(h, w)))
    fb, gb = boundary_map(pred), boundary_map(gt)
    n_fg = fb.sum(axis=(-2, -1)).astype(np.float64)
    n_gt = gb.sum(axis=(-2, -1)).astype(np.float64)
    fg_match = (fb & dilate_disk(gb, radius)).sum(axis=(-2, -1))
    gt_match = (gb & dilate_disk(fb, radius)).sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(n_fg > 0, fg_match / n_fg, 1.0)
        recall = np.where(n_gt > 0, gt_match / n_gt, 1.0)
    precision = np.where((n_fg > 0) & (n_gt == 0), 0.0, precision)
    recall = np.where((n_fg == 0) & (n_gt > 0), 0.0, recall)
    denom = precision + recall
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom == 0, 0.0, 2 * precision * recall / np.where(denom == 0, 1, denom))


def statistics(per_frame):
    """(Mean, Recall, Decay) of one object's per-frame values (official ``db_statistics``)."""
    x = np.asarray(per_frame, np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        mean = np.nanmean(x)
        recall = np.nanmean(x > 0.5)
        ids = (np.round(np.linspace(1, len(x), 5) + 1e-10) - 1).astype(np.uint8)
        bins = [x[ids[i]: ids[i + 1] + 1] for i in range(4)]
        decay = np.nanmean(bins[0]) - np.nanmean(bins[3])
    return float(mean), float(recall), float(decay)


def evaluate_sequence(gt_labels, res_labels):
    """gt_labels, res_labels (T, H, W) index maps (255 = void in gt) -> {obj_id: (J per frame, F per frame)}
    over frames 1 … T−2. Objects are 1 … max id of the first ground-truth frame (as the official code)."""
    gt_labels = np.asarray(gt_labels)
    void = gt_labels == 255
    gt = np.where(void, 0, gt_labels)
    n_obj = int(gt[0].max())
    res = np.asarray(res_labels)
    out = {}
    for k in range(1, n_obj + 1):
        g, r, v = gt[1:-1] == k, res[1:-1] == k, void[1:-1]
        out[k] = (jaccard(g, r, v), boundary_f(g, r, v))
    return out


def _read_split(root, split):
    path = os.path.join(root, "ImageSets", "2017", f"{split}.txt")
    if not os.path.isfile(path):
        raise DatasetError(f"{path}: split file not found")
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def _read_labels(folder, names, what):
    frames = []
    for n in names:
        p = os.path.join(folder, n)
        if not os.path.isfile(p):
            raise DatasetError(f"{p}: missing {what} frame")
        frames.append(read_index_png(p))
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise DatasetError(f"{folder}: frames of different sizes {sorted(shapes)}")
    return np.stack(frames)


def ground_truth_complete(ann_root, sequences) -> bool:
    """Whether every frame of every sequence (``Video`` objects) has its ground-truth PNG under
    ``ann_root/<seq>/`` (``ann_root`` None: in ``seq.annotations``): True if all do, False if only first frames
    are annotated (e.g. DAVIS test-dev, nothing to score). Anything in between is a DatasetError naming the first
    missing file."""
    missing, first_only = [], True
    for seq in sequences:
        if ann_root is None:     # annotations known to the sequence (a prepared TFDS split)
            paths = [os.path.splitext(f)[0] + ".png" for f in seq.frames]
            absent = [p for i, p in enumerate(paths) if i not in seq.annotations]
        else:
            paths = [os.path.join(ann_root, seq.name, n + ".png") for n in seq.frame_names()]
            absent = [p for p in paths if not os.path.isfile(p)]
        missing += absent
        first_only &= absent == paths[1:]
    if not missing:
        return True
    if first_only:
        return False
    raise DatasetError(f"{missing[0]}: missing ground-truth annotation ({len(missing)} missing in all; J&F needs "
                       "every frame's — pass --no_score to segment without scoring)")


MIN_SCORED_FRAMES = 3


def evaluate_folder(davis_root, results_dir, split="val", sequences=None, resolution="480p"):
    """Score a results folder (``<seq>/<frame>.png`` index PNGs) against DAVIS ground truth.
    Returns {sequence: {obj_id: {"J": per-frame, "F": per-frame}}}. J and F are measured on frames 1 … T−2, so
    sequences shorter than 3 frames have nothing to score: they are left out with a warning that counts them
    (and if no sequence is left, that is an error, never a NaN summary)."""
    ann_root = os.path.join(davis_root, "Annotations", resolution)
    ground_truth = []
    for seq in sequences or _read_split(davis_root, split):
        ann_dir = os.path.join(ann_root, seq)
        if not os.path.isdir(ann_dir):
            raise DatasetError(f"{ann_dir}: no annotations for sequence {seq}")
        names = sorted(n[:-4] for n in os.listdir(ann_dir) if n.endswith(".png"))
        ground_truth.append((seq, names, lambda d=ann_dir, n=names: _read_labels(d, [x + ".png" for x in n],
                                                                                  "annotation")))
    return evaluate_results(results_dir, ground_truth, ann_root)


def evaluate_results(results_dir, ground_truth, where):
    """Score ``<results_dir>/<seq>/<frame>.png`` against ``ground_truth``: [(sequence, frame names,
    () -> (T, H, W) ground-truth labels)] (from a DAVIS folder, or from a prepared TFDS split). ``where`` names the
    ground truth in messages. Same result and rules as :func:`evaluate_folder`."""
    scores, short = {}, []
    for seq, names, load in ground_truth:
        if len(names) < MIN_SCORED_FRAMES:
            short.append(seq)
            continue
        gt = load()
        res = _read_labels(os.path.join(results_dir, seq), [n + ".png" for n in names], "result")
        if res.shape != gt.shape:
            raise DatasetError(f"{os.path.join(results_dir, seq)}: result size {res.shape[1:]} differs from the "
                               f"annotations {gt.shape[1:]}")
        scores[seq] = {k: {"J": j, "F": f} for k, (j, f) in evaluate_sequence(gt, res).items()}
    if short:
        print(f"warning: {len(short)} of {len(ground_truth)} sequences not scored (fewer than {MIN_SCORED_FRAMES} "
              f"annotated frames; J&F uses frames 1 … T-2): {', '.join(short)}", file=sys.stderr)
    if not any(scores.values()):
        raise DatasetError(f"{where}: nothing to score (no sequence with {MIN_SCORED_FRAMES} or more annotated "
                           "frames and an object in its first frame)")
    return scores


def static_baseline(root, out_dir, split="val", resolution="480p"):
    """The baseline that repeats the first-frame annotation on every frame (results folder for the metrics)."""
    from lwl_jax.data.davis import davis_sequences, write_index_png

    for seq in davis_sequences(root, split, resolution, first_frame_only=True):
        first = read_index_png(seq.annotations[0])
        os.makedirs(os.path.join(out_dir, seq.name), exist_ok=True)
        for name in seq.frame_names():
            write_index_png(os.path.join(out_dir, seq.name, name + ".png"), first)


def summarize(scores):
    """(global row dict, per-object rows) in the official CSV layout."""
    per_obj, jm, jr, jd, fm, fr, fd = [], [], [], [], [], [], []
    for seq, objs in scores.items():
        for k, v in objs.items():
            j, f = statistics(v["J"]), statistics(v["F"])
            jm.append(j[0]), jr.append(j[1]), jd.append(j[2]), fm.append(f[0]), fr.append(f[1]), fd.append(f[2])
            per_obj.append({"Sequence": f"{seq}_{k}", "J-Mean": j[0], "F-Mean": f[0]})
    g = {"J&F-Mean": (np.mean(jm) + np.mean(fm)) / 2, "J-Mean": np.mean(jm), "J-Recall": np.mean(jr),
         "J-Decay": np.mean(jd), "F-Mean": np.mean(fm), "F-Recall": np.mean(fr), "F-Decay": np.mean(fd)}
    return {k: float(v) for k, v in g.items()}, per_obj


def _write_csv(path, rows):
    cols = list(rows[0])
    tmp = path + ".tmp"
    with writing(path):
        with open(tmp, "w") as f:
            f.write(",".join(cols) + "\n")
            for r in rows:
                f.write(",".join(r[c] if isinstance(r[c], str) else f"{r[c]:.3f}" for c in cols) + "\n")
        os.replace(tmp, path)


def write_results(results_dir, split, scores):
    g, per_obj = summarize(scores)
    _write_csv(os.path.join(results_dir, f"global_results-{split}.csv"), [g])
    _write_csv(os.path.join(results_dir, f"per-sequence_results-{split}.csv"), per_obj)
    return g, per_obj


def _main(argv):
    p = argparse.ArgumentParser(prog="python -m lwl_jax.metrics", description=__doc__.splitlines()[0])
    p.add_argument("davis_root")
    p.add_argument("results_dir")
    p.add_argument("--split", default="val")
    p.add_argument("--json", help="write per-object mean J and F as {sequence: {object: {J, F}}}")
    a = p.parse_args(argv)
    scores = evaluate_folder(a.davis_root, a.results_dir, a.split)
    g, _ = write_results(a.results_dir, a.split, scores)
    print("  ".join(f"{k} {v:.3f}" for k, v in g.items()))
    if a.json:
        out = {s: {str(k): {"J": float(np.nanmean(v["J"])), "F": float(np.nanmean(v["F"]))} for k, v in o.items()}
               for s, o in scores.items()}
        with open(a.json + ".tmp", "w") as f:
            json.dump(out, f, indent=1)
        os.replace(a.json + ".tmp", a.json)
    return 0


def main(argv=None) -> int:
    return run(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
