"""Shared test setup: float32 with highest matmul precision (as the parity tolerances assume), the fixture
folder, and one Fixtures object per session so jit-compiled functions are shared across tests."""
import os

import jax
import pytest

jax.config.update("jax_default_matmul_precision", "highest")

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
