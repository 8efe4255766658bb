"""The reference's training recipes as ConfigDicts (paper §3.6 and appendix D), shared by ``configs/stage1.py``,
``stage2.py``, ``long.py``, ``short.py`` and ``boxinit.py``. Every field can be overridden on the command line
(``--config.batch_size=8``; in ``long.py``: ``--config.stage1.batch_size=8``)."""
from __future__ import annotations

import ml_collections

from lwl_jax.training.rules import stage_rules

EPOCH = 1000          # batches per epoch (the reference's samples_per_epoch / batch size)


def model_config(**extra):
    """The full LWL network (ResNet-50, C=512, D=16; ``LWLNet``'s defaults) plus the memory/precision switches."""
    fields = dict(backbone_blocks=(3, 4, 6, 3), backbone_width=64, stride_in_1x1=True, feature_dim=512,
                  num_filters=16, label_encoder_dims=(16, 32, 64), decoder_mdim=64, optim_iter=5,
                  apply_refinement=False, remat_backbone=False, remat_learner=False, remat_frames=False,
                  dtype="float32")
    fields.update(extra)
    return ml_collections.ConfigDict(fields)


def data_config(**extra):
    d = dict(kind="vos", source="folders", tfds_dir="~/tensorflow_datasets", tfds_datasets=("youtubevos", "davis"),
             youtubevos_root="data/youtubevos", youtubevos_split="jjtrain", davis_root="data/davis",
             coco_root="", weights=dict(youtubevos=6.0, davis=1.0, coco=1.0), height=480, width=832,
             num_test_frames=3, max_gap=100, search_area_factor=5.0, max_rotation=15.0, max_log_scale=0.2,
             brightness=0.2, worker_count=8, seed=0)
    d.update(extra)
    return ml_collections.ConfigDict(d)


def validation_config(root="data/youtubevos", every=5 * EPOCH, num_sequences=30):
    """J&F of the tracker on the paper's held-out YouTube-VOS split (appendix H, ``jjvalid``)."""
    return ml_collections.ConfigDict(dict(every=every, kind="youtubevos", source="folders", root=root,
                                          tfds_dir="~/tensorflow_datasets", split="jjvalid",
                                          num_sequences=num_sequences, tracker="lwl_ytvos",
                                          tracker_overrides=()))


def base(**over):
    c = ml_collections.ConfigDict()
    c.model = model_config()
    c.data = data_config()
    c.validation = validation_config()
    c.param_rules = stage_rules("stage1")   # (regex, "frozen" or lr group) per parameter: training/rules.py
    c.batch_size = 20
    c.accum_steps = 1
    c.steps_per_epoch = EPOCH
    c.num_steps = 70 * EPOCH
    c.lr = ml_collections.ConfigDict(dict(default=2e-4))
    c.lr_milestones = (40,)
    c.lr_gamma = 0.2
    c.loss = "lovasz"
    c.loss_weight = 100.0
    c.forward = "segmentation"
    c.init_scheme = "reference"
    c.init_checkpoint = ""
    c.init_skip = ()                     # regexes of arrays the init checkpoint may lack or not fit (merge.py)
    c.checkpoint_every = 1000
    c.keep_checkpoints = 3
    c.log_every = 50
    c.image_every = 1000
    c.seed = 0
    for k, v in over.items():
        c[k] = v
    return c


def stage1():
    """Stage 1: backbone (Mask R-CNN ResNet-50) frozen, 70 epochs, MultiStepLR [40] γ 0.2."""
    c = base()
    c.lr = ml_collections.ConfigDict(dict(default=2e-4, filter_optimizer=1e-4, target_features=2e-5,
                                          decoder=1e-4, label_encoder=2e-4))
    c.init_checkpoint = "pretrained/e2e_mask_rcnn_R_50_FPN_1x_converted.pkl"
    c.init_skip = (r"^(params|batch_stats)/(?!feature_extractor/)",)    # a backbone: the rest starts fresh
    return c


def stage2():
    """Stage 2: all but conv1/bn1/layer1 trained from stage 1's weights, 80 epochs, MultiStepLR [25, 75]."""
    c = base(param_rules=stage_rules("stage2"), num_steps=80 * EPOCH, lr_milestones=(25, 75))
    c.lr = ml_collections.ConfigDict(dict(default=2e-5, filter_optimizer=2e-5, target_features=2e-5,
                                          decoder=2e-5, label_encoder=2e-5, backbone=2e-5))
    c.init_checkpoint = "runs/stage1/export"
    return c


def short():
    """The paper's ablation schedule (appendix D): backbone frozen, batch 10, 70k iterations, ×0.2 after 25k and
    50k (stage 1's per-module learning rates)."""
    c = stage1()
    c.batch_size = 10
    c.lr_milestones = (25, 50)
    return c


def boxinit():
    """Box encoder B (paper §3.7, appendix D): everything but ``box_label_encoder`` frozen and copied from stage 2;
    YouTube-VOS jjtrain + COCO 1 : 1; 1 train + 1 test frame (only the train frame is used); no affine; batch 8;
    Adam 1e-3; StepLR 20 epochs γ 0.2; 50 epochs; 10 × Lovász."""
    c = base(param_rules=stage_rules("boxinit"), batch_size=8, num_steps=50 * EPOCH, lr_milestones=(20, 40),
             loss_weight=10.0, forward="box")
    c.model = model_config(box_encoder=True)
    c.data = data_config(davis_root="", coco_root="data/coco", num_test_frames=1, max_rotation=0.0,
                         max_log_scale=0.0, worker_count=4, weights=dict(youtubevos=1.0, coco=1.0, davis=1.0))
    c.lr = ml_collections.ConfigDict(dict(default=1e-3))
    c.init_checkpoint = "runs/long/stage2/export"
    c.init_skip = (r"^(params|batch_stats)/box_label_encoder/",)       # B is new; the rest is stage 2's
    c.validation.every = 0
    return c
