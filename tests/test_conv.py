"""ops.conv: the convolution with plain-convolution backward passes has JAX's gradients."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from lwl_jax.ops.conv import conv2d, conv_general_dilated

DN = ("NHWC", "HWIO", "NHWC")


@pytest.mark.parametrize("h,w,k,s,p", [(9, 11, 3, 1, 1), (9, 11, 3, 2, 1), (10, 12, 1, 2, 0), (17, 16, 7, 2, 3),
                                       (8, 9, 1, 1, 0), (12, 13, 3, 2, 0), (6, 7, 3, 1, 0)])
def test_gradients_equal_jax(h, w, k, s, p):
    r = jax.random.split(jax.random.PRNGKey(h * w + k), 2)
    x = jax.random.normal(r[0], (2, h, w, 5))
    wt = jax.random.normal(r[1], (k, k, 5, 6))
    pad = ((p, p), (p, p))

    def loss(conv):
        return lambda x, wt: jnp.sum(jnp.sin(conv(x, wt)))

    ours = jax.grad(loss(lambda x, wt: conv2d(x, wt, (s, s), pad)), (0, 1))(x, wt)
    ref = jax.grad(loss(lambda x, wt: lax.conv_general_dilated(x, wt, (s, s), pad, dimension_numbers=DN)),
                   (0, 1))(x, wt)
    for a, b in zip(ours, ref):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * float(jnp.abs(b).max()))


def test_drop_in_falls_back_for_other_convolutions():
    x = jnp.ones((1, 6, 6, 4))
    w = jnp.ones((3, 3, 2, 4))
    out = conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=DN, feature_group_count=2)
    assert out.shape == (1, 6, 6, 4)
    jaxpr = str(jax.make_jaxpr(lambda x, w: conv_general_dilated(x, w[:, :, :4], (1, 1), ((1, 1), (1, 1)),
                                                                 dimension_numbers=DN))(x, jnp.ones((3, 3, 4, 4))))
    assert "custom_vjp" in jaxpr
