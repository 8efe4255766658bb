"""jax.jit of the full training step and of one inference step compiles once per input shape."""
import jax
import jax.numpy as jnp
import numpy as np

from lwl_jax.tracking.steps import DeviceState, track_fn, zeros_tau
from lwl_jax.training.objective import loss_and_grads
from lwl_jax.training.rules import stage_rules


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
        return loss_and_grads(params, bs, model, batch, stage_rules("stage2"))

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
    f = track_fn(model, (64, 96))
    before = f._cache_size()
    k, h, w, c, d = 2, 4, 6, model.feature_dim, model.num_filters
    for seed in range(3):
        z = lambda *s: jnp.zeros(s, jnp.float32)  # noqa: E731
        st = DeviceState(zeros_tau(model, k) + seed * 0.01, z(3, k, h, w, c), z(3, k, h, w, d), z(3, k, h, w, d),
                         z(3, k, h, w, d), z(k, h, w, c), z(k, h, w, d), z(k, 70, 100))
        frame = jnp.asarray(np.random.default_rng(seed).integers(0, 255, (70, 100, 3)), jnp.uint8)
        axes = jnp.asarray(np.tile(np.array([[0, 70, 70, 0, 1], [0, 100, 100, 0, 1]], np.int32), (k, 1, 1)))
        paste = jnp.asarray(np.tile(np.array([[0, 70, 64 / 70], [0, 100, 96 / 100]], np.float32), (k, 1, 1)))
        st, out = f(v, st, frame, axes, paste, jnp.arange(k + 1, dtype=jnp.int32))
        assert out["labels"].shape == (70, 100) and out["logits"].shape == (k, 64, 96)
        assert st.prev_x.shape == (k, h, w, c) and out["encoding"].shape == (k, h, w, d)
    assert f._cache_size() == before + 1
