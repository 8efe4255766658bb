"""``remat_frames`` (test frames one at a time, each recomputed in the backward pass) lowers the compiled training
step's XLA temporary memory; its gradients are checked against the reference in tests/test_train_parity.py."""
import jax
import numpy as np

from lwl_jax.training.trainer import build_training, shard_batch
from tests.helpers.train import tiny_config


def _temp_bytes(*overrides):
    cfg = tiny_config("--config.data.height=128", "--config.data.width=192", *overrides)
    run = build_training(cfg, jax.devices()[:1])
    t, b, h, w = int(cfg.data.num_test_frames), int(cfg.batch_size), 128, 192
    rng = np.random.default_rng(0)
    images = rng.normal(0, 50, (1 + t, b, h, w, 3)).astype(np.float32)
    masks = (rng.random((1 + t, b, h, w)) < 0.2).astype(np.float32)
    batch = shard_batch({"train_images": images[:1], "test_images": images[1:], "train_masks": masks[:1],
                         "test_masks": masks[1:]}, run.mesh)
    return run.step.lower(run.state, batch).compile().memory_analysis().temp_size_in_bytes


def test_remat_frames_lowers_xla_temporary_memory():
    plain, per_frame = _temp_bytes(), _temp_bytes("--config.model.remat_frames=True")
    assert per_frame < 0.8 * plain, (plain, per_frame)
