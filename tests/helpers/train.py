"""The tiny training config the trainer tests share (48×80 crops of small videos of the quickstart's styles, a
narrow ResNet, checkpoints only at the end)."""
import os
import signal
import subprocess
import time

import numpy as np

from lwl_jax.config_util import load_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ["--config.model.backbone_width=8", "--config.model.feature_dim=16", "--config.model.num_filters=4",
        "--config.model.label_encoder_dims=(4, 8, 8)", "--config.model.decoder_mdim=8",
        "--config.model.optim_iter=2", "--config.data.height=48", "--config.data.width=80",
        "--config.batch_size=2", "--config.checkpoint_every=1000", "--config.log_every=1",
        "--config.validation.every=0", "--config.data.worker_count=0", "--config.data.video_height=64",
        "--config.data.video_width=112", "--config.model.target_stride=16"]
# (target_stride 16, not the quickstart's 8: these tests check the trainer's mechanics, and at stride 8 the 8-device
# run's loss after 3 Adam steps differed from the 1-device run's by 1.1e-5 relative, above the test's 1e-5 — float32
# summation order over 8 shards, amplified by Adam's first steps; tests/test_models.py covers stride 8)


def tiny_config(*extra):
    return load_config(os.path.join(REPO, "configs", "synthetic.py"), TINY + list(extra))


# a one-block-per-stage ResNet for the recipe tests (configs/stage1.py on generated data)
SMALL_NET = ["--config.model.backbone_blocks=(1, 1, 1, 1)", "--config.model.backbone_width=8",
             "--config.model.feature_dim=16", "--config.model.num_filters=4",
             "--config.model.label_encoder_dims=(4, 8, 8)", "--config.model.decoder_mdim=8",
             "--config.model.optim_iter=2"]


def export_params(path):
    """{name: array} of an exported model's parameters."""
    from flax.traverse_util import flatten_dict

    from lwl_jax.convert.checkpoint import load_converted

    _, _, variables = load_converted(str(path))
    return {"/".join(k): np.asarray(v) for k, v in flatten_dict(variables["params"]).items()}


def kill_9_then_rerun(cmd, tmp_path, num_steps):
    """Run ``cmd`` (a train.py command writing a checkpoint every step, without --workdir) uninterrupted; run it
    again, kill -9 it after checkpoints 2 and 4 (the second kill 0.3 s later, so it can land mid-save), fabricate
    a half-written checkpoint folder, and re-run to the end. Returns both runs' exported parameters."""
    ref = subprocess.run(cmd + ["--workdir", str(tmp_path / "ref")], capture_output=True, text=True, cwd=REPO)
    assert ref.returncode == 0, ref.stderr[-3000:]
    work = tmp_path / "killed"
    ckdir = work / "checkpoints"
    for after_steps, extra_delay in ((2, 0.0), (4, 0.3)):
        proc = subprocess.Popen(cmd + ["--workdir", str(work)], cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 300
        while time.time() < deadline and not (ckdir / str(after_steps)).exists():
            time.sleep(0.05)
        time.sleep(extra_delay)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    steps = sorted(int(n) for n in os.listdir(ckdir) if n.isdigit())
    assert steps and steps[-1] < num_steps
    partial = ckdir / f"{steps[-1] + 1}.orbax-checkpoint-tmp-1234567"      # a save interrupted half way
    (partial / "state").mkdir(parents=True)
    (partial / "state" / "_METADATA").write_text('{"tree_metadata": {')
    res = subprocess.run(cmd + ["--workdir", str(work)], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stderr[-3000:]
    return export_params(tmp_path / "ref" / "export"), export_params(work / "export")
