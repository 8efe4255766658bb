"""lwl_jax: Learning What to Learn for Video Object Segmentation (Bhat et al., ECCV 2020) in JAX/Flax."""
import os

__version__ = "0.1.0"

# XLA:CPU settings, set before JAX starts its backend (importing lwl_jax first is enough); a user's own setting of
# a flag wins, LWL_JAX_XLA_DEFAULTS=0 leaves XLA_FLAGS untouched. Both only concern the CPU backend:
# * ResNet-50 convolutions run faster outside XLA's YNN fusions (backbone forward 0.59 s -> 0.46 s at 480x832 on a
#   2-core Zen 4, benchmarks/inference.py);
# * the concurrency-optimised scheduler keeps many activations alive at once: without it the stage-2 training step
#   needs 2.75 GiB of XLA temporary memory instead of 3.55 (benchmarks/train_step.py, README), step time within 2 %.
CPU_XLA_FLAGS = {"xla_cpu_experimental_ynn_fusion_type": "-individual_convolution",
                 "xla_cpu_enable_concurrency_optimized_scheduler": "false"}
if os.environ.get("LWL_JAX_XLA_DEFAULTS", "1") != "0":
    _flags = os.environ.get("XLA_FLAGS", "")
    for _name, _value in CPU_XLA_FLAGS.items():
        if _name not in _flags:
            _flags = f"{_flags} --{_name}={_value}".strip()
    os.environ["XLA_FLAGS"] = _flags
