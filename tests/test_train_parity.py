"""The trainer's own jitted forward + backward (``trainer.make_grad_fn``, the function ``make_train_step`` runs)
reproduces the reference's training gradients of ``train_forward.npz`` at the parity tolerances: with
rematerialisation, with gradient accumulation, and with the batch split over two (fake) devices."""
import json
import os
import subprocess
import sys

import pytest

from lwl_jax.parity.cases import train_forward_batch, train_forward_network, train_forward_rows, train_grad_fn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _bad(rows):
    assert len(rows) > 20
    return [(r.tensor, r.error, r.tolerance) for r in rows if not r.passed]


@pytest.mark.parametrize("remat,accum", [(True, 1), (False, 2)])
def test_trainer_gradients_match_the_reference(fixtures, remat, accum):
    d = fixtures.load("train_forward")
    model, v = train_forward_network(fixtures, d, remat_backbone=remat, remat_learner=remat)
    out = train_grad_fn(model, 1, accum)(v["params"], v["batch_stats"], train_forward_batch(d))
    assert not _bad(train_forward_rows(d, *out))


SCRIPT = """
import json, sys
import jax
jax.config.update("jax_default_matmul_precision", "highest")
from lwl_jax.parity.cases import Fixtures, train_forward_batch, train_forward_network, train_forward_rows, train_grad_fn
fx = Fixtures(sys.argv[1])
d = fx.load("train_forward")
model, v = train_forward_network(fx, d)
assert jax.device_count() == 2
rows = train_forward_rows(d, *train_grad_fn(model, 2)(v["params"], v["batch_stats"], train_forward_batch(d)))
print("ROWS " + json.dumps([r.as_json() for r in rows]))
"""


@pytest.mark.slow
def test_trainer_gradients_match_the_reference_on_two_devices(fixture_dir):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    res = subprocess.run([sys.executable, "-c", SCRIPT, fixture_dir], capture_output=True, text=True, env=env,
                         cwd=ROOT, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    rows = json.loads([x for x in res.stdout.splitlines() if x.startswith("ROWS ")][0][5:])
    assert len(rows) > 20
    assert all(r["passed"] for r in rows), [r for r in rows if not r["passed"]]
