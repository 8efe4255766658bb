"""TFDS datasets (issue: TFDS): both builders prepared from small folders in the real layouts with TensorFlow
unimportable; every example equals the raw-folder readers'; training and evaluation from TFDS equal the same
from the folders; kill -9 resume from the TFDS source is exact; bad input is one line or a counted skip, and an
interrupted preparation is never read."""
import json
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from lwl_jax.data.davis import davis_sequences
from lwl_jax.data.vos_train import davis_train, split_ids, youtubevos_train
from lwl_jax.data.youtubevos import youtubevos_sequences
from tests.helpers.evaluation import REPO, run_eval
from tests.helpers.train import SMALL_NET, kill_9_then_rerun
from tests.helpers.vos_files import make_davis, make_youtubevos, write_davis_train, write_youtubevos_train

# the project's environment has no TensorFlow (it is in no requirement); the run below records whether it could
# be imported at all and which of its modules (and PyTorch's) the TFDS path loaded
NO_TENSORFLOW = r"""
import importlib.util, sys
TF_INSTALLED = importlib.util.find_spec("tensorflow") is not None
"""
PREPARE_AND_READ = NO_TENSORFLOW + r"""
import json
sys.path.insert(0, sys.argv[4])
from lwl_jax.data.prepare_tfds import main
yt, dv, out = sys.argv[1:4]
assert main(["youtube_vos_2019", "--manual_dir", yt, "--data_dir", out]) == 0
assert main(["davis_2017", "--manual_dir", dv, "--data_dir", out]) == 0
from lwl_jax.data.tfds.reader import Source, eval_sequences, train_sequences
from lwl_jax.training.inputs import open_tfds_datasets
import ml_collections
sets = open_tfds_datasets(ml_collections.ConfigDict(dict(tfds_dir=out, weights={})))
sets[0][0][0].load(0), sets[1][0][0].load(0)
seq = eval_sequences(Source("davis_2017", "val", out, "480p"))[0]
seq.load_frame(0), seq.load_annotation(0, (seq.frame_size(0)))
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "torch"))
print("MODULES " + json.dumps([TF_INSTALLED, loaded]))
"""


def _folders(root):
    yt, dv = root / "yt", root / "davis"
    write_youtubevos_train(str(yt), split_ids("jjtrain")[:3] + split_ids("jjvalid")[:2])
    make_youtubevos(yt)
    write_davis_train(str(dv), ["bear", "boat"])
    make_davis(dv)
    return yt, dv


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """(YouTube-VOS folder, DAVIS folder, TFDS data_dir, modules imported), prepared in a process where
    TensorFlow cannot be imported."""
    root = tmp_path_factory.mktemp("tfds")
    yt, dv = _folders(root)
    res = subprocess.run([sys.executable, "-c", PREPARE_AND_READ, str(yt), str(dv), str(root / "tfds"), REPO],
                         capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stderr[-3000:]
    modules = json.loads(next(x for x in res.stdout.splitlines() if x.startswith("MODULES "))[8:])
    return yt, dv, str(root / "tfds"), modules


def test_prepared_without_tensorflow(prepared):
    tf_installed, modules = prepared[3]
    assert not tf_installed           # as in the project's requirements: TensorFlow is not even installed
    assert modules == []              # and neither TensorFlow nor PyTorch was imported on the TFDS path


def _same_training_sequences(a, b):
    assert [s.name for s in a] == [s.name for s in b]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.visible, y.visible)
        for i in range(len(y.frames)):
            (ia, ma), (ib, mb) = x.load(i), y.load(i)
            np.testing.assert_array_equal(ia, ib, err_msg=f"{y.name} frame {i}")    # bit-identical JPEG decode
            np.testing.assert_array_equal(ma, mb, err_msg=f"{y.name} mask {i}")


def _same_eval_sequences(a, b):
    assert [s.name for s in a] == [s.name for s in b]
    for x, y in zip(a, b):
        assert x.frame_names() == y.frame_names() and sorted(x.annotations) == sorted(y.annotations)
        hw = y.check_frame_sizes()
        assert x.check_frame_sizes() == hw
        for i in range(len(y.frames)):
            np.testing.assert_array_equal(x.load_frame(i), y.load_frame(i))
        for i in y.annotations:
            np.testing.assert_array_equal(x.load_annotation(i, hw), y.load_annotation(i, hw))


