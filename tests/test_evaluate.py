"""evaluate.py end to end on generated DAVIS-format data: results, official CSVs, late objects, resume after
kill -9, and one-line errors for bad input."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from lwl_jax.data.davis import read_index_png, write_index_png
from tests.helpers.evaluation import REPO, SMALL, eval_error, run_eval
from tests.helpers.vos_files import H, W, make_davis, make_youtubevos


def test_davis_end_to_end_with_late_object_and_resume(tmp_path, checkpoint, capsys):
    root = make_davis(tmp_path / "DAVIS")
    out = tmp_path / "res"
    assert run_eval("--checkpoint", checkpoint[1], "--root", root, "--out", out) == 0
    for seq in ("alpha", "beta"):
        files = sorted(os.listdir(out / seq))
        assert [f for f in files if f.endswith(".png")] == [f"{t:05d}.png" for t in range(6)]
        for f in files:
            if f.endswith(".png"):
                with Image.open(out / seq / f) as im:
                    assert im.mode == "P" and im.size == (W, H)
    late = read_index_png(out / "alpha" / "00003.png")
    assert (late == 1).sum() > 0 and not (read_index_png(out / "alpha" / "00002.png") == 1).any()
    lines = (out / "global_results-val.csv").read_text().splitlines()
    assert lines[0].startswith("J&F-Mean,J-Mean")
    per = (out / "per-sequence_results-val.csv").read_text().splitlines()
    assert [p.split(",")[0] for p in per[1:]] == ["alpha_1", "alpha_2", "alpha_3", "beta_1", "beta_2", "beta_3"]
    assert "FPS" in capsys.readouterr().out
    assert run_eval("--checkpoint", checkpoint[1], "--root", root, "--out", out, "--pictures", "1") == 0
    assert "resuming: 2 of 2" in capsys.readouterr().out
    assert os.listdir(out / "pictures") == ["alpha.png"]          # input | ground truth | prediction, 6 frames
    with Image.open(out / "pictures" / "alpha.png") as im:
        pic = np.asarray(im.convert("RGB")).astype(int)
    assert pic.shape == (3 * (H + 2), 110 + 6 * (W + 2), 3)
    rows = [pic[r * (H + 2):r * (H + 2) + H, 110:] for r in range(3)]
    assert np.abs(rows[1] - rows[0]).sum() > 0 and np.abs(rows[2] - rows[0]).sum() > 0   # masks drawn over it


def test_bad_inputs_give_one_line_errors(tmp_path, checkpoint, capsys):
    root = make_davis(tmp_path / "D", n_frames=3, sequences=("s",))
    ann = root / "Annotations" / "480p" / "s"
    jpg = root / "JPEGImages" / "480p" / "s"
    base = ["--checkpoint", checkpoint[1], "--root", root, "--out", tmp_path / "o"]
    good = read_index_png(ann / "00000.png")

    write_index_png(ann / "00000.png", np.zeros((H, W), np.uint8))
    assert "empty first-frame mask" in eval_error(capsys, *base)
    write_index_png(ann / "00000.png", np.zeros((H + 2, W), np.uint8))
    err = eval_error(capsys, *base)
    assert "00000.png" in err and "does not match" in err
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(ann / "00000.png")
    assert "indexed" in eval_error(capsys, *base)
    write_index_png(ann / "00000.png", good)
    (jpg / "00001.jpg").write_bytes(b"not a jpeg")
    err = eval_error(capsys, *base)
    assert "00001.jpg" in err and "unreadable" in err
    os.remove(jpg / "00001.jpg")
    assert "00001.jpg: missing frame" in eval_error(capsys, *base)
    err = eval_error(capsys, "--config", os.path.join(REPO, "configs", "lwl_boxinit.py"), *base)
    assert "box" in err and checkpoint[1] in err
    assert "not found" in eval_error(capsys, "--checkpoint", checkpoint[1], "--root", tmp_path / "nowhere",
                                    "--out", tmp_path / "o")


@pytest.mark.slow
def test_kill_9_then_rerun_completes_with_valid_pngs(tmp_path, checkpoint):
    root = make_davis(tmp_path / "DAVIS", n_frames=30, sequences=("a", "b", "c"))
    out = tmp_path / "res"
    cmd = [sys.executable, os.path.join(REPO, "evaluate.py"), "--checkpoint", checkpoint[1], "--root", str(root),
           "--out", str(out), "--no_score"] + SMALL
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:
        if (out / "a").is_dir() and len(os.listdir(out / "a")) >= 5:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "c" / ".done").exists(), "the run finished before it could be killed"
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    for seq in ("a", "b", "c"):
        assert (out / seq / ".done").exists()
        pngs = [f for f in os.listdir(out / seq) if f.endswith(".png")]
        assert len(pngs) == 30 and not [f for f in os.listdir(out / seq) if ".tmp" in f]
        for f in pngs:
            with Image.open(out / seq / f) as im:
                im.load()


def test_youtubevos_writes_exactly_the_listed_frames(tmp_path, checkpoint):
    import zipfile
    root = make_youtubevos(tmp_path / "ytvos")
    out = tmp_path / "res"
    assert run_eval("--checkpoint", checkpoint[1], "--dataset", "youtubevos", "--root", root, "--out", out) == 0
    listed = {"v1": ["00000", "00025", "00050"], "v2": ["00000", "00025", "00050"]}
    for vid, size in (("v1", (80, 48)), ("v2", (72, 56))):
        pngs = sorted(f[:-4] for f in os.listdir(out / vid) if f.endswith(".png"))
        assert pngs == listed[vid]
        for p in pngs:
            with Image.open(out / vid / f"{p}.png") as im:
                assert im.size == size and im.mode == "P"
    first7 = read_index_png(out / "v1" / "00025.png")
    assert (first7 == 7).any()
    with zipfile.ZipFile(out / "valid_submission.zip") as zf:
        assert sorted(zf.namelist()) == sorted(f"Annotations/{v}/{p}.png" for v in listed for p in listed[v])
