"""The trainer: frozen parameters and BatchNorm statistics stay bit-identical, resume reproduces an uninterrupted
run, and 8 (fake) devices compute the same steps as one device with the same global batch."""
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from flax.traverse_util import flatten_dict

from lwl_jax.config_util import load_config
from lwl_jax.models.lwl import LWLNet, init_variables
from lwl_jax.training.rules import FROZEN, param_labels, stage_rules
from lwl_jax.training.trainer import train
from tests.helpers.train import SMALL_NET, tiny_config
from tests.helpers.xla import subprocess_env

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
def _flat(tree):
    return {"/".join(k): np.asarray(v) for k, v in flatten_dict(jax.device_get(tree)).items()}


@pytest.mark.parametrize("stage", ["stage1", "stage2"])
def test_frozen_parameters_and_bn_statistics_unchanged(tmp_path, stage):
    cfg = tiny_config("--config.num_steps=2")
    cfg.param_rules = stage_rules(stage)
    init = init_variables(LWLNet(**cfg.model), int(cfg.seed), (cfg.data.height, cfg.data.width), cfg.init_scheme)
    state = train(cfg, str(tmp_path / "run"), devices=jax.devices()[:1], progress=False)
    before, after = _flat(init["params"]), _flat(state.params)
    labels = _flat(param_labels(init["params"], cfg.param_rules))
    assert 10 < sum(v == FROZEN for v in labels.values()) < len(labels)
    changed = 0
    for k in before:
        if labels[k] == FROZEN:
            assert np.array_equal(before[k], after[k]), k
        else:
            changed += not np.array_equal(before[k], after[k])
    assert changed > 10
    for k, v in _flat(init["batch_stats"]).items():
        assert np.array_equal(v, _flat(state.batch_stats)[k]), k


def test_resume_reproduces_uninterrupted_run(tmp_path):
    cfg = tiny_config("--config.num_steps=4", "--config.checkpoint_every=2")
    full = train(cfg, str(tmp_path / "full"), devices=jax.devices()[:1], progress=False)
    train(cfg, str(tmp_path / "split"), devices=jax.devices()[:1], progress=False, stop_after=2)
    resumed = train(cfg, str(tmp_path / "split"), devices=jax.devices()[:1], progress=False)
    assert int(resumed.step) == 4
    a, b = _flat(full.params), _flat(resumed.params)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert os.path.isfile(tmp_path / "full" / "export" / "lwl_model.json")


def test_gradient_accumulation_is_exact(tmp_path):
    """Two micro-batches per step (two-pass accumulation) give the step of the whole batch."""
    a = train(tiny_config("--config.num_steps=2"), str(tmp_path / "a"), devices=jax.devices()[:1], progress=False)
    b = train(tiny_config("--config.num_steps=2", "--config.accum_steps=2"), str(tmp_path / "b"),
              devices=jax.devices()[:1], progress=False)
    fa, fb = _flat(a.params), _flat(b.params)
    num = np.sqrt(sum(np.sum((fa[k] - fb[k]) ** 2) for k in fa))
    den = np.sqrt(sum(np.sum(fa[k] ** 2) for k in fa))
    assert num / den < 1e-5
    la = [json.loads(x)["loss"] for x in open(tmp_path / "a" / "metrics.jsonl") if '"loss"' in x]
    lb = [json.loads(x)["loss"] for x in open(tmp_path / "b" / "metrics.jsonl") if '"loss"' in x]
    np.testing.assert_allclose(lb, la, rtol=1e-5)


def test_boxinit_trains_only_the_box_encoder(tmp_path):
    cfg = tiny_config("--config.num_steps=1", "--config.forward=box", "--config.loss=lovasz",
                      "--config.loss_weight=10.0", "--config.data.num_test_frames=1")
    cfg.param_rules = stage_rules("boxinit")
    with cfg.model.unlocked():
        cfg.model.box_encoder = True
        cfg.model.box_dims = (8, 8)
    init = init_variables(LWLNet(**cfg.model), int(cfg.seed), (cfg.data.height, cfg.data.width), cfg.init_scheme)
    state = train(cfg, str(tmp_path / "box"), devices=jax.devices()[:1], progress=False)
    before, after = _flat(init["params"]), _flat(state.params)
    changed = {k.split("/")[0] for k in before if not np.array_equal(before[k], after[k])}
    assert changed == {"box_label_encoder"}
    assert os.path.isdir(tmp_path / "box" / "tensorboard")
    from lwl_jax.convert.checkpoint import load_converted  # exported as a box-init model (segment --box)

    assert load_converted(str(tmp_path / "box" / "export"))[0] == "lwl_boxinit"


