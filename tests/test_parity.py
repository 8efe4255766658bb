"""Numerical parity with the PyTorch reference on the golden fixtures (tests/fixtures, copied from the
reference's fixture folder), through the harness that ``python -m lwl_jax.parity`` runs."""
import json
import os
import shutil

import numpy as np
import pytest

from lwl_jax.parity.cases import CASES, TRACKER_CASES

NON_TRACKER = [c for c in CASES if c not in TRACKER_CASES]


@pytest.mark.parametrize("case", NON_TRACKER + [pytest.param(c, marks=pytest.mark.slow) for c in TRACKER_CASES])
def test_case_within_tolerance(fixtures, case):
    rows = CASES[case](fixtures)
    assert rows, f"case {case} compared nothing"
    bad = [(r.tensor, r.error, r.tolerance) for r in rows if not r.passed]
    assert not bad, bad


def test_every_fixture_case_is_known(fixtures):
    for case in fixtures.cases():
        assert case in CASES or case in TRACKER_CASES, case


def test_weights_match_reference_checksums(fixture_dir, fixtures):
    with open(os.path.join(fixture_dir, "weights_checksum.json")) as f:
        sums = json.load(f)["checksums"]
    sd = fixtures.state_dict("lwl_boxinit")
    assert set(sums) <= set(sd)
    for key, (s, ss) in sums.items():
        a = sd[key].astype(np.float64)
        assert np.isclose(a.sum(), s, rtol=1e-9, atol=1e-9), key
        assert np.isclose((a * a).sum(), ss, rtol=1e-9, atol=1e-9), key


def _run_cli(folder, tmp_path, cases=None):
    from lwl_jax.parity.__main__ import main

    out = tmp_path / "rows.json"
    argv = [str(folder), "--json", str(out)] + (["--cases", cases] if cases else [])
    code = main(argv)
    return code, json.loads(out.read_text())


def test_cli_passes_and_writes_json(fixture_dir, tmp_path):
    code, rows = _run_cli(fixture_dir, tmp_path, "target_features,learner")
    assert code == 0
    assert {"case", "tensor", "error", "tolerance", "passed"} <= set(rows[0])
    assert {r["case"] for r in rows} == {"target_features", "learner"}
    assert all(r["passed"] for r in rows)


def _copy_folder(src, dst, names):
    os.makedirs(dst)
    for n in names:
        shutil.copy(os.path.join(src, n), dst)


def test_cli_fails_on_wrong_reference_and_on_unrun_case(fixture_dir, tmp_path):
    folder = tmp_path / "fx"
    _copy_folder(fixture_dir, folder, ["fixtures_index.json", "manifest_lwl.json", "target_features.npz"])
    d = dict(np.load(folder / "target_features.npz"))
    d["target_features"] = d["target_features"] * 1.01
    np.savez(folder / "target_features.npz", **d)
    code, rows = _run_cli(folder, tmp_path, "target_features")
    assert code == 1 and not rows[0]["passed"]

    index = json.loads((folder / "fixtures_index.json").read_text())
    index["mystery"] = {"file": "target_features.npz"}
    (folder / "fixtures_index.json").write_text(json.dumps(index))
    code, rows = _run_cli(folder, tmp_path, "mystery")
    assert code == 1 and rows == [{"case": "mystery", "status": "unsupported"}]


VMAP_CASES = ["learner", "target_model", "train_forward", "tracker"]


@pytest.mark.slow
@pytest.mark.parametrize("case", VMAP_CASES)
def test_vmap_learner_strategy_passes_the_parity_cases(fixture_dir, case):
    """The learner's accelerator path (one vmapped map over the sequences, what GPUs and TPUs run by default)
    passes the same cases at the same tolerances on CPU, where the default is the per-sequence loop."""
    rows = CASES[case](_vmap_fixtures(fixture_dir))
    assert rows and all(r.passed for r in rows), [(r.tensor, r.error, r.tolerance) for r in rows if not r.passed]


_VMAP = {}


def _vmap_fixtures(folder):
    from lwl_jax.parity.cases import Fixtures

    return _VMAP.setdefault(folder, Fixtures(folder, learner_strategy="vmap"))
