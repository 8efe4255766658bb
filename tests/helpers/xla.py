"""XLA settings of the test run, and environments for the subprocesses tests start.

The suite compiles a few hundred programs, most of them small; for those, XLA:CPU's time goes into LLVM optimising
~2000 generated kernels per training step (18 s of a 20 s compile for the tiny trainer config). The tests therefore
compile with LLVM optimisation off and the classic fusion emitters: the same HLO programs, the same float32
semantics, slower machine code (3.8 s for that compile). Set LWL_JAX_TEST_OPTIMIZED=1 to run the suite with the
production settings (the parity tolerances hold either way; `python -m lwl_jax.parity` runs with the production
settings)."""
import os

FAST_COMPILE_FLAGS = "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"


def suite_xla_flags(extra=""):
    """XLA_FLAGS for this test run (plus `extra`, e.g. a fake device count)."""
    base = "" if os.environ.get("LWL_JAX_TEST_OPTIMIZED") == "1" else FAST_COMPILE_FLAGS
    return f"{base} {extra}".strip()


def subprocess_env(extra_flags="", **extra):
    """os.environ with the test run's XLA flags (plus `extra_flags`) and the given variables."""
    return {**os.environ, "XLA_FLAGS": suite_xla_flags(extra_flags), **extra}
