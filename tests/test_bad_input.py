"""Bad input of each class a user met ends in one ``error:`` line naming the file (exit 2), a counted warning
where skipping is right, and never a NaN summary or a false claim (issue: bad input)."""
import os
import shutil
import signal
import threading
import time

import numpy as np
import pytest
from PIL import Image

from tests.helpers.cli import one_line_error
from tests.helpers.evaluation import REPO, SMALL, eval_error, run_eval
from tests.helpers.vos_files import H, W, make_davis


def _segment(*args):
    from lwl_jax.segment import main

    return main(list(map(str, args)) + SMALL)


def _segment_error(capsys, *args):
    return one_line_error(capsys, _segment(*args))


def test_frames_of_different_sizes(tmp_path, checkpoint, capsys):
    root = make_davis(tmp_path / "D", n_frames=4, sequences=("s",))
    odd = root / "JPEGImages" / "480p" / "s" / "00002.jpg"
    Image.fromarray(np.zeros((H + 8, W, 3), np.uint8)).save(odd)
    err = eval_error(capsys, "--checkpoint", checkpoint[1], "--root", root, "--out", tmp_path / "o")
    assert str(odd) in err and f"frame size {W}x{H + 8} differs from the first frame's {W}x{H}" in err
    assert not os.path.exists(tmp_path / "o" / "s")                      # failed before any work
    mask = root / "Annotations" / "480p" / "s" / "00000.png"
    err = _segment_error(capsys, "--frames", odd.parent, "--mask", mask, "--checkpoint", checkpoint[1],
                         "--out", tmp_path / "seg")
    assert str(odd) in err and "differs from the first frame's" in err


def test_ground_truth_missing_in_the_middle_or_only_first_frames(tmp_path, checkpoint, capsys):
    root = make_davis(tmp_path / "D", n_frames=4, sequences=("s",))
    ann = root / "Annotations" / "480p" / "s"
    os.remove(ann / "00002.png")
    err = eval_error(capsys, "--checkpoint", checkpoint[1], "--root", root, "--out", tmp_path / "o")
    assert str(ann / "00002.png") in err and "missing ground-truth annotation" in err and "--no_score" in err
    assert run_eval("--checkpoint", checkpoint[1], "--root", root, "--out", tmp_path / "o", "--no_score") == 0
    for t in (1, 3):                       # only the first frame annotated (DAVIS test-dev): segment, say so
        os.remove(ann / f"{t:05d}.png")
    assert run_eval("--checkpoint", checkpoint[1], "--root", root, "--out", tmp_path / "o2") == 0
    assert "J&F not computed" in capsys.readouterr().out
    assert not any(f.endswith(".csv") for f in os.listdir(tmp_path / "o2"))


def test_two_frame_sequence_is_not_scored_and_never_nan(tmp_path, checkpoint, capsys):
    root = make_davis(tmp_path / "D", n_frames=5, sequences=("long", "short"))
    for t in (2, 3, 4):
        os.remove(root / "JPEGImages" / "480p" / "short" / f"{t:05d}.jpg")
        os.remove(root / "Annotations" / "480p" / "short" / f"{t:05d}.png")
    assert run_eval("--checkpoint", checkpoint[1], "--root", root, "--out", tmp_path / "o") == 0
    captured = capsys.readouterr()
    assert "warning: 1 of 2 sequences not scored" in captured.err and "short" in captured.err
    csv = (tmp_path / "o" / "global_results-val.csv").read_text()
    assert "nan" not in csv.lower() and "J&F-Mean" in csv
    per_seq = (tmp_path / "o" / "per-sequence_results-val.csv").read_text()
    assert "long_" in per_seq and "short_" not in per_seq
    (root / "ImageSets" / "2017" / "val.txt").write_text("short\n")        # nothing left to score
    err = eval_error(capsys, "--checkpoint", checkpoint[1], "--root", root, "--out", tmp_path / "o3")
    assert "nothing to score" in err
    assert not os.path.exists(tmp_path / "o3" / "global_results-val.csv")


