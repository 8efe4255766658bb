"""Tracker settings for the small synthetic-data model of ``configs/synthetic.py`` (``lwl_ytvos`` with 96×160 search
regions of 2.5× the target, as it was trained); they live in the package (``lwl_jax/tracking/presets.py``):
``python evaluate.py --config lwl_synthetic --checkpoint runs/synthetic/export ...`` (this file gives the same)."""
from lwl_jax.tracking.presets import lwl_synthetic


def get_config():
    return lwl_synthetic()
