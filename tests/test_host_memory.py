"""Allocator settings for XLA:CPU (``lwl_jax/host_memory.py``): train.py restarts itself once with tcmalloc
preloaded (or, without it, glibc settings)."""
import os
import subprocess
import sys

from lwl_jax.host_memory import MALLOC_SETTINGS, find_tcmalloc, with_malloc_settings

SCRIPT = ("import os; from lwl_jax.host_memory import restart_with_malloc_settings as r, release_freed_memory as f; "
          "r(); print(os.getpid(), os.environ.get('LD_PRELOAD'), os.environ.get('MALLOC_ARENA_MAX'), "
          "os.environ.get('MALLOC_MMAP_MAX_'), f())")


def test_tcmalloc_is_preferred_glibc_settings_otherwise_unless_set_or_opted_out():
    assert find_tcmalloc(), "gperftools' tcmalloc is missing: apt-get install libtcmalloc-minimal4 (README, Install)"
    env = with_malloc_settings({"PATH": "/bin", "LD_PRELOAD": "libfoo.so"})
    assert env["LD_PRELOAD"] == f"libfoo.so {find_tcmalloc()}" and "MALLOC_ARENA_MAX" not in env
    assert with_malloc_settings(env) == env                        # already preloaded: unchanged
    env = with_malloc_settings({"PATH": "/bin", "MALLOC_ARENA_MAX": "4", "LWL_JAX_MALLOC": "glibc"})
    assert env["MALLOC_ARENA_MAX"] == "4" and env["MALLOC_MMAP_MAX_"] == MALLOC_SETTINGS["MALLOC_MMAP_MAX_"]
    assert "LD_PRELOAD" not in env
    assert with_malloc_settings({"LWL_JAX_MALLOC_DEFAULTS": "0"}) == {"LWL_JAX_MALLOC_DEFAULTS": "0"}


def _restarted(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "LD_PRELOAD"}
    p = subprocess.Popen([sys.executable, "-c", SCRIPT], env={**env, **extra}, stdout=subprocess.PIPE, text=True)
    out = p.communicate(timeout=120)[0].split()
    assert p.returncode == 0 and out[0] == str(p.pid), out          # replaced itself: same PID
    return out[1:]


def test_the_process_restarts_itself_with_the_allocator_keeping_its_pid():
    preload, arena, mmap_max, released = _restarted()
    assert preload == find_tcmalloc() and (arena, mmap_max) == ("None", "None")
    assert released == "True"                           # tcmalloc's ReleaseFreeMemory was found and called
    assert _restarted(LWL_JAX_MALLOC="glibc")[:3] == ["None", "1", "0"]
    assert _restarted(LWL_JAX_MALLOC_DEFAULTS="0")[:3] == ["None", "None", "None"]


def test_compile_step_drops_jax_caches_only_for_steps_with_large_temporaries(monkeypatch):
    import jax
    import jax.numpy as jnp

    from lwl_jax.training import trainer

    other = jax.jit(lambda x: x * 2)
    other(jnp.ones(3))                                  # some other jitted function, traced and cached
    step = jax.jit(lambda s, b: (s + b.sum(), {"loss": b.mean()}))
    args = (jnp.zeros(()), jnp.ones((8, 8)))
    compiled = trainer.compile_step(step, *args)        # temporaries far below CLEAR_CACHES_ABOVE: caches kept
    assert other._cache_size() == 1 and float(compiled(*args)[0]) == 64.0
    monkeypatch.setattr(trainer, "CLEAR_CACHES_ABOVE", 0)
    compiled = trainer.compile_step(step, *args)
    assert other._cache_size() == 0 and float(compiled(*args)[0]) == 64.0


# one step with a 256 MiB temporary (an outer product kept for a matmul), run back to back as the trainer runs its
# steps; prints whether the inline setting applied, the temporary size and the RSS peak's growth over the steps
STEPS = r"""
import resource, sys
from lwl_jax.host_memory import run_steps_inline
inline = run_steps_inline() if sys.argv[1] == "inline" else False
import jax, jax.numpy as jnp
x = jnp.ones((1 << 13,), jnp.float32)
def f(x):
    y = jnp.sin(x[:, None] * x[None, :])
    return x + jnp.cos(y @ y[:64].T).sum(1) * 1e-9
step = jax.jit(f)
step = step.lower(x).compile()
x = step(x).block_until_ready()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for _ in range(40):
    x = step(x).block_until_ready()
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak
print(inline, step.memory_analysis().temp_size_in_bytes, grown * 1024)
"""


def test_steps_run_inline_free_their_temporaries_before_the_next_step():
    """With JAX's asynchronous CPU dispatch a step's outputs are ready before its temporaries are freed, and the
    next step sometimes maps a second temporary block (peak RSS + one temporary size); train.py therefore runs
    steps inline (``run_steps_inline``), and then 40 steps back to back never raise the peak by a second block."""
    import jax

    from lwl_jax.host_memory import run_steps_inline

    jax.devices()
    assert run_steps_inline() is False        # this process's backend exists already: too late, and it says so
    # tcmalloc preloaded, as train.py runs; without a user setting of the dispatch mode
    env = with_malloc_settings({k: v for k, v in os.environ.items() if k != "JAX_CPU_ENABLE_ASYNC_DISPATCH"})
    res = subprocess.run([sys.executable, "-c", STEPS, "inline"], env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    inline, temp, grown = res.stdout.split()
    assert inline == "True" and int(temp) >= 2 ** 28
    assert int(grown) < int(temp) // 2, (grown, temp)
