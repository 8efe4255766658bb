"""Stage 1 of the reference's training (paper §3.6, appendix D): YouTube-VOS 2019 jjtrain + DAVIS 2017 train
(6 : 1), 832×480 crops, batch 20 over all devices, backbone (Mask R-CNN ResNet-50) frozen, 70 epochs of 1000 batches.

    python train.py --config configs/stage1.py --workdir runs/stage1 \\
        --config.data.youtubevos_root=data/youtubevos --config.data.davis_root=data/davis \\
        --config.init_checkpoint=pretrained/e2e_mask_rcnn_R_50_FPN_1x_converted.pkl

Expect the validation J&F on the 300 held-out videos to rise over the epochs (not measured here: no GPU and no
dataset on this project's machines). Memory switches: --config.model.remat_frames=True (halves activation
memory), --config.model.remat_backbone=True, --config.model.remat_learner=True, --config.model.dtype=bfloat16,
--config.accum_steps=2.
"""
from lwl_jax.training.recipes import stage1


def get_config():
    return stage1()
