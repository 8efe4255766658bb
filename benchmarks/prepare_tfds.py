"""Time and disk of preparing the youtube_vos_2019 TFDS dataset, per 100 videos, on this machine.

    python benchmarks/prepare_tfds.py --videos 100 --out benchmarks/results/prepare_tfds.json

Writes a YouTube-VOS 2019 ``train`` folder in the real layout (``meta.json``, JPEGs at quality 90, palette PNGs)
with ``--videos`` videos of the bundled ``jjtrain`` split, ``--frames`` annotated frames each at
``--height``×``--width`` (YouTube-VOS train: 720p, every 5th frame, ~30 per video), then runs
``python -m lwl_jax.data.prepare_tfds youtube_vos_2019`` on it. The frames come from the built-in synthetic
generator; to keep the benchmark short, ``--unique`` distinct videos are generated and repeated under the other ids
(preparation reads, checks and re-encodes every video on its own, so its cost does not depend on repetition).
Compared: the preparation's wall time and its output size against the raw folder's size.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def _size(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def write_folder(root, ids, frames, height, width, unique):
    from lwl_jax.data.synthetic import SyntheticConfig, generate
    from lwl_jax.data.youtubevos import write_youtubevos_video

    cfg = SyntheticConfig(height, width, frames, 3)
    meta = {"videos": {}}
    made = []
    for n, vid in enumerate(ids):
        if n < unique:
            frames_rgb, labels, _ = generate(n, 0, cfg)
            meta["videos"][vid] = write_youtubevos_video(root, "train", vid, frames_rgb, labels)
            made.append(vid)
        else:
            src = made[n % unique]
            for sub in ("JPEGImages", "Annotations"):
                shutil.copytree(os.path.join(root, "train", sub, src), os.path.join(root, "train", sub, vid))
            meta["videos"][vid] = meta["videos"][src]
    with open(os.path.join(root, "train", "meta.json"), "w") as f:
        json.dump(meta, f)
    # an empty valid split (the builder needs valid/meta.json)
    os.makedirs(os.path.join(root, "valid"))
    with open(os.path.join(root, "valid", "meta.json"), "w") as f:
        json.dump({"videos": {}}, f)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--videos", type=int, default=100)
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--unique", type=int, default=10)
    p.add_argument("--out", default="")
    a = p.parse_args()
    from lwl_jax.data.vos_train import split_ids

    work = tempfile.mkdtemp(prefix="lwl_prepare_tfds_")
    try:
        manual, data_dir = os.path.join(work, "youtubevos"), os.path.join(work, "tfds")
        write_folder(manual, split_ids("jjtrain")[:a.videos], a.frames, a.height, a.width, a.unique)
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-m", "lwl_jax.data.prepare_tfds", "youtube_vos_2019", "--manual_dir",
                              manual, "--data_dir", data_dir], cwd=REPO, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if res.returncode:
            sys.exit(res.stderr[-3000:])
        row = {"videos": a.videos, "frames_per_video": a.frames, "size": f"{a.width}x{a.height}",
               "prepare_s": round(seconds, 1), "prepare_s_per_100_videos": round(seconds * 100 / a.videos, 1),
               "raw_folder_MiB": round(_size(manual) / 2**20, 1), "tfds_MiB": round(_size(data_dir) / 2**20, 1),
               "tfds_MiB_per_100_videos": round(_size(data_dir) / 2**20 * 100 / a.videos, 1),
               "cpu": os.cpu_count()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("| videos | frames/video | size | prepare (s) | s per 100 videos | raw folder (MiB) | TFDS (MiB) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(f"| {row['videos']} | {row['frames_per_video']} | {row['size']} | {row['prepare_s']} | "
          f"{row['prepare_s_per_100_videos']} | {row['raw_folder_MiB']} | {row['tfds_MiB']} |")
    if a.out:
        os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
        with open(a.out + ".tmp", "w") as f:
            json.dump(row, f, indent=1)
        os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
