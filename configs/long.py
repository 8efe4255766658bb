"""The paper's long schedule end to end (paper §4, appendix D): stage 1 (70 epochs, backbone frozen) then stage 2
(80 epochs) in one workdir — ``<workdir>/stage1``, then ``<workdir>/stage2`` initialised from stage 1's export.
Re-running the same command resumes whichever stage was interrupted. Training data comes from the TFDS datasets
(prepare them once; the manual folders hold the extracted official archives):

    python -m lwl_jax.data.prepare_tfds youtube_vos_2019 --manual_dir data/youtubevos
    python -m lwl_jax.data.prepare_tfds davis_2017 --manual_dir data/davis
    python train.py --config configs/long.py --workdir runs/long \\
        --config.stage1.init_checkpoint=pretrained/e2e_mask_rcnn_R_50_FPN_1x_converted.pkl

(``--config.stage1.data.tfds_dir`` / ``stage2`` when they are not in ``~/tensorflow_datasets``.) To read the raw
folders instead: ``--config.stage1.data.source=folders --config.stage1.data.youtubevos_root=data/youtubevos
--config.stage1.data.davis_root=data/davis --config.stage1.validation.source=folders`` (same for ``stage2``).

The final model is ``runs/long/stage2/export``. On 4 V100s the reference takes 48 hours for this schedule.
"""
import ml_collections

from lwl_jax.training.recipes import stage1, stage2


def get_config():
    c = ml_collections.ConfigDict()
    c.stages = ("stage1", "stage2")
    c.stage1 = stage1()
    c.stage2 = stage2()
    for stage in (c.stage1, c.stage2):
        stage.data.source = "tfds"            # youtube_vos_2019 (jjtrain) + davis_2017/480p (train)
        stage.validation.source = "tfds"      # youtube_vos_2019 (jjvalid)
    c.stage2.init_checkpoint = ""          # set to <workdir>/stage1/export by train.py
    return c
