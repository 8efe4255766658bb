"""Tracker settings of the reference's ``lwl_ytvos`` parameter file (mask initialisation); they live in the package
(``lwl_jax/tracking/presets.py``) and are the evaluation default: ``python evaluate.py --checkpoint CKPT ...``
(``--config lwl_ytvos`` or this file give the same settings)."""
from lwl_jax.tracking.presets import lwl_ytvos


def get_config():
    return lwl_ytvos()
