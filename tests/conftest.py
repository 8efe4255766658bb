"""Shared test setup: fast-compiling XLA settings, float32 with highest matmul precision (as the parity tolerances
assume), a persistent compilation cache for the run, the fixture folder, and one Fixtures object per session so
jit-compiled functions are shared across tests."""
import os
import tempfile

from tests.helpers.xla import suite_xla_flags

# before JAX starts its backend: fast-compiling XLA settings for the whole run (see tests/helpers/xla.py)
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {suite_xla_flags()}".strip()

import jax  # noqa: E402
import pytest

jax.config.update("jax_default_matmul_precision", "highest")

# One persistent compilation cache for the whole run (fresh per run), shared with the subprocesses the tests start:
# tests that rebuild the same step (trainer restarts, train.py re-runs) get the compiled executable back instead of
# compiling it again. A cache hit runs the same executable, so no result changes.
_CACHE = tempfile.mkdtemp(prefix="lwl_jax_test_xla_cache_")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


@pytest.fixture(scope="session")
def fixture_dir():
    return FIXTURES


@pytest.fixture(scope="session")
def fixtures():
    from lwl_jax.parity.cases import Fixtures

    return Fixtures(FIXTURES)


@pytest.fixture(scope="session")
def small_model():
    """A CPU-scale LWL (small backbone, few channels) and its fresh variables."""
    from lwl_jax.models.lwl import LWLNet, init_variables

    model = LWLNet(backbone_blocks=(1, 1, 1, 1), backbone_width=8, feature_dim=32, num_filters=4,
                   label_encoder_dims=(4, 8, 8), decoder_mdim=8, box_encoder=True, box_dims=(8, 8), optim_iter=2)
    return model, init_variables(model, jax.random.PRNGKey(0), (64, 96))


@pytest.fixture(scope="session")
def checkpoint(small_model, tmp_path_factory):
    """The small model converted: (box-init checkpoint folder, mask-only checkpoint folder)."""
    from lwl_jax.convert.checkpoint import save_converted

    model, variables = small_model
    out = tmp_path_factory.mktemp("ckpt") / "small"
    cfg = {f: getattr(model, f) for f in ("backbone_blocks", "backbone_width", "feature_dim", "num_filters",
                                          "label_encoder_dims", "decoder_mdim", "box_encoder", "box_dims")}
    save_converted(out, "lwl_boxinit", cfg, variables)
    mask_only = tmp_path_factory.mktemp("ckpt") / "mask_only"
    cfg["box_encoder"] = False
    v = {c: {k: t for k, t in tree.items() if k != "box_label_encoder"} for c, tree in variables.items()}
    save_converted(mask_only, "lwl", cfg, v)
    return str(out), str(mask_only)
