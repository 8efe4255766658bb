"""Host memory: how glibc's allocator serves XLA:CPU, and giving freed memory back to the operating system.

``MALLOC_SETTINGS`` (``train.py`` restarts itself with them once, before any work; ``benchmarks/train_step.py``
runs its cases with them): XLA:CPU allocates an executable's temporaries afresh at every run, many of them larger
than glibc's largest mmap threshold (32 MiB), so by default each is a fresh ``mmap`` whose pages the kernel zeroes
on first touch, and the worker threads' 64 MiB heaps are unmapped and mapped again. In the stage-2 training step
at 832×480, batch 2, that page zeroing was 26 % of the time (``perf``; README, "Training step"). One arena, no
mmap for large blocks and no trimming of the heap's top keep freed pages in the process for the next allocation.
They can only be set in the environment before the process starts; ``LWL_JAX_MALLOC_DEFAULTS=0`` leaves them off.

Compiling a large XLA program (the stage-2 training step: ~1.2 GiB of compiler data structures) leaves that memory
freed but still resident in the C allocator's heap (with glibc's defaults the step's one large block is mapped
separately and cannot reuse it). ``release_freed_memory()`` right after compiling lowers the process's peak RSS by
about that much (measured: 4.96 -> 4.12 GB at 480×832, batch 1; README, "Stage-2 step against the reference").
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


def with_malloc_settings(env) -> dict:
    """A copy of ``env`` with ``MALLOC_SETTINGS`` added (a variable already set wins; none with
    ``LWL_JAX_MALLOC_DEFAULTS=0``, or off Linux)."""
    env = dict(env)
    if env.get("LWL_JAX_MALLOC_DEFAULTS", "1") != "0" and sys.platform.startswith("linux"):
        for k, v in MALLOC_SETTINGS.items():
            env.setdefault(k, v)
    return env


def restart_with_malloc_settings():
    """Replace this process by the same command with ``MALLOC_SETTINGS`` in its environment (same PID, so
    signals and process managers are unaffected); nothing when they are already there or not wanted."""
    env = with_malloc_settings(os.environ)
    if env != dict(os.environ) and _malloc_trim() is not None:
        os.execve(sys.executable, [sys.executable] + sys.orig_argv[1:], env)


def release_freed_memory() -> bool:
    """Collect Python garbage and return the C heap's free pages to the OS (glibc ``malloc_trim``). True if the
    allocator gave memory back; False where it cannot (another C library) or had nothing to give."""
    gc.collect()
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
