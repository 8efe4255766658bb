"""Import of the PyTorch reference's checkpoints (no torch needed): read, map to our parameter tree, save.

* :mod:`lwl_jax.convert.torch_pickle` reads ``.pth`` files (zip and legacy formats) with NumPy and a restricted
  unpickler that only rebuilds tensors; unknown classes become inert placeholders and nothing in the file runs.
* :mod:`lwl_jax.convert.mapping` maps state_dict keys to Flax variables and back, reporting every missing,
  unexpected or mis-shaped key at once.
* :mod:`lwl_jax.convert.checkpoint` finds the state_dict inside trainer files, saves/loads orbax checkpoints.
* ``python -m lwl_jax.convert IN.pth OUT_DIR [--check]`` is the command line.
"""
from lwl_jax.convert.errors import CheckpointError, UnsafeCheckpointError  # noqa: F401
