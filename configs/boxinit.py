"""Box-initialisation training (paper §3.7, appendix D): only the box encoder B is trained, on YouTube-VOS jjtrain and
COCO (1 : 1), everything else frozen and copied from a trained stage-2 network.

    python train.py --config configs/boxinit.py --workdir runs/boxinit \\
        --config.init_checkpoint=runs/long/stage2/export \\
        --config.data.youtubevos_root=data/youtubevos --config.data.coco_root=data/coco

COCO is read from ``annotations/instances_train2017.json`` + ``train2017/`` (polygons; crowd RLEs skipped). Then
``python evaluate.py --config configs/lwl_boxinit.py --checkpoint runs/boxinit/export ...``.
"""
from lwl_jax.training.recipes import boxinit


def get_config():
    return boxinit()
