"""T and A: the target model T_τ and the steepest-descent few-shot learner (paper §3.3, Eq. 3–4, appendix A).

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

The three bilinear maps of the learner (T, its adjoint in τ and its adjoint in x) are computed as matrix products
with a large inner dimension (below), and are ``custom_vjp`` functions whose backward rules are again these three
maps: a 3×3 convolution with 16 output channels, and XLA's generic convolution transposes inside a loop body, run
far below the CPU's peak (see ``benchmarks/learner.py`` and README → Benchmarks).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from lwl_jax.ops.vma import ct_like, varying

# --- the three bilinear maps, one sequence, as matrix products ----------------------------------------------
# A 3×3 convolution with D = 16 output channels runs far below the CPU's peak. Each map is instead one matrix
# product with a large inner dimension plus k² shifted copies of a D-channel map (exact up to float32 rounding):
#   T_τ(x)  = Σ_ab shift_ab(x · τ_ab)                  (N·h·w × C) · (C × k²D), then k² shifted adds
#   T*(r)   = xᵀ · [shift_ab(r)]_ab                     (C × N·h·w) · (N·h·w × k²D)
#   T'(r)   = [shift_ab(r)]_ab · τᵀ                     (N·h·w × k²D) · (k²D × C)
# where shift_ab(r)[i, j] = r[i − a + k//2, j − b + k//2] (zero outside). Odd kernel sizes (padding k//2).


def _check_kernel(k: int):
    if k % 2 != 1:
        raise ValueError(f"the target model's kernel size must be odd, got {k}")


def _shifted(r, k: int):
    """r (N, h, w, D) -> (N, h, w, k, k, D) with [..., i, j, a, b, :] = r[..., i − a + k//2, j − b + k//2, :]."""
    p = k // 2
    h, w = r.shape[1:3]
    rp = jnp.pad(r, ((0, 0), (p, p), (p, p), (0, 0)))
    return jnp.stack([jnp.stack([rp[:, 2 * p - a: 2 * p - a + h, 2 * p - b: 2 * p - b + w] for b in range(k)],
                                axis=3) for a in range(k)], axis=3)


def _conv1(x, tau):
    """T_τ(x), cross-correlation with padding k//2: x (N, h, w, C), τ (k, k, C, D) -> (N, h, w, D)."""
    k = tau.shape[0]
    _check_kernel(k)
    p = k // 2
    h, w = x.shape[1:3]
    z = jnp.einsum("nhwc,abcd->nhwabd", x, tau)
    zp = jnp.pad(z, ((0, 0), (p, p), (p, p), (0, 0), (0, 0), (0, 0)))
    out = zp[:, 0:h, 0:w, 0, 0]
    for a in range(k):
        for b in range(k):
            if a or b:
                out = out + zp[:, a:a + h, b:b + w, a, b]
    return out


def _filter_grad1(x, r, k):
    """T*(r) = Σ_{n,pixels} r × shifted x -> (k, k, C, D)."""
    _check_kernel(k)
    return jnp.einsum("nhwc,nhwabd->abcd", x, _shifted(r, k))


def _input_grad1(r, tau):
    """Adjoint of T in x: r (N, h, w, D) -> (N, h, w, C)."""
    k = tau.shape[0]
    _check_kernel(k)
    return jnp.einsum("nhwabd,abcd->nhwc", _shifted(r, k), tau)


STRATEGIES = ("loop", "vmap")


def resolve_strategy(strategy=None) -> str:
    """How the maps run over the S sequences: 'loop' (a static Python loop, one large matrix product per sequence:
    fastest on CPU) or 'vmap' (batched matrix products: what GPUs and TPUs want). None: 'loop' on the CPU backend,
    'vmap' elsewhere. Both compute the same values up to float32 rounding (tested on CPU with the parity cases)."""
    if strategy is None:
        return "loop" if jax.default_backend() == "cpu" else "vmap"
    if strategy not in STRATEGIES:
        raise ValueError(f"learner strategy must be one of {STRATEGIES} or None, got {strategy!r}")
    return strategy


def _per_sequence(f, a, b, a_axis, b_axis, out_axis, strategy):
    """Map ``f`` over the sequences (axis ``a_axis`` of ``a``, ``b_axis`` of ``b``) by ``strategy``."""
    if resolve_strategy(strategy) == "vmap":
        return jax.vmap(f, in_axes=(a_axis, b_axis), out_axes=out_axis)(a, b)
    n = a.shape[a_axis]
    outs = [f(lax.index_in_dim(a, i, a_axis, False), lax.index_in_dim(b, i, b_axis, False)) for i in range(n)]
    return jnp.stack(outs, axis=out_axis)


_DN = ("NHWC", "HWIO", "NHWC")


def conv_reference(x, tau, strategy=None):
    """T_τ(x) by XLA's convolution, the definition the matrix-product form is tested against:
    x (N, S, h, w, C), τ (S, k, k, C, D) -> (N, S, h, w, D)."""
    def one(a, t):
        p = t.shape[0] // 2
        return lax.conv_general_dilated(a, t, (1, 1), ((p, p), (p, p)), dimension_numbers=_DN)

    return _per_sequence(one, x, tau, 1, 0, 1, strategy)


def _apply_plain(x, tau, strategy):
    """T_τ(x): x (N, S, h, w, C), τ (S, k, k, C, D) -> (N, S, h, w, D)."""
    return _per_sequence(_conv1, x, tau, 1, 0, 1, strategy)


def _filter_grad_plain(x, r, k, strategy):
    """T*(r), adjoint of T in τ: x (N, S, h, w, C), r (N, S, h, w, D) -> (S, k, k, C, D)."""
    return _per_sequence(lambda a, b: _filter_grad1(a, b, k), x, r, 1, 1, 0, strategy)


def _input_grad_plain(r, tau, strategy):
    """Adjoint of T in x: r (N, S, h, w, D), τ (S, k, k, C, D) -> (N, S, h, w, C)."""
    return _per_sequence(_input_grad1, r, tau, 1, 0, 1, strategy)


# --- each with a backward pass made of the same three maps ---------------------------------------------------

# ``strategy`` (see ``resolve_strategy``) is a static argument of each. Each forward rule keeps the two inputs.

def _keeping_inputs(f):
    return lambda a, b, *static: (f(a, b, *static), (a, b))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def apply_filter(x, tau, strategy=None):
    """T_τ(x): x (N, S, h, w, C), τ (S, k, k, C, D) -> mask encoding (N, S, h, w, D)."""
    return _apply_plain(x, tau, strategy)


def _apply_bwd(strategy, res, ct):
    x, tau = res          # T_τ(x) is bilinear: its adjoints in x and in τ are the other two maps
    return ct_like(input_grad(ct, tau, strategy), x), ct_like(filter_grad(x, ct, tau.shape[1], strategy), tau)


apply_filter.defvjp(_keeping_inputs(apply_filter), _apply_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def filter_grad(x, r, kernel_size: int = 3, strategy=None):
    """T*(r), the adjoint of T in τ: x (N, S, h, w, C), r (N, S, h, w, D) -> (S, k, k, C, D)."""
    return _filter_grad_plain(x, r, kernel_size, strategy)


def _fg_bwd(kernel_size, strategy, res, ct):
    x, r = res
    return ct_like(input_grad(r, ct, strategy), x), ct_like(apply_filter(x, ct, strategy), r)


filter_grad.defvjp(_keeping_inputs(filter_grad), _fg_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def input_grad(r, tau, strategy=None):
    """Adjoint of T in x: r (N, S, h, w, D), τ (S, k, k, C, D) -> (N, S, h, w, C)."""
    return _input_grad_plain(r, tau, strategy)


def _ig_bwd(strategy, res, ct):
    r, tau = res
    return ct_like(apply_filter(ct, tau, strategy), r), ct_like(filter_grad(ct, r, tau.shape[1], strategy), tau)


input_grad.defvjp(_keeping_inputs(input_grad), _ig_bwd)


# --- the learner ---------------------------------------------------------------------------------------------

def _match_vma(a, like):
    """Inside shard_map, make a loop carry that starts replicated (τ⁰ = 0, the loss buffer) as device-varying as
    the data it will be combined with, so the fori_loop carry keeps one type."""
    missing = tuple(sorted(varying(like) - varying(a)))
    return lax.pcast(a, missing, to="varying") if missing else a


def _seq_sum(a, axes):
    return jnp.sum(a * a, axis=axes)


def steepest_descent(tau, x, labels, weights, filter_reg, num_iter: int, *, remat: bool = False,
                     python_loop: bool = False, plain_convs: bool = False, loss_numel=None, prediction=None,
                     strategy=None):
    """A: ``num_iter`` steepest-descent steps from τ. Returns ``(τ, losses)``, or ``(τ, losses, T_τ(x))`` when
    ``prediction`` is given.

    ``prediction``: T_τ(x) for the starting τ, when the caller already has it (the tracker keeps T_τ(x) of every
    memory sample: T is linear in τ, so it follows each step as T_τ(x) ← T_τ(x) − α T_g(x) at no extra cost, and
    the newest sample's was computed when its frame was predicted). That saves the first product over the memory.

    ``losses[k]`` is the loss before step k and ``losses[num_iter]`` after the last step: the mean of all squared
    residuals (data and regulariser together, all sequences), as the reference reports it.
    ``filter_reg`` is ρ (shape (1,) or scalar); the effective regulariser is λ = ρ².
    ``remat`` recomputes each iteration in the backward pass; ``python_loop`` unrolls in Python and
    ``plain_convs`` uses XLA convolutions (``conv_reference``) with JAX's generic gradients instead of the
    matrix-product maps and their custom VJPs (both only for benchmarks and tests).
    ``loss_numel`` overrides the residual count of the reported loss (e.g. only valid memory slots).
    ``strategy``: how the maps run over the sequences ('loop', 'vmap'; None: chosen by backend, ``resolve_strategy``).
    """
    num_iter = int(num_iter)
    f32 = jnp.float32
    x, labels, weights, tau = (a.astype(f32) for a in (x, labels, weights, tau))
    rho2 = jnp.reshape(filter_reg, ()).astype(f32) ** 2
    k = tau.shape[1]
    strategy = resolve_strategy(strategy)
    if plain_convs:
        T = functools.partial(conv_reference, strategy=strategy)
        Tstar = lambda a, b: jax.vjp(lambda t: T(a, t), tau)[1](b)[0]  # noqa: E731
    else:
        T = functools.partial(apply_filter, strategy=strategy)
        Tstar = lambda a, b: filter_grad(a, b, k, strategy)  # noqa: E731
    numel = (labels.size + tau.size) if loss_numel is None else loss_numel
    frame_axes = (0, 2, 3, 4)
    tau_axes = (1, 2, 3, 4)

    def loss(tau, r):
        return (jnp.sum(r * r) + rho2 * jnp.sum(tau * tau)) / numel

    def step(tau, r, u):
        g = Tstar(x, weights * r) + rho2 * tau
        tg = T(x, g)
        vtg = weights * tg
        gg = _seq_sum(g, tau_axes)
        alpha = gg / jnp.maximum(_seq_sum(vtg, frame_axes) + rho2 * gg, 1e-8)
        tau = tau - alpha[:, None, None, None, None] * g
        r = r - alpha[None, :, None, None, None] * vtg
        if u is not None:
            u = u - alpha[None, :, None, None, None] * tg
        return tau, r, u

    if remat:
        step = jax.checkpoint(step)

    u = None if prediction is None else prediction.astype(f32)
    r = weights * ((T(x, tau) if u is None else u) - labels)
    tau = _match_vma(tau, r)
    losses = _match_vma(jnp.zeros((num_iter + 1,), f32), r)
    if python_loop:
        for i in range(num_iter):
            losses = losses.at[i].set(loss(tau, r))
            tau, r, u = step(tau, r, u)
    else:
        def body(i, carry):
            tau, r, u, losses = carry
            losses = losses.at[i].set(loss(tau, r))
            tau, r, u = step(tau, r, u)
            return tau, r, u, losses

        tau, r, u, losses = lax.fori_loop(0, num_iter, body, (tau, r, u, losses))
    losses = losses.at[num_iter].set(loss(tau, r))
    return (tau, losses) if prediction is None else (tau, losses, u)
