"""Stage 2 of the reference's training (paper §3.6, appendix D): from stage 1's weights, everything but backbone
conv1/bn1/layer1 trained, learning rates 2e-5, 80 epochs, MultiStepLR [25, 75] γ 0.2.

    python train.py --config configs/stage2.py --workdir runs/stage2 --config.init_checkpoint=runs/stage1/export \\
        --config.data.youtubevos_root=data/youtubevos --config.data.davis_root=data/davis

Fine-tuning the released model instead: --config.init_checkpoint=lwl_stage2.pth (a PyTorch checkpoint is converted
on the fly). The result is exported to runs/stage2/export for evaluate.py.
"""
from lwl_jax.training.recipes import stage2


def get_config():
    return stage2()
