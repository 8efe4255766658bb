"""The steepest-descent learner A: a fori_loop, differentiable, and consistent with its definition."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lwl_jax.models.learner import apply_filter, conv_reference, filter_grad, input_grad, steepest_descent


@pytest.fixture(scope="module")
def problem():
    k = jax.random.split(jax.random.PRNGKey(0), 5)
    n, s, h, w, c, d = 3, 2, 5, 7, 8, 4
    x = jax.random.normal(k[0], (n, s, h, w, c))
    y = jax.nn.relu(jax.random.normal(k[1], (n, s, h, w, d)))
    v = jax.random.normal(k[2], (n, s, h, w, d))
    tau = 0.1 * jax.random.normal(k[3], (s, 3, 3, c, d))
    return x, y, v, tau, jnp.array([0.3])


def test_loop_is_a_fori_loop_not_unrolled(problem):
    x, y, v, tau, rho = problem
    jaxpr = str(jax.make_jaxpr(lambda t: steepest_descent(t, x, y, v, rho, 7))(tau))
    assert "while" in jaxpr or "scan" in jaxpr
    # a 7-iteration Python unroll would contain 2 matrix products per iteration
    assert jaxpr.count("dot_general") < 7


def test_fori_equals_python_unrolled_and_plain_convs(problem):
    x, y, v, tau, rho = problem
    a = steepest_descent(tau, x, y, v, rho, 4)
    b = steepest_descent(tau, x, y, v, rho, 4, python_loop=True)
    c = steepest_descent(tau, x, y, v, rho, 4, plain_convs=True)
    for other in (b, c):
        np.testing.assert_allclose(a[0], other[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a[1], other[1], rtol=1e-5, atol=1e-7)


def test_losses_decrease_and_match_the_objective(problem):
    x, y, v, tau, rho = problem
    tau_n, losses = steepest_descent(tau, x, y, v, rho, 5)
    assert np.all(np.diff(np.asarray(losses)) < 0)
    r = v * (apply_filter(x, tau_n) - y)
    expected = (jnp.sum(r ** 2) + rho[0] ** 2 * jnp.sum(tau_n ** 2)) / (r.size + tau_n.size)
    np.testing.assert_allclose(losses[-1], expected, rtol=1e-5)


def test_adjoints(problem):
    """<T_τ x, r> = <τ, T*(x, r)> = <x, T'(r, τ)>: the three convolutions are mutually adjoint."""
    x, y, v, tau, _ = problem
    r = y
    lhs = jnp.sum(apply_filter(x, tau) * r)
    np.testing.assert_allclose(lhs, jnp.sum(tau * filter_grad(x, r, 3)), rtol=1e-5)
    np.testing.assert_allclose(lhs, jnp.sum(x * input_grad(r, tau)), rtol=1e-5)


def test_custom_vjp_gradients_equal_autodiff(problem):
    x, y, v, tau, rho = problem

    def f(plain, x, y, v, rho):
        t, losses = steepest_descent(jnp.zeros_like(tau), x, y, v, rho, 3, plain_convs=plain)
        return jnp.sum(apply_filter(x, t) ** 2) + losses[-1]

    g1 = jax.grad(lambda *a: f(False, *a), argnums=(0, 1, 2, 3))(x, y, v, rho)
    g2 = jax.grad(lambda *a: f(True, *a), argnums=(0, 1, 2, 3))(x, y, v, rho)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6)


def test_gradient_matches_finite_differences(problem):
    x, y, v, tau, rho = problem
    f = lambda r: jnp.sum(steepest_descent(tau, x, y, v, r, 3)[0] ** 2)  # noqa: E731
    g = jax.grad(f)(rho)
    eps = 1e-3
    fd = (f(rho + eps) - f(rho - eps)) / (2 * eps)
    np.testing.assert_allclose(g[0], fd, rtol=2e-2)


def test_zero_weight_memory_slots_do_not_contribute(problem):
    x, y, v, tau, rho = problem
    a, _ = steepest_descent(tau, x[:2], y[:2], v[:2], rho, 3)
    v_pad = v.at[2].set(0.0)
    b, _ = steepest_descent(tau, x, y.at[2].set(123.0), v_pad, rho, 3)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_remat_gives_same_gradient(problem):
    x, y, v, tau, rho = problem
    g = [jax.grad(lambda xx, r=r: jnp.sum(steepest_descent(tau, xx, y, v, rho, 3, remat=r)[0] ** 2))(x)
         for r in (False, True)]
    np.testing.assert_allclose(g[0], g[1], rtol=1e-5, atol=1e-7)



@pytest.mark.parametrize("k", [1, 3, 5])
def test_matrix_product_maps_equal_the_convolution(k):
    r = jax.random.split(jax.random.PRNGKey(2), 2)
    x = jax.random.normal(r[0], (2, 3, 6, 9, 8))
    tau = jax.random.normal(r[1], (3, k, k, 8, 4))
    np.testing.assert_allclose(apply_filter(x, tau), conv_reference(x, tau), rtol=1e-5, atol=1e-5)


def test_even_kernel_is_refused():
    with pytest.raises(ValueError, match="odd"):
        apply_filter(jnp.ones((1, 1, 4, 4, 2)), jnp.ones((1, 2, 2, 2, 3)))


def test_carried_prediction_gives_the_same_steps_and_the_new_prediction(problem):
    """Starting from a given T_τ(x) (the tracker's carried predictions) equals computing it, and the returned
    prediction is T_τ(x) of the final τ."""
    x, y, v, tau, rho = problem
    a_tau, a_losses = steepest_descent(tau, x, y, v, rho, 4)
    b_tau, b_losses, u = steepest_descent(tau, x, y, v, rho, 4, prediction=apply_filter(x, tau))
    np.testing.assert_allclose(a_tau, b_tau, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a_losses, b_losses, rtol=1e-5)
    np.testing.assert_allclose(u, apply_filter(x, b_tau), rtol=1e-4, atol=1e-5)


def test_strategies_agree_and_differ_in_program(problem):
    """'loop' (CPU default) and 'vmap' (accelerators' default) give the same τ, and really are two programs: the
    loop has one matrix product per sequence, vmap one batched product."""
    from lwl_jax.models.learner import resolve_strategy

    x, y, v, tau, rho = problem
    outs, products = {}, {}
    for s in ("loop", "vmap"):
        f = functools.partial(steepest_descent, num_iter=3, strategy=s)
        outs[s] = f(tau, x, y, v, rho)[0]
        jaxpr = str(jax.make_jaxpr(lambda t, f=f: f(t, x, y, v, rho))(tau))
        products[s] = jaxpr.count("dot_general")
    np.testing.assert_allclose(outs["vmap"], outs["loop"], rtol=1e-5, atol=1e-7)
    assert products["loop"] > products["vmap"]
    assert resolve_strategy(None) == ("loop" if jax.default_backend() == "cpu" else "vmap")
    with pytest.raises(ValueError, match="learner strategy"):
        resolve_strategy("scan")
