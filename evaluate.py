"""Segment a dataset with LWL and score it.

    python evaluate.py --config configs/lwl_ytvos.py --checkpoint CKPT --dataset davis --root DAVIS \\
        --split val --out results/davis_val
    python evaluate.py --config configs/lwl_ytvos.py --checkpoint CKPT --dataset youtubevos --root YTVOS \\
        --split valid --out results/ytvos_valid        # also writes results/ytvos_valid/valid_submission.zip
    python evaluate.py --config configs/lwl_ytvos.py --checkpoint CKPT --dataset folder \\
        --frames clip/ --mask clip_first.png --out results/clip
    python evaluate.py --checkpoint CKPT --dataset davis --source tfds --tfds_dir ~/tensorflow_datasets \\
        --split val --out results/davis_val      # from `python -m lwl_jax.data.prepare_tfds davis_2017 ...`

CKPT is a converted folder (``python -m lwl_jax.convert``) or a reference ``.pth``. Any tracker setting can be
overridden: ``--config.net_opt_update_iter=5``. Results are palette PNGs ``<out>/<seq>/<frame>.png`` (written via
a temporary file and rename); finished sequences are skipped when the command is run again. With DAVIS ground
truth, ``global_results-<split>.csv`` and ``per-sequence_results-<split>.csv`` are written in the official layout;
``--pictures N`` adds input | ground truth | prediction strips of the first N sequences (``<out>/pictures/``).
"""
from __future__ import annotations

import argparse
import os
import sys

from lwl_jax.cli import run


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="lwl_ytvos", help="tracker settings: a preset name or a config file")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--dataset", choices=("davis", "youtubevos", "folder"), default="davis")
    p.add_argument("--root", help="dataset root (davis, youtubevos; --source folders)")
    p.add_argument("--source", choices=("folders", "tfds"), default="folders",
                   help="davis, youtubevos: read the dataset's folders (--root) or its prepared TFDS dataset")
    p.add_argument("--tfds_dir", default="~/tensorflow_datasets", help="TFDS data_dir (--source tfds)")
    p.add_argument("--split", help="default: val (davis), valid (youtubevos)")
    p.add_argument("--resolution", default="480p")
    p.add_argument("--sequences", help="comma-separated subset of sequences")
    p.add_argument("--frames", help="frame folder (folder mode)")
    p.add_argument("--mask", help="first-frame palette PNG (folder mode)")
    p.add_argument("--out", required=True)
    p.add_argument("--no_score", action="store_true", help="do not compute J&F even if ground truth exists")
    p.add_argument("--pictures", type=int, default=0, metavar="N",
                   help="davis: also write input | ground truth | prediction strips of the first N sequences to "
                        "<out>/pictures/<seq>.png")
    return p


