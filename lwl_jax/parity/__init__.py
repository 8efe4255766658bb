"""Numerical parity with the PyTorch reference on golden fixture folders (``python -m lwl_jax.parity DIR``)."""