def test_every_example_equals_the_folder_readers(prepared):
    from lwl_jax.data.tfds.reader import Source, eval_sequences, train_sequences

    yt, dv, data_dir, _ = prepared
    for split in ("jjtrain", "jjvalid"):
        _same_training_sequences(train_sequences("youtubevos", Source("youtube_vos_2019", split, data_dir)),
                                 youtubevos_train(str(yt), split))
    _same_training_sequences(train_sequences("davis", Source("davis_2017", "train", data_dir, "480p")),
                             davis_train(str(dv)))
    _same_eval_sequences(eval_sequences(Source("davis_2017", "val", data_dir, "480p")),
                         davis_sequences(str(dv), "val"))
    for split, all_frames in (("valid", False), ("valid_all_frames", True)):
        tf_seqs = eval_sequences(Source("youtube_vos_2019", split, data_dir))
        pairs = youtubevos_sequences(str(yt), "valid", all_frames=all_frames)
        _same_eval_sequences(tf_seqs, [s for s, _ in pairs])
        assert [s.written for s in tf_seqs] == [list(w) for _, w in pairs]


def test_preparing_again_is_a_no_op(prepared, capsys):
    from lwl_jax.data.prepare_tfds import main

    yt, _, data_dir, _ = prepared
    folder = os.path.join(data_dir, "youtube_vos_2019", "1.0.0")
    before = {n: os.stat(os.path.join(folder, n)).st_mtime_ns for n in os.listdir(folder)}
    assert main(["youtube_vos_2019", "--manual_dir", str(yt), "--data_dir", data_dir]) == 0
    assert {n: os.stat(os.path.join(folder, n)).st_mtime_ns for n in os.listdir(folder)} == before
    assert "jjtrain: 3 videos" in capsys.readouterr().out


def _train_args(data):
    return ["--config", "configs/stage1.py", "--no_progress", *SMALL_NET, *data, "--config.data.height=48",
            "--config.data.width=80", "--config.batch_size=2", "--config.init_checkpoint=",
            "--config.init_scheme=from_scratch", "--config.log_every=1", "--config.validation.every=0"]


def test_three_steps_from_tfds_equal_three_steps_from_the_folders(prepared, tmp_path):
    from flax.traverse_util import flatten_dict

    from lwl_jax.config_util import load_config
    from lwl_jax.training.trainer import train

    yt, dv, data_dir, _ = prepared
    sources = {"folders": [f"--config.data.youtubevos_root={yt}", f"--config.data.davis_root={dv}"],
               "tfds": ["--config.data.source=tfds", f"--config.data.tfds_dir={data_dir}",
                        "--config.data.youtubevos_root=/nonexistent", "--config.data.davis_root=/nonexistent"]}
    # the TFDS run also validates on the prepared jjvalid split (the tracker on TFDS sequences)
    validation = ["--config.validation.every=3", "--config.validation.source=tfds",
                  f"--config.validation.tfds_dir={data_dir}", "--config.validation.num_sequences=1",
                  "--config.validation.tracker_overrides=('--config.image_sample_size=(48, 80)',)"]
    params = {}
    for name, data in sources.items():
        args = _train_args(data)[3:] + ["--config.num_steps=3", "--config.data.worker_count=0"]
        args += validation if name == "tfds" else []
        cfg = load_config(os.path.join(REPO, "configs", "stage1.py"), args)
        state = train(cfg, str(tmp_path / name), devices=jax.devices()[:1], progress=False)
        params[name] = {k: np.asarray(v) for k, v in flatten_dict(jax.device_get(state.params)).items()}
    for k, v in params["folders"].items():
        np.testing.assert_array_equal(params["tfds"][k], v, err_msg="/".join(k))
    rows = [json.loads(x) for x in (tmp_path / "tfds" / "metrics.jsonl").read_text().splitlines()]
    losses = [[r["loss"] for r in rows if "loss" in r],
              [json.loads(x)["loss"] for x in (tmp_path / "folders" / "metrics.jsonl").read_text().splitlines()]]
    assert losses[0] == losses[1] and len(losses[0]) == 3
    val = [r for r in rows if "val/J&F" in r]
    assert len(val) == 1 and 0.0 <= val[0]["val/J&F"] <= 1.0