@pytest.mark.parametrize("damage", ["no manifest", "truncated data", "truncated json", "json without kind"])
def test_damaged_converted_checkpoint(tmp_path, checkpoint, capsys, damage):
    ck = tmp_path / "ck"
    shutil.copytree(checkpoint[1], ck)
    if damage == "no manifest":
        os.remove(ck / "variables" / "manifest.ocdbt")
        where = ck / "variables" / "manifest.ocdbt"
    elif damage == "truncated data":
        data = [os.path.join(d, f) for d, _, fs in os.walk(ck / "variables") for f in fs if os.sep + "d" in d]
        for path in data:
            with open(path, "r+b") as f:
                f.truncate(os.path.getsize(path) // 3)
        where = ck / "variables"
    else:
        text = (ck / "lwl_model.json").read_text()
        (ck / "lwl_model.json").write_text(text[: len(text) // 2] if damage == "truncated json"
                                           else text.replace('"kind"', '"kin"'))
        where = ck / "lwl_model.json"
    root = make_davis(tmp_path / "D", n_frames=3, sequences=("s",))
    err = eval_error(capsys, "--checkpoint", ck, "--root", root, "--out", tmp_path / "o")
    assert str(where) in err and ("damaged" in err or "missing" in err), err


def test_unwritable_out(tmp_path, checkpoint, capsys):
    root = make_davis(tmp_path / "D", n_frames=3, sequences=("s",))
    blocker = tmp_path / "file"
    blocker.write_text("a file where the output folder should go")
    err = eval_error(capsys, "--checkpoint", checkpoint[1], "--root", root, "--out", blocker / "out")
    assert str(blocker / "out") in err and "cannot write" in err
    mask = root / "Annotations" / "480p" / "s" / "00000.png"
    err = _segment_error(capsys, "--frames", root / "JPEGImages" / "480p" / "s", "--mask", mask,
                         "--checkpoint", checkpoint[1], "--out", blocker / "seg")
    assert str(blocker) in err and "cannot write" in err
    if os.geteuid() != 0:                  # a read-only folder (root ignores permissions)
        ro = tmp_path / "ro"
        ro.mkdir()
        os.chmod(ro, 0o500)
        err = eval_error(capsys, "--checkpoint", checkpoint[1], "--root", root, "--out", ro)
        assert "cannot write" in err and "Permission denied" in err


def test_full_disk_message():
    import errno

    from lwl_jax.errors import OutputError, writing

    with pytest.raises(OutputError, match=r"^out/x.png: cannot write \(no space left on the device\)$"):
        with writing("out/x.png"):
            raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(OutputError, match="/dev/full"):      # a real full device, written through the helper
        with writing("/dev/full"):
            with open("/dev/full", "wb") as f:
                f.write(b"x" * 65536)
                f.flush()


def test_sigterm_stops_without_claiming_an_export(tmp_path, capsys):
    from tests.helpers.train import TINY
    from train import main

    workdir = tmp_path / "run"

    def stop_once_training_runs():         # the SIGTERM handler is installed before the summaries are opened
        for _ in range(2400):
            if os.path.isdir(workdir / "tensorboard"):
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.02)

    threading.Thread(target=stop_once_training_runs, daemon=True).start()
    code = main(["--config", os.path.join(REPO, "configs", "synthetic.py"), "--workdir", str(workdir),
                 "--no_progress", *TINY, "--config.num_steps=40", "--config.checkpoint_every=1000"])
    out = capsys.readouterr().out
    assert code == 0 and "stopped at step" in out and "of 40" in out and "resume" in out
    assert "exported" not in out and not os.path.exists(workdir / "export")


def _train_error(capsys, *overrides, config="synthetic.py"):
    from train import main

    code = main(["--config", os.path.join(REPO, "configs", config), "--workdir", "/nonexistent/never",
                 "--no_progress", *overrides])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_wrong_overrides_fail_before_any_work(tmp_path, checkpoint, capsys):
    err = _train_error(capsys, "--config.batch_size=abc")
    assert "--config.batch_size=abc" in err and "expected int" in err
    err = _train_error(capsys, "--config.model.dtype=bf16", config="stage2.py")
    assert "model.dtype" in err and "'bf16'" in err
    err = _train_error(capsys, "--config.model.target_stride=4", config="synthetic.py")
    assert "model.target_stride" in err and "expected 8 or 16" in err
    assert "unknown config key 'data.heigth'" in _train_error(capsys, "--config.data.heigth=64")
    assert "unknown config key 'nope'" in _train_error(capsys, "--config.nope.x=1")
    root = make_davis(tmp_path / "D", n_frames=3, sequences=("s",))
    err = eval_error(capsys, "--checkpoint", checkpoint[1], "--root", root, "--out", tmp_path / "o",
                    "--config.net_opt_iter=many")
    assert "--config.net_opt_iter=many" in err and "expected int" in err


def test_our_own_bugs_keep_their_traceback(tmp_path, checkpoint, monkeypatch):
    import lwl_jax.tracking.video as video

    def broken(*args, **kwargs):
        raise ValueError("an internal bug")

    monkeypatch.setattr(video, "segment_sequence", broken)
    root = make_davis(tmp_path / "D", n_frames=3, sequences=("s",))
    with pytest.raises(ValueError, match="an internal bug"):
        run_eval("--checkpoint", checkpoint[1], "--root", root, "--out", tmp_path / "o")
