"""Errors of the checkpoint import (defined in :mod:`lwl_jax.errors`); their message is one line for the user."""
from lwl_jax.errors import CheckpointError, UnsafeCheckpointError

__all__ = ["CheckpointError", "UnsafeCheckpointError"]
