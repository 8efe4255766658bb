"""Training data: readers of the real on-disk layouts (generated here), the reference's frame sampler, crops and
augmentations, and the grain loader (determinism, resume, process split). Defects are skipped and counted."""
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from lwl_jax.data.coco import coco_train
from lwl_jax.data.davis import DatasetError
from lwl_jax.data.pipeline import Loader, SyntheticSampleBuilder, VOSSampleBuilder, to_network_batch
from lwl_jax.data.processing import ProcessingConfig, crop_window, process, warp
from lwl_jax.data.sampler import sample_frames, usable
from lwl_jax.data.synthetic import SyntheticConfig
from lwl_jax.data.vos_train import davis_train, split_ids, youtubevos_train
from tests.helpers.vos_files import write_coco, write_davis_train, write_youtubevos_train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VIDS = ["a0000001", "b0000002", "c0000003", "d0000004", "e0000005"]


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("vos")
    yt, dv, coco = str(base / "ytvos"), str(base / "davis"), str(base / "coco")
    write_youtubevos_train(yt, VIDS, short=("d0000004",), corrupt=("b0000002",), missing_annotation=("c0000003",))
    write_davis_train(dv, ["bear", "swan"], corrupt=("swan",))
    write_coco(coco)
    split = str(base / "split.txt")
    with open(split, "w") as f:
        f.write("\n".join(VIDS + ["notthere1"]) + "\n")
    return {"yt": yt, "davis": dv, "coco": coco, "split": split}


def test_bundled_splits_are_the_papers():
    train, valid = split_ids("jjtrain"), split_ids("jjvalid")
    assert len(valid) == 300 and len(train) == 3171
    assert not set(train) & set(valid)
    assert "0cfe974a89" in valid          # the id the paper's text misprints as Ocfe974a89


def test_sampler_rules():
    rng = np.random.default_rng(0)
    visible = np.zeros(60, bool)
    visible[[3, 5, 9, 10, 11, 20, 30, 40, 41, 50]] = True
    for _ in range(200):
        ids = sample_frames(rng, visible, num_test=3, max_gap=10)
        assert len(ids) == 4 and all(visible[i] for i in ids)
        assert ids[1:] == sorted(ids[1:]) and ids[0] < ids[1]
        assert ids[0] <= 60 - 3
    assert not usable(np.ones(8, bool)) and usable(np.ones(9, bool))
    assert sample_frames(rng, np.ones(8, bool)) is None


def test_readers_single_object_mode(roots):
    seqs = youtubevos_train(roots["yt"], roots["split"])
    assert {s.video for s in seqs} == set(VIDS)      # the split's id absent from meta.json is ignored
    s = seqs[0]
    assert len(s.frames) == len(s.visible) == 12 and s.visible.dtype == bool
    image, mask = s.load(int(np.nonzero(s.visible)[0][0]))
    assert image.shape == (72, 120, 3) and mask.dtype == bool and mask.any()
    dseqs = davis_train(roots["davis"])
    assert {d.video for d in dseqs} == {"bear", "swan"}
    coco = coco_train(roots["coco"])
    assert len(coco) == 3                          # the crowd (RLE) instance is skipped
    img, m = coco[0].load(0)
    assert m.sum() == pytest.approx(51 * 41, rel=0.1)


def test_wrong_roots_name_path_and_config_key(tmp_path):
    with pytest.raises(DatasetError, match=r"nowhere.*data\.youtubevos_root"):
        youtubevos_train(str(tmp_path / "nowhere"))
    with pytest.raises(DatasetError, match=r"ImageSets.*data\.davis_root"):
        davis_train(str(tmp_path))
    with pytest.raises(DatasetError, match=r"instances_train2017.json.*data\.coco_root"):
        coco_train(str(tmp_path))


