"""The trainer's own jitted forward + backward (``trainer.make_grad_fn``, the function ``make_train_step`` runs)
reproduces the reference's training gradients of ``train_forward.npz`` at the parity tolerances with
rematerialisation (backbone blocks, learner iterations, test frames one at a time) while the batch is split over two
(fake) devices. Without either, on one device: the parity harness's ``train_forward`` case
(``tests/test_parity.py``); with ``accum_steps``: the same step equals the full-batch step
(``tests/test_trainer.py::test_gradient_accumulation_is_exact``)."""
import json
import os
import subprocess
import sys

import pytest

from tests.helpers.xla import subprocess_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


SCRIPT = """
import json, sys
import jax
jax.config.update("jax_default_matmul_precision", "highest")
from lwl_jax.parity.cases import Fixtures, train_forward_batch, train_forward_network, train_forward_rows, train_grad_fn
fx = Fixtures(sys.argv[1])
d = fx.load("train_forward")
model, v = train_forward_network(fx, d, remat_backbone=True, remat_learner=True, remat_frames=True)
assert jax.device_count() == 2 and model.remat_backbone and model.remat_frames
rows = train_forward_rows(d, *train_grad_fn(model, 2)(v["params"], v["batch_stats"], train_forward_batch(d)))
print("ROWS " + json.dumps([r.as_json() for r in rows]))
"""


@pytest.mark.slow
def test_trainer_gradients_with_remat_on_two_devices_match_the_reference(fixture_dir):
    env = subprocess_env("--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    res = subprocess.run([sys.executable, "-c", SCRIPT, fixture_dir], capture_output=True, text=True, env=env,
                         cwd=ROOT, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    rows = json.loads([x for x in res.stdout.splitlines() if x.startswith("ROWS ")][0][5:])
    assert len(rows) > 20
    assert all(r["passed"] for r in rows), [r for r in rows if not r["passed"]]
