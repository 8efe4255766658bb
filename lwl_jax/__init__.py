"""lwl_jax: Learning What to Learn for Video Object Segmentation (Bhat et al., ECCV 2020) in JAX/Flax."""

__version__ = "0.1.0"
