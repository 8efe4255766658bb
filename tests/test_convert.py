"""Checkpoint import: real torch.save files in the reference's layouts, read without torch; clear errors."""
import os
import pickle
import subprocess
import sys
import zipfile

import jax
import numpy as np
import pytest

from lwl_jax.convert import CheckpointError, UnsafeCheckpointError, torch_pickle
from lwl_jax.convert.checkpoint import load_model, read_checkpoint, to_variables
from lwl_jax.convert.mapping import variables_to_state_dict
from lwl_jax.models.lwl import LWLNet
from tests.helpers.torch_files import write_torch_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def small_sd(small_model):
    _, variables = small_model
    return variables_to_state_dict(variables)


def _assert_same(sd_a, sd_b):
    assert set(sd_a) == set(sd_b)
    for k in sd_a:
        np.testing.assert_array_equal(np.asarray(sd_a[k]), np.asarray(sd_b[k]), err_msg=k)


LOAD_WITHOUT_TORCH = r"""
import sys
sys.modules["torch"] = None          # any `import torch` now fails
try:
    import torch
    raise SystemExit("torch importable")
except ImportError:
    pass
import numpy as np
from lwl_jax.convert.checkpoint import read_checkpoint
ck = read_checkpoint(sys.argv[1])
assert "ltr" not in sys.modules and "dlframework" not in sys.modules
np.savez(sys.argv[2], **ck.state_dict)
print(ck.kind, ck.constructor.get("fun_name"), ck.constructor.get("kwds", {}).get("backbone_type"))
"""


def test_trainer_file_loads_where_torch_cannot_be_imported(tmp_path, small_sd):
    path = write_torch_file(tmp_path, small_sd, "trainer", "LWTLNet_ep0003.pth.tar")
    out = tmp_path / "loaded.npz"
    res = subprocess.run([sys.executable, "-c", LOAD_WITHOUT_TORCH, str(path), str(out)], capture_output=True,
                         text=True, cwd=REPO)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["lwl_boxinit", "steepest_descent_resnet50", "mrcnn"]
    _assert_same(dict(np.load(out)), small_sd)


def test_trainer_objects_become_inert_placeholders(tmp_path, small_sd):
    path = write_torch_file(tmp_path, small_sd, "trainer")
    obj = torch_pickle.load(path)
    assert isinstance(obj["settings"], torch_pickle.Placeholder)
    assert obj["settings"].env.workspace_dir == "/home/user/workspace"
    assert float(obj["stats"]["train"]["Loss"].avg) == 0.25
    assert obj["optimizer"]["state"][0]["exp_avg"].shape == next(iter(small_sd.values())).shape


@pytest.mark.parametrize("layout", ["legacy", "dataparallel", "bare"])
def test_other_layouts(tmp_path, small_sd, layout):
    ck = read_checkpoint(write_torch_file(tmp_path, small_sd, layout))
    assert ck.kind == "lwl_boxinit"
    _assert_same(ck.state_dict, small_sd)


def test_round_trip_reproduces_the_network(tmp_path, small_model, small_sd):
    model, variables = small_model
    ck = read_checkpoint(write_torch_file(tmp_path, small_sd, "trainer"))
    model2, variables2 = to_variables(ck)
    assert model2.backbone_blocks == model.backbone_blocks and model2.feature_dim == model.feature_dim
    x = jax.random.normal(jax.random.PRNGKey(1), (1, 2, 64, 96, 3)) * 50
    m = (jax.random.uniform(jax.random.PRNGKey(2), (1, 2, 64, 96)) > 0.5).astype(np.float32)
    a = jax.jit(model.apply)(variables, x, x, m)
    b = jax.jit(model2.apply)(variables2, x, x, m)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


def test_missing_extra_and_misshaped_keys_reported_together(small_sd):
    sd = dict(small_sd)
    del sd["decoder.project.conv1.bias"]
    sd["decoder.extra_layer.weight"] = np.zeros(3, np.float32)
    sd["label_encoder.res1.conv1.weight"] = np.zeros((1, 2, 3, 3), np.float32)
    from lwl_jax.convert.checkpoint import LoadedCheckpoint, infer_model_config

    kind, cfg = infer_model_config(small_sd)
    with pytest.raises(CheckpointError) as e:
        to_variables(LoadedCheckpoint(kind, sd, cfg, {}, "bad.pth"))
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("bad.pth")
    for key in ("decoder.project.conv1.bias", "decoder.extra_layer.weight", "label_encoder.res1.conv1.weight"):
        assert key in msg
    assert "1 missing" in msg and "1 unexpected" in msg and "1 shape mismatch" in msg


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "lwl_jax.convert", *map(str, args)], capture_output=True,
                          text=True, cwd=REPO)


