"""jax.jit of the full training step and of one inference step compiles once per input shape."""
import jax
import jax.numpy as jnp
import numpy as np

from lwl_jax.tracking.steps import predict_fn, zeros_tau
from lwl_jax.training.frozen import FROZEN_PREFIXES
from lwl_jax.training.objective import loss_and_grads


def _batch(b, h, w, t=2, seed=0):
    k = jax.random.split(jax.random.PRNGKey(seed), 4)
    return {"train_images": jax.random.normal(k[0], (1, b, h, w, 3)) * 40,
            "test_images": jax.random.normal(k[1], (t, b, h, w, 3)) * 40,
            "train_masks": (jax.random.uniform(k[2], (1, b, h, w)) > 0.5).astype(jnp.float32),
            "test_masks": (jax.random.uniform(k[3], (t, b, h, w)) > 0.5).astype(jnp.float32)}


def test_training_step_compiles_once_per_shape(small_model):
    model, v = small_model
    traces = []

    def step(params, bs, batch):
        traces.append(1)
        return loss_and_grads(params, bs, model, batch, FROZEN_PREFIXES["stage2"])

    f = jax.jit(step)
    for seed in range(3):
        loss, aux, grads = f(v["params"], v["batch_stats"], _batch(2, 64, 96, seed=seed))
        assert np.isfinite(float(loss))
    assert len(traces) == 1 and f._cache_size() == 1
    f(v["params"], v["batch_stats"], _batch(2, 48, 64))
    assert len(traces) == 2 and f._cache_size() == 2
    # frozen parameters get exactly zero gradient
    assert float(jnp.abs(grads["feature_extractor"]["layer1"]["0"]["conv1"]["kernel"]).max()) == 0.0
    assert float(jnp.abs(grads["feature_extractor"]["layer2"]["0"]["conv1"]["kernel"]).max()) > 0.0


def test_inference_step_compiles_once_per_shape(small_model):
    model, v = small_model
    f = predict_fn(model)
    before = f._cache_size()
    for seed in range(3):
        crops = jax.random.normal(jax.random.PRNGKey(seed), (2, 64, 96, 3)) * 40
        tau = zeros_tau(model, 2) + seed * 0.01
        logits, x, enc = f(v, tau, crops)
        assert logits.shape == (2, 64, 96) and x.shape == (2, 4, 6, model.feature_dim)
        assert enc.shape == (2, 4, 6, model.num_filters)
    assert f._cache_size() == before + 1