def _main(argv) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    overrides = [a for a in argv if a.startswith("--config.")]
    args = build_parser().parse_args([a for a in argv if not a.startswith("--config.")])
    from tqdm import tqdm

    from lwl_jax import metrics
    from lwl_jax.config_util import load_config
    from lwl_jax.data.davis import DatasetError, davis_sequences, folder_sequence
    from lwl_jax.data.youtubevos import youtubevos_sequences, zip_submission
    from lwl_jax.errors import writing
    from lwl_jax.tracking.video import load_tracking_model, segment_sequence, sequence_done

    params = load_config(args.config, overrides)
    model, variables = load_tracking_model(args.checkpoint, params)
    subset = args.sequences.split(",") if args.sequences else None
    args.split = args.split or ("valid" if args.dataset == "youtubevos" else "val")
    write = {}
    ground_truth = None
    if args.dataset in ("davis", "youtubevos") and args.source == "tfds":
        seqs, ground_truth = _tfds_sequences(args, subset)
        write = {s.name: set(s.written) for s in seqs} if args.dataset == "youtubevos" else {}
    elif args.dataset in ("davis", "youtubevos") and not args.root:
        raise DatasetError(f"--root is required for --dataset {args.dataset}")
    elif args.dataset == "davis":
        seqs = davis_sequences(args.root, args.split, args.resolution, subset)
    elif args.dataset == "youtubevos":
        pairs = youtubevos_sequences(args.root, args.split, subset)
        seqs = [s for s, _ in pairs]
        write = {s.name: set(w) for s, w in pairs}
    else:
        if not (args.frames and args.mask):
            raise DatasetError("--frames and --mask are required for --dataset folder")
        seqs = [folder_sequence(args.frames, args.mask)]
    todo = [s for s in seqs if not sequence_done(args.out, s)]
    for seq in todo:  # fail in seconds on a bad first frame, annotation or frame size, before any work
        seq.load_annotation(0, seq.load_frame(0).shape[:2])
        seq.check_frame_sizes()
    ann_root = None if ground_truth else os.path.join(args.root or "", "Annotations", args.resolution)
    score = args.dataset == "davis" and not args.no_score and metrics.ground_truth_complete(ann_root, seqs)
    with writing(args.out):
        os.makedirs(args.out, exist_ok=True)
    if len(todo) < len(seqs):
        print(f"resuming: {len(seqs) - len(todo)} of {len(seqs)} sequences already done")
    frames = seconds = 0
    with tqdm(total=sum(len(s.frames) for s in todo), unit="frame", desc="segmenting") as bar:
        for seq in todo:
            bar.set_postfix_str(seq.name)
            _, _, sec = segment_sequence(model, variables, params, seq, args.out, write.get(seq.name),
                                         progress=bar)
            frames += len(seq.frames)
            seconds += sec
    if frames:
        print(f"{frames} frames in {seconds:.1f} s: {frames / seconds:.2f} FPS (compilation included)")
    if args.dataset == "youtubevos":
        zip_path = os.path.join(args.out, f"{args.split}_submission.zip")
        with writing(zip_path):
            zip_submission(args.out, zip_path, [s.name for s in seqs])
        print(f"wrote {zip_path}")
    if score:
        if ground_truth:
            scores = metrics.evaluate_results(args.out, ground_truth(), seqs[0].source.where)
        else:
            scores = metrics.evaluate_folder(args.root, args.out, args.split, [s.name for s in seqs],
                                             args.resolution)
        g, _ = metrics.write_results(args.out, args.split, scores)
        print("  ".join(f"{k} {v:.3f}" for k, v in g.items()))
    elif args.dataset == "davis" and not args.no_score:
        print("ground truth has only first-frame annotations: J&F not computed")
    if args.pictures and args.dataset == "davis":
        from lwl_jax.visualize import comparison_picture

        folder = os.path.join(args.out, "pictures")
        with writing(folder):
            os.makedirs(folder, exist_ok=True)
        for seq in seqs[:args.pictures]:
            path = os.path.join(folder, f"{seq.name}.png")
            with writing(path):
                comparison_picture(seq, args.out).save(path + ".tmp", format="PNG")
                os.replace(path + ".tmp", path)
        print(f"wrote {min(args.pictures, len(seqs))} pictures to {folder}")
    return 0


def _tfds_sequences(args, subset):
    """(sequences, () -> ground truth for metrics.evaluate_results) of a prepared TFDS split. YouTube-VOS
    ``valid`` reads ``valid_all_frames`` when that was prepared (as the folder reader prefers it)."""
    import numpy as np

    from lwl_jax.data.tfds.reader import Source, eval_sequences, open_builder

    if args.dataset == "davis":
        name, config = "davis_2017", {"480p": "480p", "Full-Resolution": "full_resolution"}.get(args.resolution)
        if config is None:
            from lwl_jax.errors import DatasetError

            raise DatasetError(f"--resolution {args.resolution}: davis_2017 has 480p and Full-Resolution")
    split = args.split
    if args.dataset == "youtubevos":
        name, config = "youtube_vos_2019", None
        if split == "valid" and "valid_all_frames" in open_builder(name, args.tfds_dir).info.splits:
            split = "valid_all_frames"
    seqs = eval_sequences(Source(name, split, args.tfds_dir, config), subset)

    def ground_truth():
        out = []
        for seq in seqs:
            idx = sorted(seq.annotations)
            hw = seq.frame_size(0)
            out.append((seq.name, [seq.frame_names()[i] for i in idx],
                        lambda s=seq, i=idx, hw=hw: np.stack([s.load_annotation(k, hw) for k in i])))
        return out

    return seqs, ground_truth


def main(argv=None) -> int:
    return run(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