@pytest.mark.slow
def test_kill_9_then_rerun_from_tfds_equals_uninterrupted_run(prepared, tmp_path):
    """kill -9 twice (once possibly mid-save) and a fabricated half-written checkpoint: the re-run from the TFDS
    source (array_record readers in a grain worker process) ends with the uninterrupted run's weights."""
    _, _, data_dir, _ = prepared
    tfds = ["--config.data.source=tfds", f"--config.data.tfds_dir={data_dir}"]
    cmd = [sys.executable, "train.py", *_train_args(tfds), "--config.num_steps=8", "--config.checkpoint_every=1",
           "--config.keep_checkpoints=2", "--config.data.worker_count=1"]
    a, b = kill_9_then_rerun(cmd, tmp_path, 8)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_evaluation_from_tfds_equals_evaluation_from_the_folder(prepared, tmp_path, checkpoint):
    _, dv, data_dir, _ = prepared
    outs = {"folders": tmp_path / "folders", "tfds": tmp_path / "tfds"}
    assert run_eval("--checkpoint", checkpoint[1], "--root", dv, "--out", outs["folders"]) == 0
    assert run_eval("--checkpoint", checkpoint[1], "--source", "tfds", "--tfds_dir", data_dir,
                    "--out", outs["tfds"]) == 0
    for seq in ("alpha", "beta"):
        names = sorted(n for n in os.listdir(outs["folders"] / seq) if n.endswith(".png"))
        assert names == sorted(n for n in os.listdir(outs["tfds"] / seq) if n.endswith(".png")) and names
        for n in names:
            assert (outs["folders"] / seq / n).read_bytes() == (outs["tfds"] / seq / n).read_bytes(), (seq, n)
    for csv in ("global_results-val.csv", "per-sequence_results-val.csv"):
        assert (outs["folders"] / csv).read_text() == (outs["tfds"] / csv).read_text()


def _prepare(*args):
    from lwl_jax.data.prepare_tfds import main

    return main([str(a) for a in args])


def test_bad_input_is_one_line_or_a_counted_skip(tmp_path, capsys):
    from lwl_jax.data.tfds.reader import Source
    from lwl_jax.errors import DatasetError
    from tests.helpers.cli import one_line_error

    data_dir = tmp_path / "tfds"
    assert "missing_folder: manual folder not found" in one_line_error(
        capsys, _prepare("davis_2017", "--manual_dir", tmp_path / "missing_folder", "--data_dir", data_dir))
    # a training video without its annotation folder: skipped and counted
    yt, dv = _folders(tmp_path)
    gone = split_ids("jjtrain")[1]
    shutil.rmtree(yt / "train" / "Annotations" / gone)
    assert _prepare("youtube_vos_2019", "--manual_dir", yt, "--data_dir", data_dir) == 0
    out = capsys.readouterr().out
    assert "jjtrain: 2 videos, 1 skipped:" in out and f"skipped {gone}: " in out and "annotation folder" in out
    # a truncated JPEG of an evaluation split: one line naming it; nothing half-prepared is readable
    jpg = dv / "JPEGImages" / "480p" / "beta" / "00002.jpg"
    good = jpg.read_bytes()
    jpg.write_bytes(good[:len(good) // 3])
    err = one_line_error(capsys, _prepare("davis_2017", "--manual_dir", dv, "--data_dir", data_dir))
    assert str(jpg) in err and "unreadable image" in err
    with pytest.raises(DatasetError, match="is not prepared; run `python -m lwl_jax.data.prepare_tfds davis_2017"):
        Source("davis_2017", "val", str(data_dir), "480p")
    jpg.write_bytes(good)                 # mended: the next run prepares it (the incomplete folder is ignored)
    assert _prepare("davis_2017", "--manual_dir", dv, "--data_dir", data_dir) == 0
    assert len(Source("davis_2017", "val", str(data_dir), "480p")) == 2
    # a training split whose every video is unreadable: one line, not TFDS's "no examples" traceback
    for name in ("bear", "boat"):
        shutil.rmtree(dv / "Annotations" / "480p" / name)
    err = one_line_error(capsys, _prepare("davis_2017", "--manual_dir", dv, "--data_dir", tmp_path / "tfds2"))
    assert "split train: all 2 videos were skipped (first: bear: " in err
