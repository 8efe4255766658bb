"""Learner A: fori_loop vs the same iterations unrolled in Python, forward and value_and_grad.

    python benchmarks/learner.py [--iters 5] [--size 30 52] [--frames 1] [--seqs 1] [--json FILE]

Also shows the effect of the learner's custom_vjp convolutions (``plain`` = JAX's generic conv gradients).
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from benchmarks.common import report, timeit  # noqa: E402
from lwl_jax.models.learner import steepest_descent  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--size", type=int, nargs=2, default=(30, 52))
    p.add_argument("--channels", type=int, default=512)
    p.add_argument("--frames", type=int, default=1)
    p.add_argument("--seqs", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json")
    a = p.parse_args()
    k = jax.random.split(jax.random.PRNGKey(0), 3)
    n, s, (h, w), c, d = a.frames, a.seqs, a.size, a.channels, 16
    x = jax.random.normal(k[0], (n, s, h, w, c)) * 0.05
    y = jax.nn.relu(jax.random.normal(k[1], (n, s, h, w, d)))
    v = jax.random.normal(k[2], (n, s, h, w, d))
    tau0 = jnp.zeros((s, 3, 3, c, d))
    rho = jnp.array([0.1])
    rows = []
    for loop in ("fori_loop", "python"):
        for convs in ("custom_vjp", "plain"):
            kw = dict(python_loop=loop == "python", plain_convs=convs == "plain")

            def fwd(x, y, v, rho, kw=kw):
                return steepest_descent(tau0, x, y, v, rho, a.iters, **kw)[0]

            def loss(x, y, v, rho, kw=kw):
                tau, losses = steepest_descent(tau0, x, y, v, rho, a.iters, **kw)
                return jnp.sum(tau ** 2) + losses[-1]

            f1, fwd_t = timeit(jax.jit(fwd), x, y, v, rho, repeats=a.repeats)
            f2, grad_t = timeit(jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3))), x, y, v, rho,
                                repeats=a.repeats)
            rows.append({"loop": loop, "convs": convs, "forward_s": fwd_t, "value_and_grad_s": grad_t,
                         "compile_fwd_s": f1 - fwd_t, "compile_grad_s": f2 - grad_t})
    print(f"learner: {a.iters} iterations, x {n}x{s}x{h}x{w}x{c}, backend {jax.default_backend()}")
    report("learner", rows, a.json)


if __name__ == "__main__":
    main()
