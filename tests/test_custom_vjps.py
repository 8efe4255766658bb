"""The hand-written backward passes (1×1 convolutions, periodic up-sampling, the Lovász loss, the up-sampler's last
convolution as resized taps) give the gradients of the plain formulations they replace."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lwl_jax.models.decoder import ResizedConv3x3
from lwl_jax.ops import resize as R
from lwl_jax.ops.conv import _xla_conv, conv2d
from lwl_jax.training.loss import lovasz_grad, lovasz_loss


@pytest.mark.parametrize("k,stride,shape", [(1, 1, (2, 6, 7, 5)), (1, 2, (2, 7, 8, 5)), (1, 2, (1, 8, 6, 3)),
                                            (3, 1, (2, 6, 7, 5)), (3, 2, (1, 7, 9, 4))])
def test_conv2d_gradients(k, stride, shape):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal(shape), jnp.float32)
    w = jnp.asarray(rng.standard_normal((k, k, shape[-1], 6)), jnp.float32)
    p = k // 2
    y, vjp = jax.vjp(lambda a, b: conv2d(a, b, stride, p), x, w)
    y_ref, vjp_ref = jax.vjp(lambda a, b: _xla_conv(a, b, stride, p), x, w)
    np.testing.assert_array_equal(y, y_ref)
    dy = jnp.asarray(rng.standard_normal(y.shape), jnp.float32)
    for got, want in zip(vjp(dy), vjp_ref(dy)):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size,out,method", [((5, 7), (20, 28), "bicubic"), ((6, 4), (12, 8), "bilinear"),
                                             ((8, 8), (32, 32), "bilinear")])
def test_upsampling_adjoint_is_the_interpolation_matrix_transposed(size, out, method):
    assert R.periodic_plan(size[0], out[0], method)[0] == "up"
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.standard_normal((2,) + size + (3,)), jnp.float32)
    g = rng.standard_normal((2,) + out + (3,))
    dx = jax.vjp(lambda a: R.resize(a, out, method), x)[1](jnp.asarray(g, jnp.float32))[0]
    mh, mw = R.resize_matrix(size[0], out[0], method), R.resize_matrix(size[1], out[1], method)
    np.testing.assert_allclose(dx, np.einsum("oh,pw,nopc->nhwc", mh, mw, g), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("features,size", [(1, (24, 34)), (2, (13, 17))])
def test_resized_conv3x3_is_the_conv_of_the_resized_map(features, size):
    """The up-sampler's last step: conv3×3(bicubic(x)) with the parameters of ``conv(features, 3)``, computed as
    9 low-resolution taps resized and summed (``ResizedConv3x3``, ``ops.conv.tap_sum3x3``): same values and
    gradients (w.r.t. input, kernel and bias) as the plain order, to float32 rounding."""
    from lwl_jax.models.layers import conv

    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.standard_normal((2, 6, 8, 5)), jnp.float32)
    p = {"kernel": jnp.asarray(rng.standard_normal((3, 3, 5, features)), jnp.float32),
         "bias": jnp.asarray(rng.standard_normal(features), jnp.float32)}
    assert jax.tree_util.tree_structure(ResizedConv3x3(features).init(jax.random.PRNGKey(0), x, size)["params"]) \
        == jax.tree_util.tree_structure(p)
    y, vjp = jax.vjp(lambda p, x: ResizedConv3x3(features).apply({"params": p}, x, size), p, x)
    y_ref, vjp_ref = jax.vjp(lambda p, x: conv(features, 3).apply({"params": p}, R.resize(x, size, "bicubic")), p, x)
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
    dy = jnp.asarray(rng.standard_normal(y.shape), jnp.float32)
    for got, want in zip(jax.tree_util.tree_leaves(vjp(dy)), jax.tree_util.tree_leaves(vjp_ref(dy))):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def _lovasz_sorted_reference(logits, labels):
    """The plain formulation: sort the errors with the labels carried along; autodiff through the sort."""
    p = jax.nn.sigmoid(logits).reshape(-1)
    fg = (labels.reshape(-1) == 1).astype(jnp.float32)
    neg, fg_sorted = jax.lax.sort((-jnp.abs(fg - p), fg), num_keys=1)
    return jnp.dot(-neg, lovasz_grad(jax.lax.stop_gradient(fg_sorted)))


def test_lovasz_loss_and_gradient():
    rng = np.random.default_rng(2)
    logits = jnp.asarray(rng.standard_normal((3, 2, 12, 16)) * 3, jnp.float32)
    labels = jnp.asarray(rng.random(logits.shape) < 0.3, jnp.float32)
    np.testing.assert_allclose(lovasz_loss(logits, labels), _lovasz_sorted_reference(logits, labels), rtol=1e-6)
    np.testing.assert_allclose(jax.grad(lovasz_loss)(logits, labels),
                               jax.grad(_lovasz_sorted_reference)(logits, labels), rtol=1e-5, atol=1e-9)


def test_lovasz_ties_share_their_block():
    """Equal errors (e.g. saturated logits): the loss does not depend on their order, and each tied pixel gets the
    mean Δ of its block (pixels of equal error and label); the gradient's sum over all pixels of one error value
    equals the plain formulation's, whatever order its sort left them in."""
    from lwl_jax.training.loss import _lovasz_errors

    rng = np.random.default_rng(3)
    errors = jnp.asarray(rng.choice([0.25, 0.5, 0.75], 60), jnp.float32).at[:10].set(rng.random(10))
    fg = jnp.asarray(rng.random(60) < 0.5, jnp.float32)

    def plain(e):
        neg, fg_sorted = jax.lax.sort((-e, fg), num_keys=1)
        return jnp.dot(-neg, lovasz_grad(jax.lax.stop_gradient(fg_sorted)))

    np.testing.assert_allclose(_lovasz_errors(errors, fg), plain(errors), rtol=1e-6)
    g, g_ref = np.asarray(jax.grad(_lovasz_errors)(errors, fg)), np.asarray(jax.grad(plain)(errors))
    np.testing.assert_allclose(g[:10], g_ref[:10], rtol=1e-6)                 # distinct errors: exact
    for v in (0.25, 0.5, 0.75):
        tied = np.asarray(errors) == v
        assert tied.sum() > 2
        np.testing.assert_allclose(g[tied].sum(), g_ref[tied].sum(), rtol=1e-5)
        for label in (0.0, 1.0):
            block = tied & (np.asarray(fg) == label)
            assert np.ptp(g[block]) < 1e-7                       # one shared value per block
    assert np.ptp(g_ref[np.asarray(errors) == 0.5]) > 1e-4       # (the plain sort's are per rank)