def test_not_a_checkpoint_and_truncated_file_give_one_line(tmp_path, small_sd):
    text = tmp_path / "notes.pth"
    text.write_text("these are not weights\n")
    good = write_torch_file(tmp_path, small_sd, "trainer")
    cut = tmp_path / "cut.pth"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    legacy = write_torch_file(tmp_path, small_sd, "legacy", "legacy.pth")
    cut_legacy = tmp_path / "cut_legacy.pth"
    cut_legacy.write_bytes(legacy.read_bytes()[: legacy.stat().st_size // 2])
    for bad in (text, cut, cut_legacy, tmp_path / "absent.pth"):
        with pytest.raises(CheckpointError) as e:
            read_checkpoint(bad)
        assert "\n" not in str(e.value) and str(bad) in str(e.value)
    res = _cli(cut, tmp_path / "out")
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("error: ") and "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists()


class _Evil:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _evil_payloads(marker):
    import builtins
    return {
        "os.system": _Evil(os.system, (f"touch {marker}",)),
        "exec": _Evil(builtins.exec, (f"open({str(marker)!r}, 'w').close()",)),
        "subprocess": _Evil(subprocess.call, (["touch", str(marker)],)),
    }


@pytest.mark.parametrize("which", ["os.system", "exec", "subprocess"])
def test_malicious_pickles_execute_nothing(tmp_path, which):
    marker = tmp_path / "pwned"
    payload = _evil_payloads(marker)[which]
    raw = tmp_path / "raw.pth"
    raw.write_bytes(pickle.dumps({"net": payload}, protocol=2))
    zipped = tmp_path / "zipped.pth"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"net": payload}, protocol=2))
        zf.writestr("archive/version", "3\n")
    for path in (raw, zipped):
        with pytest.raises(UnsafeCheckpointError) as e:
            read_checkpoint(path)
        assert "\n" not in str(e.value) and "refused" in str(e.value)
        res = _cli(path, tmp_path / "out")
        assert res.returncode == 2 and res.stderr.count("\n") == 1 and "refused" in res.stderr
    assert not marker.exists()


def test_convert_cli_writes_orbax_checkpoint_and_check_table(tmp_path, small_model, small_sd):
    _, variables = small_model
    path = write_torch_file(tmp_path, small_sd, "trainer")
    res = _cli(path, "--check")
    assert res.returncode == 0, res.stderr
    assert "feature_extractor.layer1.0.downsample.0.weight" in res.stdout
    assert "params/feature_extractor/layer1/0/downsample/0/kernel" in res.stdout
    res = _cli(path, tmp_path / "converted")
    assert res.returncode == 0, res.stderr
    kind, model, loaded = load_model(tmp_path / "converted")
    assert kind == "lwl_boxinit" and isinstance(model, LWLNet) and model.box_encoder
    _assert_same(variables_to_state_dict(loaded), small_sd)


def test_torchvision_resnet_file_loads_as_backbone(tmp_path, small_model):
    _, variables = small_model
    sd = {k[len("feature_extractor."):]: v for k, v in variables_to_state_dict(variables).items()
          if k.startswith("feature_extractor.")}
    sd["fc.weight"] = np.zeros((10, 256), np.float32)
    sd["fc.bias"] = np.zeros((10,), np.float32)
    ck = read_checkpoint(write_torch_file(tmp_path, sd, "bare", "resnet50-0676ba61.pth"))
    assert ck.kind == "backbone" and ck.model_config["stride_in_1x1"] is False
    assert ck.model_config["backbone_blocks"] == (1, 1, 1, 1)
    model, loaded = to_variables(ck)
    assert set(loaded["params"]) == {"feature_extractor"}
    np.testing.assert_array_equal(loaded["params"]["feature_extractor"]["conv1"]["kernel"],
                                  variables["params"]["feature_extractor"]["conv1"]["kernel"])
