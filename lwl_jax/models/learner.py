"""T and A: the target model T_τ and the steepest-descent few-shot learner (paper Eq. 3–4, SPEC §1.4).

The target model is one conv τ per sequence, mapping the 512-channel features x to a 16-channel mask encoding:
``T_τ(x) = x * τ`` (cross-correlation, padding k//2). Given labels E(y) and importance weights v = W(y) of the
few-shot training frames, the learner minimises

    L(τ) = ½ Σ_t ‖v_t ⊙ (T_τ(x_t) − E(y_t))‖² + ½ ‖ρ τ‖²          (λ = ρ², ρ is the learned ``filter_reg``)

by steepest descent with the exact Gauss–Newton step length, starting from τ (τ⁰ = 0 on a first frame):

    r   = v ⊙ (T_τ(x) − y)                    data residual
    g   = T*(v ⊙ r) + ρ² τ                    gradient of L  (T* is the adjoint of T in τ)
    α   = ‖g‖² / max(‖v ⊙ T_g(x)‖² + ρ² ‖g‖², 1e-8)      per sequence
    τ  ← τ − α g,     r ← r − α v ⊙ T_g(x)   (T is linear in τ, so the new residual needs no extra conv)

Layouts are NHWC: x ``(N, S, h, w, C)``, labels/weights ``(N, S, h, w, D)``, τ ``(S, k, k, C, D)``
(N frames of S independent sequences). The loop is a ``jax.lax.fori_loop`` and is differentiated end to end.

The three bilinear convolutions of the learner (T, its adjoint in τ and its adjoint in x) are ``custom_vjp``
functions whose backward rules are again these plain NHWC/HWIO convolutions: on XLA's CPU backend the generic
convolution transposes inside a loop body are much slower (see ``benchmarks/learner.py``).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax


# --- the three bilinear maps, one sequence, in standard NHWC/HWIO layouts -----------------------------------
# XLA's CPU backend takes its fast convolution path inside a loop body only for standard layouts, so each map
# transposes its operands into NHWC/HWIO first.

_DN = ("NHWC", "HWIO", "NHWC")


def _pad(k: int):
    return ((k // 2, k // 2), (k // 2, k // 2))


def _conv1(x, tau):
    """x (N, h, w, C), τ (k, k, C, D) -> (N, h, w, D)."""
    return lax.conv_general_dilated(x, tau, (1, 1), _pad(tau.shape[0]), dimension_numbers=_DN)


def _filter_grad1(x, r, k):
    """Σ_{n,pixels} r × shifted x -> (k, k, C, D): channels C act as the batch, frames N are contracted."""
    out = lax.conv_general_dilated(x.transpose(3, 1, 2, 0), r.transpose(1, 2, 0, 3), (1, 1), _pad(k),
                                   dimension_numbers=_DN)
    return out.transpose(1, 2, 0, 3)


def _input_grad1(r, tau):
    """r (N, h, w, D) -> (N, h, w, C): correlation with the flipped, transposed filter."""
    k = tau.shape[0]
    pad = ((k - 1 - k // 2, k - 1 - k // 2),) * 2
    return lax.conv_general_dilated(r, jnp.flip(tau, (0, 1)).transpose(0, 1, 3, 2), (1, 1), pad,
                                    dimension_numbers=_DN)


def _per_sequence(f, a, b, a_axis, b_axis, out_axis):
    """Map ``f`` over the sequences. On CPU a static loop of plain convolutions (XLA's CPU grouped convolutions
    are ~20× slower); elsewhere ``vmap``, which becomes one grouped convolution."""
    if jax.default_backend() != "cpu":
        return jax.vmap(f, in_axes=(a_axis, b_axis), out_axes=out_axis)(a, b)
    n = a.shape[a_axis]
    outs = [f(lax.index_in_dim(a, i, a_axis, False), lax.index_in_dim(b, i, b_axis, False)) for i in range(n)]
    return jnp.stack(outs, axis=out_axis)


def _apply_plain(x, tau):
    """T_τ(x): x (N, S, h, w, C), τ (S, k, k, C, D) -> (N, S, h, w, D)."""
    return _per_sequence(_conv1, x, tau, 1, 0, 1)


def _filter_grad_plain(x, r, k):
    """T*(r), adjoint of T in τ: x (N, S, h, w, C), r (N, S, h, w, D) -> (S, k, k, C, D)."""
    return _per_sequence(lambda a, b: _filter_grad1(a, b, k), x, r, 1, 1, 0)


def _input_grad_plain(r, tau):
    """Adjoint of T in x: r (N, S, h, w, D), τ (S, k, k, C, D) -> (N, S, h, w, C)."""
    return _per_sequence(_input_grad1, r, tau, 1, 0, 1)


# --- each with a backward pass made of the same three maps ---------------------------------------------------

def _varying(a) -> frozenset:
    """Mesh axes along which ``a`` varies inside shard_map (empty outside)."""
    t = jax.typeof(a)
    mat = getattr(t, "manual_axis_type", None)
    if mat is not None:
        return frozenset(mat.varying)
    return frozenset(getattr(t, "vma", frozenset()))


def _ct_like(ct, primal):
    """Inside shard_map, the cotangent of an input replicated over an axis is summed over that axis."""
    extra = tuple(sorted(_varying(ct) - _varying(primal)))
    return lax.psum(ct, extra) if extra else ct


@jax.custom_vjp
def apply_filter(x, tau):
    """T_τ(x): x (N, S, h, w, C), τ (S, k, k, C, D) -> mask encoding (N, S, h, w, D)."""
    return _apply_plain(x, tau)


def _apply_fwd(x, tau):
    return apply_filter(x, tau), (x, tau)


def _apply_bwd(res, ct):
    x, tau = res
    return _ct_like(input_grad(ct, tau), x), _ct_like(filter_grad(x, ct), tau)


apply_filter.defvjp(_apply_fwd, _apply_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def filter_grad(x, r, kernel_size: int = 3):
    """T*(r), the adjoint of T in τ: x (N, S, h, w, C), r (N, S, h, w, D) -> (S, k, k, C, D)."""
    return _filter_grad_plain(x, r, kernel_size)


def _fg_fwd(x, r, kernel_size):
    return filter_grad(x, r, kernel_size), (x, r)


def _fg_bwd(kernel_size, res, ct):
    x, r = res
    return _ct_like(input_grad(r, ct), x), _ct_like(apply_filter(x, ct), r)


filter_grad.defvjp(_fg_fwd, _fg_bwd)


@jax.custom_vjp
def input_grad(r, tau):
    """Adjoint of T in x: r (N, S, h, w, D), τ (S, k, k, C, D) -> (N, S, h, w, C)."""
    return _input_grad_plain(r, tau)


def _ig_fwd(r, tau):
    return input_grad(r, tau), (r, tau)


def _ig_bwd(res, ct):
    r, tau = res
    return _ct_like(apply_filter(ct, tau), r), _ct_like(filter_grad(ct, r, tau.shape[1]), tau)


input_grad.defvjp(_ig_fwd, _ig_bwd)


# --- the learner ---------------------------------------------------------------------------------------------

def _match_vma(a, like):
    """Inside shard_map, make a loop carry that starts replicated (τ⁰ = 0, the loss buffer) as device-varying as
    the data it will be combined with, so the fori_loop carry keeps one type."""
    missing = tuple(sorted(_varying(like) - _varying(a)))
    return lax.pcast(a, missing, to="varying") if missing else a


def _seq_sum(a, axes):
    return jnp.sum(a * a, axis=axes)


def steepest_descent(tau, x, labels, weights, filter_reg, num_iter: int, *, remat: bool = False,
                     python_loop: bool = False, plain_convs: bool = False, loss_numel=None):
    """A: ``num_iter`` steepest-descent steps from τ. Returns ``(τ, losses)``.

    ``losses[k]`` is the loss before step k and ``losses[num_iter]`` after the last step: the mean of all squared
    residuals (data and regulariser together, all sequences), as the reference reports it.
    ``filter_reg`` is ρ (shape (1,) or scalar); the effective regulariser is λ = ρ².
    ``remat`` recomputes each iteration in the backward pass; ``python_loop`` unrolls in Python and
    ``plain_convs`` uses JAX's generic convolution gradients (both only for benchmarks and tests).
    ``loss_numel`` overrides the residual count of the reported loss (e.g. only valid memory slots).
    """
    num_iter = int(num_iter)
    f32 = jnp.float32
    x, labels, weights, tau = (a.astype(f32) for a in (x, labels, weights, tau))
    rho2 = jnp.reshape(filter_reg, ()).astype(f32) ** 2
    k = tau.shape[1]
    if plain_convs:
        T = _apply_plain
        Tstar = lambda a, b: _filter_grad_plain(a, b, k)  # noqa: E731
    else:
        T = apply_filter
        Tstar = lambda a, b: filter_grad(a, b, k)  # noqa: E731
    numel = (labels.size + tau.size) if loss_numel is None else loss_numel
    frame_axes = (0, 2, 3, 4)
    tau_axes = (1, 2, 3, 4)

    def loss(tau, r):
        return (jnp.sum(r * r) + rho2 * jnp.sum(tau * tau)) / numel

    def step(tau, r):
        g = Tstar(x, weights * r) + rho2 * tau
        vtg = weights * T(x, g)
        gg = _seq_sum(g, tau_axes)
        alpha = gg / jnp.maximum(_seq_sum(vtg, frame_axes) + rho2 * gg, 1e-8)
        tau = tau - alpha[:, None, None, None, None] * g
        r = r - alpha[None, :, None, None, None] * vtg
        return tau, r

    if remat:
        step = jax.checkpoint(step)

    r = weights * (T(x, tau) - labels)
    tau = _match_vma(tau, r)
    losses = _match_vma(jnp.zeros((num_iter + 1,), f32), r)
    if python_loop:
        for i in range(num_iter):
            losses = losses.at[i].set(loss(tau, r))
            tau, r = step(tau, r)
    else:
        def body(i, carry):
            tau, r, losses = carry
            losses = losses.at[i].set(loss(tau, r))
            tau, r = step(tau, r)
            return tau, r, losses

        tau, r, losses = lax.fori_loop(0, num_iter, body, (tau, r, losses))
    losses = losses.at[num_iter].set(loss(tau, r))
    return tau, losses
