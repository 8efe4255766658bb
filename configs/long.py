"""The paper's long schedule end to end (SPEC §4): stage 1 (70 epochs, backbone frozen) then stage 2 (80 epochs)
in one workdir — ``<workdir>/stage1``, then ``<workdir>/stage2`` initialised from stage 1's export. Re-running the
same command resumes whichever stage was interrupted.

    python train.py --config configs/long.py --workdir runs/long \\
        --config.stage1.data.youtubevos_root=data/youtubevos --config.stage1.data.davis_root=data/davis \\
        --config.stage2.data.youtubevos_root=data/youtubevos --config.stage2.data.davis_root=data/davis \\
        --config.stage1.init_checkpoint=pretrained/e2e_mask_rcnn_R_50_FPN_1x_converted.pkl

The final model is ``runs/long/stage2/export``. On 4 V100s the reference takes 48 hours for this schedule.
"""
import ml_collections

from lwl_jax.training.recipes import stage1, stage2


def get_config():
    c = ml_collections.ConfigDict()
    c.stages = ("stage1", "stage2")
    c.stage1 = stage1()
    c.stage2 = stage2()
    c.stage2.init_checkpoint = ""          # set to <workdir>/stage1/export by train.py
    return c
