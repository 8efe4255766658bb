"""``lwl_jax.ops.materialize``: the identity on finite values (and in gradients), as a conditional on CPU."""
import jax
import jax.numpy as jnp
import numpy as np

from lwl_jax.ops.materialize import materialize


def test_identity_in_values_and_gradients_and_a_conditional_in_the_compiled_program():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 5, 7, 3)), jnp.float32)
    f = jax.jit(lambda v: jnp.sum(jnp.sin(materialize(jnp.maximum(v, 0.1) * 3.0)) ** 2))
    g = jax.jit(lambda v: jnp.sum(jnp.sin(jnp.maximum(v, 0.1) * 3.0) ** 2))
    np.testing.assert_array_equal(np.asarray(materialize(x)), np.asarray(x))
    assert float(f(x)) == float(g(x))
    np.testing.assert_array_equal(np.asarray(jax.grad(f)(x)), np.asarray(jax.grad(g)(x)))
    assert "conditional" in f.lower(x).compile().as_text()          # what XLA cannot fuse through
    v = jax.vmap(materialize)(x)                                    # batched: a select, same values
    np.testing.assert_array_equal(np.asarray(v), np.asarray(x))


def test_a_nan_first_element_gives_nan_everywhere():
    x = jnp.ones((3, 4)).at[0, 0].set(jnp.nan)
    assert bool(jnp.all(jnp.isnan(materialize(x))))
    assert bool(jnp.all(jnp.isnan(jax.jit(materialize)(x))))