# kill -9 and re-run: tests/test_tfds.py (from the TFDS source, the input path with the most state:
# array_record readers in grain worker processes; the helper is tests/helpers/train.py's kill_9_then_rerun)


TWO_PROCESSES = r"""
import os, sys, json
import jax
jax.config.update("jax_num_cpu_devices", 1)
pid, port, repo, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=pid,
                           initialization_timeout=120)
sys.path.insert(0, repo)
import numpy as np
from flax.traverse_util import flatten_dict
from tests.helpers.train import tiny_config
from lwl_jax.training.trainer import train, _host
assert jax.device_count() == 2 and jax.process_count() == 2
cfg = tiny_config("--config.num_steps=2")
state = train(cfg, out + "/two", progress=False)
if pid == 0:
    flat = {"/".join(k): v for k, v in flatten_dict(_host(state.params)).items()}
    np.savez(out + "/two.npz", **flat)
"""


@pytest.mark.slow
def test_two_processes_match_one_process(tmp_path):
    import socket

    with socket.socket() as sck:
        sck.bind(("127.0.0.1", 0))
        port = str(sck.getsockname()[1])
    env = subprocess_env()
    procs = [subprocess.Popen([sys.executable, "-c", TWO_PROCESSES, str(i), port, REPO, str(tmp_path)], cwd=REPO,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    one = train(tiny_config("--config.num_steps=2"), str(tmp_path / "one"), devices=jax.devices()[:1],
                progress=False)
    a = _flat(one.params)
    b = dict(np.load(tmp_path / "two.npz"))
    num = np.sqrt(sum(np.sum((a[k] - b[k]) ** 2) for k in a))
    assert num / np.sqrt(sum(np.sum(a[k] ** 2) for k in a)) < 1e-5
    la = [json.loads(x)["loss"] for x in open(tmp_path / "one" / "metrics.jsonl") if '"loss"' in x]
    lb = [json.loads(x)["loss"] for x in open(tmp_path / "two" / "metrics.jsonl") if '"loss"' in x]
    np.testing.assert_allclose(lb, la, rtol=1e-5)


EIGHT_DEVICES = r"""
import os, sys, json
import jax, numpy as np
from flax.traverse_util import flatten_dict
sys.path.insert(0, sys.argv[1])
from tests.helpers.train import tiny_config
from lwl_jax.training.trainer import train
assert len(jax.devices()) == 8
cfg = tiny_config("--config.num_steps=3", "--config.batch_size=8")
one = train(cfg, sys.argv[2] + "/one", devices=jax.devices()[:1], progress=False)
eight = train(cfg, sys.argv[2] + "/eight", devices=jax.devices(), progress=False)
a = {k: np.asarray(v) for k, v in flatten_dict(jax.device_get(one.params)).items()}
b = {k: np.asarray(v) for k, v in flatten_dict(jax.device_get(eight.params)).items()}
worst = max(float(np.linalg.norm(a[k] - b[k]) / max(np.linalg.norm(a[k]), 1e-12)) for k in a)
total = float(np.sqrt(sum(np.sum((a[k] - b[k]) ** 2) for k in a)) / np.sqrt(sum(np.sum(a[k] ** 2) for k in a)))
losses = [[json.loads(l)["loss"] for l in open(sys.argv[2] + f"/{n}/metrics.jsonl")] for n in ("one", "eight")]
print(json.dumps({"worst": worst, "total": total, "losses": losses}))
"""


@pytest.mark.slow
def test_eight_fake_devices_match_one_device(tmp_path):
    env = subprocess_env("--xla_force_host_platform_device_count=8")
    res = subprocess.run([sys.executable, "-c", EIGHT_DEVICES, REPO, str(tmp_path)], capture_output=True,
                         text=True, env=env, cwd=REPO)
    assert res.returncode == 0, res.stderr[-3000:]
    import json
    out = json.loads(res.stdout.strip().splitlines()[-1])
    one, eight = out["losses"]
    assert len(one) == 3
    np.testing.assert_allclose(eight, one, rtol=1e-5)
    print(out)
    assert out["total"] < 1e-5      # all parameters, norm-wise
    # each tensor, norm-wise: Adam turns float noise into steps, which shows most on zero-initialised biases three
    # steps old (on the quickstart's crops the worst is the stem's BatchNorm bias: norm 5e-4, difference 1e-7)
    assert out["worst"] < 1e-3


def test_stage1_recipe_trains_on_generated_youtubevos_and_davis(tmp_path):
    """configs/stage1.py end to end on small folders in the real layouts (small network, 48×80 crops), with
    validation J&F of the tracker on held-out YouTube-VOS videos given by a split file."""
    from tests.helpers.vos_files import write_davis_train, write_youtubevos_train

    yt, dv = str(tmp_path / "yt"), str(tmp_path / "davis")
    write_youtubevos_train(yt, ["v1", "v2", "v3"])
    write_davis_train(dv, ["bear"])
    split, train_split = tmp_path / "val.txt", tmp_path / "train.txt"
    split.write_text("v3\n")
    train_split.write_text("v1\nv2\n")
    cfg = load_config(os.path.join(REPO, "configs", "stage1.py"), SMALL_NET + [
        f"--config.data.youtubevos_root={yt}", f"--config.data.youtubevos_split={train_split}",
        f"--config.data.davis_root={dv}", "--config.data.height=48",
        "--config.data.width=80", "--config.data.worker_count=0", "--config.batch_size=2", "--config.num_steps=2",
        "--config.init_checkpoint=", "--config.init_scheme=from_scratch", "--config.log_every=1",
        "--config.validation.every=2", f"--config.validation.root={yt}", f"--config.validation.split={split}",
        "--config.validation.num_sequences=1",
        "--config.validation.tracker_overrides=('--config.image_sample_size=(48, 80)',)"])
    state = train(cfg, str(tmp_path / "run"), devices=jax.devices()[:1], progress=False)
    assert int(state.step) == 2
    rows = [json.loads(x) for x in open(tmp_path / "run" / "metrics.jsonl")]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2]
    val = [r for r in rows if "val/J&F" in r]
    assert len(val) == 1 and 0.0 <= val[0]["val/J&F"] <= 1.0
    assert any(n.startswith("events.out.tfevents") for n in os.listdir(tmp_path / "run" / "tensorboard"))


def test_validation_runs_the_exported_float32_model(tmp_path, monkeypatch):
    """Training in bfloat16 with remat, validation still runs the network evaluate.py will load: float32, no
    remat (the export's fields)."""
    from lwl_jax.training.validation import Validator

    seen = []

    def record(self, model, variables):
        seen.append((model.dtype, model.remat_backbone, model.remat_learner))
        return {"J&F": 0.5, "J": 0.5, "F": 0.5}

    monkeypatch.setattr(Validator, "__call__", record)
    cfg = tiny_config("--config.num_steps=1", "--config.model.dtype=bfloat16", "--config.model.remat_backbone=True",
                      "--config.validation.every=1", "--config.validation.num_sequences=1")
    train(cfg, str(tmp_path / "run"), devices=jax.devices()[:1], progress=False)
    assert seen == [(jax.numpy.float32, False, False)]


def _shipped_training_configs():
    out = {}
    for name in ("synthetic", "stage1", "stage2", "short", "boxinit", "long"):
        cfg = load_config(os.path.join(REPO, "configs", f"{name}.py"))
        for stage in cfg.get("stages", ()) or (None,):
            out[f"{name}/{stage}" if stage else name] = cfg[stage] if stage else cfg
    return out


def test_every_parameter_matches_exactly_one_rule_in_every_shipped_config():
    """Each shipped training config's param_rules, walked over its own model's parameters (abstractly): every
    parameter is frozen or in exactly one learning-rate group."""
    from lwl_jax.training.trainer import model_fields, trained_groups

    seen = {}
    for name, cfg in _shipped_training_configs().items():
        model = LWLNet(**model_fields(cfg))
        shapes = jax.eval_shape(lambda m=model, c=cfg: init_variables(m, 0, (64, 64), c.init_scheme))["params"]
        labels = _flat_labels(param_labels(shapes, cfg.param_rules))
        seen[name] = sorted(set(labels.values()))
        assert trained_groups(param_labels(shapes, cfg.param_rules)) == set(seen[name]) - {"frozen"}
    assert seen["stage1"] == ["decoder", "filter_optimizer", "frozen", "label_encoder", "target_features"]
    assert "backbone" in seen["stage2"] and seen["boxinit"] == ["box_encoder", "frozen"]
    assert "frozen" not in seen["synthetic"]


def _flat_labels(tree):
    return {"/".join(k): v for k, v in flatten_dict(tree).items()}


def test_a_parameter_matched_by_no_rule_or_two_is_named():
    from lwl_jax.errors import ConfigError

    params = {"decoder": {"conv": {"kernel": 0}}, "label_encoder": {"conv": {"kernel": 0}}}
    with pytest.raises(ConfigError, match="parameter label_encoder/conv/kernel is matched by no rule"):
        param_labels(params, ((r"decoder/.*", "decoder"),))
    with pytest.raises(ConfigError, match=r"parameter decoder/conv/kernel is matched by 2 rules \(decoder/\.\*, "):
        param_labels(params, ((r"decoder/.*", "decoder"), (r".*/kernel", "frozen")))