def test_wrong_root_fails_fast_from_train_py(tmp_path):
    t0 = time.time()
    res = subprocess.run([sys.executable, "train.py", "--config", "configs/stage1.py", "--workdir",
                          str(tmp_path / "run"), f"--config.data.youtubevos_root={tmp_path}/missing_ytvos"],
                         capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 2
    assert "missing_ytvos" in res.stderr and "data.youtubevos_root" in res.stderr
    assert "Traceback" not in res.stderr
    assert time.time() - t0 < 60


def test_crop_inside_major_and_warp():
    x0, y0, cw, ch = crop_window(np.array([100.0, 50, 40, 30]), (200, 300), (48, 80), 5.0)
    assert cw / ch == pytest.approx(80 / 48, rel=0.02)
    assert 0 <= x0 and x0 + cw <= 300 + 1e-6 and 0 <= y0 and y0 + ch <= 200 + 1e-6
    img = np.random.default_rng(0).integers(0, 255, (20, 30, 3)).astype(np.uint8)
    ident = np.array([[1.0, 0, 0], [0, 1, 0]])
    np.testing.assert_allclose(warp(img, ident, (20, 30)), img, atol=1e-4)
    assert np.array_equal(warp(img[..., 0], ident, (20, 30), nearest=True), img[..., 0])


def test_process_keeps_target_in_crop():
    rng = np.random.default_rng(0)
    frames = [np.full((100, 160, 3), 100, np.uint8) for _ in range(4)]
    masks = [np.zeros((100, 160), bool) for _ in range(4)]
    for m in masks:
        m[40:60, 70:100] = True
    cfg = ProcessingConfig(output_size=(48, 80))
    images, labels = process(rng, frames, masks, 1, cfg)
    assert images.shape == (4, 48, 80, 3) and labels.shape == (4, 48, 80)
    assert set(np.unique(labels)) <= {0.0, 1.0}
    assert labels[0].sum() > 20                    # the train frame's target is in its crop


def _builder(roots, **kw):
    sets = [youtubevos_train(roots["yt"], roots["split"]), davis_train(roots["davis"])]
    return VOSSampleBuilder(sets, [6, 1], ProcessingConfig(output_size=(48, 80)), seed=kw.get("seed", 0))


def test_defects_are_skipped_and_counted(roots):
    b = _builder(roots)
    samples = [b(i) for i in range(40)]
    for s in samples:
        assert s["images"].shape == (4, 48, 80, 3) and s["masks"].shape == (4, 48, 80)
        assert np.isfinite(s["images"]).all()
    assert sum(int(s["skipped_bad"]) for s in samples) > 0      # corrupt JPEGs, the missing annotation
    assert sum(int(s["skipped_short"]) for s in samples) > 0    # the 3-frame video
    again = b(7)
    np.testing.assert_array_equal(again["images"], samples[7]["images"])   # a pure function of (seed, index)


def test_loader_resume_and_process_split():
    builder = SyntheticSampleBuilder(3, SyntheticConfig(48, 80, 10))
    one = Loader(builder, 4, num_steps=3)
    batches = [next(one) for _ in range(3)]
    assert batches[0]["images"].shape == (4, 4, 48, 80, 3)
    halves = [Loader(builder, 4, num_steps=3, process_index=p, process_count=2) for p in range(2)]
    for b in batches:
        joined = np.concatenate([next(h)["images"] for h in halves])
        np.testing.assert_array_equal(joined, b["images"])
    fresh = Loader(builder, 4, num_steps=3)
    next(fresh)
    state = fresh.state()
    resumed = Loader(builder, 4, num_steps=3)
    resumed.restore(state)
    np.testing.assert_array_equal(next(resumed)["images"], batches[1]["images"])
    net = to_network_batch(batches[0])
    assert net["train_images"].shape == (1, 4, 48, 80, 3) and net["test_masks"].shape == (3, 4, 48, 80)


def test_loader_with_worker_processes_restores(roots):
    b = _builder(roots)
    a = Loader(b, 2, num_steps=4, worker_count=2)
    first = [next(a) for _ in range(2)]
    state = a.state()
    third = next(a)
    r = Loader(b, 2, num_steps=4, worker_count=2)
    r.restore(state)
    np.testing.assert_array_equal(next(r)["images"], third["images"])
    inproc = Loader(b, 2, num_steps=4)
    np.testing.assert_array_equal(next(inproc)["images"], first[0]["images"])
    with pytest.raises(ValueError, match="worker_count=2"):
        inproc.restore(state)


def test_synthetic_samples_are_target_centred_crops_that_keep_the_target():
    """Synthetic training samples go through the real processing: crops of 5× the target around its (jittered)
    box, so the target is in every frame, small in the crop and near its centre on average; a pure function of
    (seed, index)."""
    builder = SyntheticSampleBuilder(0, SyntheticConfig(96, 160, 10), ProcessingConfig(output_size=(48, 80)))
    samples = [builder(i) for i in range(10)]
    centres, fractions = [], []
    for s in samples:
        assert s["images"].shape == (4, 48, 80, 3) and s["masks"].shape == (4, 48, 80)
        for m in s["masks"]:
            assert m.any()                                   # never cropped away
            ys, xs = np.nonzero(m)
            centres.append((ys.mean() / 48, xs.mean() / 80))
            fractions.append(m.mean())
    assert np.all(np.abs(np.mean(centres, axis=0) - 0.5) < 0.15)
    assert 0.005 < np.median(fractions) < 0.15               # about 1/25 of the crop, as the tracker's search area
    np.testing.assert_array_equal(builder(3)["images"], samples[3]["images"])


def test_quickstart_samples_are_crops_around_the_target_from_training_styles_only(monkeypatch):
    """configs/synthetic.py's own sampler (at a small size): crops of 2.5× the target centred on its jittered box
    (on average on the target; the reference's jitter, scaled with the crop, moves single crops far), the target
    never cropped away, and the videos drawn never show a held-out shape, texture or background family."""
    from lwl_jax.config_util import load_config
    from lwl_jax.data import pipeline
    from lwl_jax.data.synthetic import HELD_OUT, scene_families
    from lwl_jax.training.inputs import sample_builder

    cfg = load_config(os.path.join(REPO, "configs", "synthetic.py"), [
        "--config.data.height=48", "--config.data.width=80", "--config.data.video_height=96",
        "--config.data.video_width=160"])
    drawn = []
    real = pipeline.SyntheticVideo

    def record(index, seed, video):
        drawn.append((index, seed, video))
        return real(index, seed, video)

    monkeypatch.setattr(pipeline, "SyntheticVideo", record)
    builder = sample_builder(cfg)
    centres = []
    for i in range(24):
        s = builder(i)
        assert s["images"].shape == (4, 48, 80, 3)
        for m in s["masks"]:
            assert m.sum() >= 4                                # never cropped away
            ys, xs = np.nonzero(m)
            centres.append((ys.mean() / 48, xs.mean() / 80))
    assert np.all(np.abs(np.mean(centres, axis=0) - 0.5) < 0.1)
    held = {what: set(f) for what, f in HELD_OUT.items()}
    for index, seed, video in drawn:
        fam = scene_families(index, seed, video)
        assert fam["background"] not in held["background"] and not fam["shape"] & held["shape"] \
            and not fam["texture"] & held["texture"], fam


def test_synthetic_videos_reused_across_batches_give_the_same_samples_in_any_order():
    """data.reuse: a batch's samples come from different videos and each video serves `reuse` batches in a row;
    a sample is the same whether its video was kept from an earlier sample or drawn afresh."""
    from lwl_jax.errors import ConfigError

    cfg, crops = SyntheticConfig(48, 80, 12, style="train"), ProcessingConfig(output_size=(32, 48))
    kept = SyntheticSampleBuilder(0, cfg, crops, reuse=3, group=2)
    assert [kept.video_number(i) for i in range(8)] == [0, 1, 0, 1, 0, 1, 2, 3]
    in_order = [kept(i) for i in range(8)]
    fresh = SyntheticSampleBuilder(0, cfg, crops, reuse=3, group=2)
    for i in (5, 2, 7):
        np.testing.assert_array_equal(fresh(i)["images"], in_order[i]["images"])
    assert not np.array_equal(in_order[0]["images"], in_order[2]["images"])   # another crop of the same video
    with pytest.raises(ConfigError, match="data.style"):
        SyntheticSampleBuilder(0, SyntheticConfig(48, 80, 12), crops, reuse=2)
