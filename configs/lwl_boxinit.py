"""Tracker settings of the reference's ``lwl_boxinit`` parameter file (start from a box); they live in the package
(``lwl_jax/tracking/presets.py``): ``python -m lwl_jax.segment --box X,Y,W,H ...`` uses them by default."""
from lwl_jax.tracking.presets import lwl_boxinit


def get_config():
    return lwl_boxinit()
