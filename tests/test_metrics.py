"""J and F as the official DAVIS-2017 evaluation defines them, on hand-made cases and against an independent
(scipy) implementation of the boundary measure."""
import math

import numpy as np
import pytest
from scipy import ndimage

from lwl_jax import metrics
from lwl_jax.data.davis import write_index_png


def test_jaccard_conventions():
    a = np.zeros((2, 5, 7), bool)
    b = np.zeros((2, 5, 7), bool)
    b[1, 0, 0] = True
    np.testing.assert_array_equal(metrics.jaccard(a, b), [1.0, 0.0])   # both empty -> 1, one empty -> 0
    a[0, :2] = True
    b[0, 1:3] = True
    assert metrics.jaccard(a[0], b[0]) == pytest.approx(7 / 21)
    void = np.zeros((5, 7), bool)
    void[2] = True                                                        # void pixels are ignored
    assert metrics.jaccard(a[0], b[0], void) == pytest.approx(1.0 / 2.0)


def _reference_f(gt, pred, bound_th=0.008):
    """Independent boundary F: boundaries from neighbour differences, scipy dilation with a disk."""
    def bmap(s):
        s = s.astype(bool)
        pad = np.pad(s, ((0, 1), (0, 1)))
        e, so, se = pad[:-1, 1:], pad[1:, :-1], pad[1:, 1:]
        b = (s != e) | (s != so) | (s != se)
        b[-1, :] = s[-1, :] != e[-1, :]
        b[:, -1] = s[:, -1] != so[:, -1]
        b[-1, -1] = False
        return b
    r = math.ceil(bound_th * math.hypot(*gt.shape))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    disk = yy ** 2 + xx ** 2 <= r * r
    fb, gb = bmap(pred), bmap(gt)
    fd = ndimage.binary_dilation(fb, disk) if fb.any() else fb
    gd = ndimage.binary_dilation(gb, disk) if gb.any() else gb
    nf, ng = fb.sum(), gb.sum()
    if nf == 0 and ng == 0:
        return 1.0
    if nf == 0 or ng == 0:
        return 0.0
    p, rc = (fb & gd).sum() / nf, (gb & fd).sum() / ng
    return 0.0 if p + rc == 0 else 2 * p * rc / (p + rc)


def _cases():
    h, w = 37, 83                                   # non-square frame
    cases = {}
    z = np.zeros((h, w), bool)
    one = z.copy()
    one[10, 20] = True
    one_shift = z.copy()
    one_shift[10, 21] = True
    far = z.copy()
    far[30, 70] = True
    border = z.copy()
    border[:, :5] = True
    border[-3:, :] = True
    full = ~z
    cases["both empty"] = (z, z)
    cases["empty prediction"] = (one, z)
    cases["empty truth"] = (z, one)
    cases["one pixel exact"] = (one, one)
    cases["one pixel shifted"] = (one, one_shift)
    cases["one pixel far"] = (one, far)
    cases["touching the border"] = (border, border[::-1])
    cases["full frame"] = (full, border)
    rng = np.random.default_rng(0)
    for i in range(5):
        cases[f"random {i}"] = (rng.random((h, w)) < 0.3, ndimage.binary_opening(rng.random((h, w)) < 0.6))
    return cases


@pytest.mark.parametrize("name,pair", list(_cases().items()))
def test_boundary_f_matches_independent_implementation(name, pair):
    gt, pred = pair
    assert metrics.boundary_f(gt, pred) == pytest.approx(_reference_f(gt, pred), abs=1e-12)


def test_boundary_f_known_values():
    cases = _cases()
    assert metrics.boundary_f(*cases["both empty"]) == 1.0
    assert metrics.boundary_f(*cases["empty prediction"]) == 0.0
    assert metrics.boundary_f(*cases["one pixel exact"]) == 1.0
    assert metrics.boundary_f(*cases["one pixel shifted"]) == 1.0     # within the 1-pixel tolerance radius
    assert metrics.boundary_f(*cases["one pixel far"]) == 0.0


def test_dilation_equals_scipy_disk():
    rng = np.random.default_rng(1)
    b = rng.random((3, 40, 57)) < 0.02
    for r in (1, 3, 8):
        yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
        ref = np.stack([ndimage.binary_dilation(f, yy ** 2 + xx ** 2 <= r * r) for f in b])
        np.testing.assert_array_equal(metrics.dilate_disk(b, r), ref)


def test_statistics_mean_recall_decay():
    x = np.array([1.0, 0.9, 0.8, 0.7, 0.2, 0.1, 0.0, 0.4])
    mean, recall, decay = metrics.statistics(x)
    assert mean == pytest.approx(x.mean()) and recall == pytest.approx(4 / 8)
    ids = (np.round(np.linspace(1, 8, 5) + 1e-10) - 1).astype(int)
    assert decay == pytest.approx(x[ids[0]:ids[1] + 1].mean() - x[ids[3]:ids[4] + 1].mean())


def _write_davis(root, seqs):
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("\n".join(seqs) + "\n")


def test_folder_evaluation_and_csv(tmp_path):
    root, res = tmp_path / "DAVIS", tmp_path / "results"
    _write_davis(root, ["seq"])
    ann = root / "Annotations" / "480p" / "seq"
    ann.mkdir(parents=True)
    (res / "seq").mkdir(parents=True)
    rng = np.random.default_rng(0)
    gts, outs = [], []
    for t in range(6):
        g = np.zeros((24, 32), np.uint8)
        g[4:12, 3 + t:13 + t] = 1
        g[15:20, 20:28] = 2
        o = g.copy()
        o[rng.random(g.shape) < 0.1] = 0
        write_index_png(ann / f"{t:05d}.png", g)
        write_index_png(res / "seq" / f"{t:05d}.png", o)
        gts.append(g), outs.append(o)
    scores = metrics.evaluate_folder(root, res, "val")
    gts, outs = np.stack(gts), np.stack(outs)
    for k in (1, 2):
        np.testing.assert_allclose(scores["seq"][k]["J"], metrics.jaccard(gts[1:-1] == k, outs[1:-1] == k))
        assert len(scores["seq"][k]["F"]) == 4
    assert metrics.main([str(root), str(res), "--split", "val", "--json", str(tmp_path / "s.json")]) == 0
    lines = (res / "global_results-val.csv").read_text().splitlines()
    assert lines[0] == "J&F-Mean,J-Mean,J-Recall,J-Decay,F-Mean,F-Recall,F-Decay" and len(lines) == 2
    per = (res / "per-sequence_results-val.csv").read_text().splitlines()
    assert per[0] == "Sequence,J-Mean,F-Mean" and per[1].startswith("seq_1,") and per[2].startswith("seq_2,")


def test_missing_result_frame_is_named(tmp_path, capsys):
    root, res = tmp_path / "DAVIS", tmp_path / "results"
    _write_davis(root, ["seq"])
    ann = root / "Annotations" / "480p" / "seq"
    ann.mkdir(parents=True)
    (res / "seq").mkdir(parents=True)
    for t in range(3):
        write_index_png(ann / f"{t:05d}.png", np.ones((8, 8), np.uint8))
    write_index_png(res / "seq" / "00000.png", np.ones((8, 8), np.uint8))
    assert metrics.main([str(root), str(res)]) == 2
    err = capsys.readouterr().err
    assert "00001.png" in err and "missing result frame" in err
