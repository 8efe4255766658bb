"""python -m lwl_jax.segment on a generated clip: masks, boxes.json, overlay video; from a mask or boxes."""
import json
import os

import numpy as np
from PIL import Image

from lwl_jax.data.davis import read_index_png, write_index_png
from lwl_jax.data.video_io import write_video
from tests.helpers.evaluation import SMALL


def _frame_folder(tmp_path, frames, pattern):
    fdir = tmp_path / "frames"
    fdir.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(fdir / pattern.format(i))
    return fdir


def _clip(tmp_path, n=5, h=64, w=96):
    rng = np.random.default_rng(3)
    frames = [(rng.random((h, w, 3)) * 255).astype(np.uint8) for _ in range(n)]
    mask = np.zeros((h, w), np.uint8)
    mask[10:30, 10:40] = 4
    mask[35:60, 50:90] = 9
    return frames, mask


def test_segment_video_from_mask(tmp_path, checkpoint):
    from lwl_jax.segment import main

    frames, mask = _clip(tmp_path)
    video = write_video(str(tmp_path / "clip"), frames)
    write_index_png(tmp_path / "first.png", mask)
    out = tmp_path / "out"
    assert main(["--video", video, "--mask", str(tmp_path / "first.png"), "--checkpoint", checkpoint[1],
                 "--out", str(out)] + SMALL) == 0
    masks = sorted(os.listdir(out / "masks"))
    assert masks == [f"{i:05d}.png" for i in range(5)]
    first = read_index_png(out / "masks" / "00000.png")
    assert set(np.unique(first)) <= {0, 4, 9} and (first == 9).any()
    boxes = json.loads((out / "boxes.json").read_text())
    assert set(boxes["00000"]) == {"4", "9"} and len(boxes["00004"]["4"]) == 4
    vids = [f for f in os.listdir(out) if f.startswith("overlay")]
    assert vids in (["overlay.mp4"], ["overlay.gif"])


def test_segment_frames_from_boxes(tmp_path, checkpoint):
    from lwl_jax.segment import main

    frames, _ = _clip(tmp_path)
    fdir = _frame_folder(tmp_path, frames, "img{:03d}.jpg")
    out = tmp_path / "out"
    assert main(["--frames", str(fdir), "--box", "10,10,30,20", "--box", "50,35,40,25", "--checkpoint",
                 checkpoint[0], "--out", str(out)] + SMALL) == 0
    assert sorted(os.listdir(out / "masks"))[0] == "img000.png"
    assert set(json.loads((out / "boxes.json").read_text())["img004"]) == {"1", "2"}
    # a mask network cannot start from boxes
    assert main(["--frames", str(fdir), "--box", "10,10,30,20", "--checkpoint", checkpoint[1],
                 "--out", str(out)] + SMALL) == 2


def test_visualize_writes_encoding_grid(tmp_path, checkpoint):
    from lwl_jax.visualize import main

    frames, mask = _clip(tmp_path)
    fdir = _frame_folder(tmp_path, frames, "{:05d}.jpg")
    write_index_png(tmp_path / "first.png", mask)
    out = tmp_path / "fig.png"
    assert main(["--frames", str(fdir), "--mask", str(tmp_path / "first.png"), "--checkpoint", checkpoint[1],
                 "--object", "9", "--num_frames", "2", "--out", str(out)] + SMALL) == 0
    with Image.open(out) as im:
        w, h = im.size
        arr = np.array(im.convert("RGB"))
    assert h > 5 * 8 and w > 150                 # 3 first-frame rows + 2 rows per later frame
    assert arr.std() > 10                          # not blank
