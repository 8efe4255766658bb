"""The paper's shorter ablation schedule (appendix D): backbone frozen, batch 10, 70k iterations, learning rates
×0.2 after 25k and 50k.

    python train.py --config configs/short.py --workdir runs/short \\
        --config.data.youtubevos_root=data/youtubevos --config.data.davis_root=data/davis \\
        --config.init_checkpoint=pretrained/e2e_mask_rcnn_R_50_FPN_1x_converted.pkl
"""
from lwl_jax.training.recipes import short


def get_config():
    return short()
