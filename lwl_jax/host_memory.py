"""Host memory: which C allocator serves XLA:CPU, and giving freed memory back to the operating system.

``train.py`` restarts itself once, before any work, with ``with_malloc_settings`` applied to its environment
(``benchmarks/train_step.py`` runs its cases the same way). XLA:CPU allocates an executable's temporaries afresh at
every run (the stage-2 training step: gigabytes per step, plus many blocks for its convolutions):
* with gperftools' tcmalloc preloaded (``LD_PRELOAD``; Debian's ``libtcmalloc-minimal4``) the stage-2 step at
  832×480, batch 1, took 9.2–9.4 s against 11.0–12.6 s with the glibc settings below in two side-by-side runs, at
  lower peak RSS (3.8 against 3.9 GiB; README, "Training step");
* without it, glibc's defaults map each block above the largest mmap threshold (32 MiB) afresh, so the kernel zeroes
  its pages on first touch (26 % of the batch-2 step's time, ``perf``), and the worker threads' 64 MiB heaps are
  unmapped and mapped again. ``MALLOC_SETTINGS`` (one arena, no mmap for large blocks, no trimming of the heap's
  top) keep freed pages in the process, at the price of time in ``_int_malloc`` (12 % of the batch-1 step).
Either can only be set before the process starts; ``LWL_JAX_MALLOC=glibc`` declines tcmalloc,
``LWL_JAX_MALLOC_DEFAULTS=0`` leaves the environment alone.

Compiling a large XLA program (the stage-2 training step: ~1.2 GiB of compiler data structures) leaves that memory
freed but still resident in the C allocator's heap (with glibc's defaults the step's one large block is mapped
separately and cannot reuse it). ``release_freed_memory()`` right after compiling lowers the process's peak RSS by
about that much (measured: 4.96 -> 4.12 GB at 480×832, batch 1; README, "Stage-2 step against the reference").

With asynchronous dispatch (JAX's default on CPU) an execution runs on a worker thread that marks its outputs ready
*before* it frees its temporaries; the next step, dispatched the moment its inputs are ready, can allocate its own
temporary block while the previous one is still held, and the allocator maps a second one: peak RSS jumps by the
step's temporary size (2.25 GiB at 480×832) in some runs and not others. ``run_steps_inline()`` makes single-device
CPU executions run inline in the calling thread, which frees the temporaries before the call returns.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import os
import sys


@functools.lru_cache(maxsize=None)
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):       # not glibc (macOS, musl): nothing to do
        return None


MALLOC_SETTINGS = {"MALLOC_ARENA_MAX": "1", "MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "68719476736"}
TCMALLOC_NAMES = ("tcmalloc_minimal", "tcmalloc")      # gperftools (Debian: libtcmalloc-minimal4)


@functools.lru_cache(maxsize=None)
def find_tcmalloc() -> str | None:
    """The shared library of gperftools' tcmalloc if the system has one (a name ``LD_PRELOAD`` finds), else None."""
    for name in TCMALLOC_NAMES:
        found = ctypes.util.find_library(name)
        if found:
            return found
    return None


def with_malloc_settings(env) -> dict:
    """A copy of ``env`` for XLA:CPU: tcmalloc preloaded where the system has it (``LWL_JAX_MALLOC=glibc`` declines
    it), otherwise ``MALLOC_SETTINGS`` (a variable already set wins); unchanged with ``LWL_JAX_MALLOC_DEFAULTS=0``
    or off Linux."""
    env = dict(env)
    if env.get("LWL_JAX_MALLOC_DEFAULTS", "1") == "0" or not sys.platform.startswith("linux"):
        return env
    lib = find_tcmalloc() if env.get("LWL_JAX_MALLOC", "tcmalloc") != "glibc" else None
    if lib is not None:
        preload = env.get("LD_PRELOAD", "").split()
        if not any("tcmalloc" in p for p in preload):
            env["LD_PRELOAD"] = " ".join(preload + [lib])
        return env
    for k, v in MALLOC_SETTINGS.items():
        env.setdefault(k, v)
    return env


def restart_with_malloc_settings():
    """Replace this process by the same command with ``with_malloc_settings`` applied to its environment (same
    PID, so signals and process managers are unaffected); nothing when they are already there or not wanted."""
    env = with_malloc_settings(os.environ)
    if env != dict(os.environ) and _malloc_trim() is not None:
        os.execve(sys.executable, [sys.executable] + sys.orig_argv[1:], env)


def run_steps_inline():
    """Run single-device XLA:CPU executions inline (``jax_cpu_enable_async_dispatch=False``), so that a step's
    temporaries are freed before the next step allocates its own (module docstring). Call it before JAX creates
    its CPU backend (``train.py`` does, unless the config sets ``cpu_async_dispatch``); it has no effect on GPU/TPU
    or on multi-device computations.
    A ``JAX_CPU_ENABLE_ASYNC_DISPATCH`` set in the environment wins. Returns whether it applied the setting (False
    also when the backend exists already, as the setting would then not apply)."""
    import jax
    from jax._src import xla_bridge

    if "JAX_CPU_ENABLE_ASYNC_DISPATCH" in os.environ or xla_bridge.backends_are_initialized():
        return False
    jax.config.update("jax_cpu_enable_async_dispatch", False)
    return True


def _tcmalloc_release():
    """gperftools' ``MallocExtension_ReleaseFreeMemory`` when tcmalloc serves this process, else None."""
    try:
        return ctypes.CDLL(None).MallocExtension_ReleaseFreeMemory
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> bool:
    """Collect Python garbage and return the C heap's free pages to the OS (tcmalloc's ``ReleaseFreeMemory`` when
    it serves this process, else glibc's ``malloc_trim``). True if the allocator was asked to give memory back
    (glibc: and gave some); False where it cannot (another C library) or glibc had nothing to give."""
    gc.collect()
    tc = _tcmalloc_release()
    if tc is not None:
        tc()
        return True
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
