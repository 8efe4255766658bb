"""Lovász loss and the IoU statistic against direct NumPy definitions."""
import jax
import jax.numpy as jnp
import numpy as np

from lwl_jax.training.loss import iou_statistic, lovasz_loss, segmentation_loss


def _np_lovasz(logits, labels):
    p = 1 / (1 + np.exp(-logits.reshape(-1).astype(np.float64)))
    gt = (labels.reshape(-1) == 1).astype(np.float64)
    e = np.abs(gt - p)
    order = np.argsort(-e, kind="stable")
    e, g = e[order], gt[order]
    total = g.sum()
    jac = 1 - (total - np.cumsum(g)) / (total + np.cumsum(1 - g))
    jac[1:] = jac[1:] - jac[:-1]
    return float(np.dot(e, jac))


def test_lovasz_matches_numpy():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3, 2, 9, 11)).astype(np.float32) * 3
    labels = (rng.random((3, 2, 9, 11)) > 0.6).astype(np.float32)
    np.testing.assert_allclose(float(lovasz_loss(logits, labels)), _np_lovasz(logits, labels), rtol=1e-5)
    np.testing.assert_allclose(float(segmentation_loss(logits, labels)), 100 * _np_lovasz(logits, labels),
                               rtol=1e-5)


def test_lovasz_empty_foreground_and_perfect_prediction():
    logits = np.full((4, 4), -20.0, np.float32)
    assert float(lovasz_loss(logits, np.zeros((4, 4)))) < 1e-6
    labels = np.zeros((4, 4), np.float32)
    labels[1:3, 1:3] = 1
    good = np.where(labels > 0, 20.0, -20.0).astype(np.float32)
    assert float(lovasz_loss(good, labels)) < 1e-6
    assert float(lovasz_loss(-good, labels)) > 0.9


def test_lovasz_gradient_is_finite():
    g = jax.grad(lovasz_loss)(jnp.zeros((5, 5)), jnp.ones((5, 5)))
    assert np.isfinite(np.asarray(g)).all() and float(jnp.abs(g).sum()) > 0


def test_iou_statistic():
    labels = np.zeros((2, 4, 4), np.float32)
    labels[0, :2] = 1
    logits = np.full((2, 4, 4), -10.0, np.float32)
    logits[0, :1] = 10  # IoU 0.5 on frame 0; frame 1 both empty -> 1
    np.testing.assert_allclose(float(iou_statistic(logits, labels)), 0.75)
