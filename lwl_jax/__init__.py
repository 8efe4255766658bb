"""lwl_jax: Learning What to Learn for Video Object Segmentation (Bhat et al., ECCV 2020) in JAX/Flax."""
import os

__version__ = "0.1.0"

# XLA:CPU runs ResNet-50 convolutions faster outside its YNN fusions (backbone forward 0.59 s -> 0.46 s at
# 480x832 on a 2-core Zen 4, benchmarks/inference.py). Set before JAX starts its backend, so importing lwl_jax
# first is enough; a user's own setting of this flag wins, LWL_JAX_XLA_DEFAULTS=0 leaves XLA_FLAGS untouched.
CPU_XLA_FLAG = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"
if os.environ.get("LWL_JAX_XLA_DEFAULTS", "1") != "0" and "xla_cpu_experimental_ynn_fusion_type" not in \
        os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + CPU_XLA_FLAG).strip()
