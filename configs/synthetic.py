"""CPU-scale LWL on the built-in synthetic videos (small backbone, from scratch), on crops of the training styles.

    python train.py --config configs/synthetic.py --workdir runs/synthetic
    python -m lwl_jax.data.synthetic data/synth_train_style --videos 30 --seed 1 --height 192 --width 320 \\
        --style train --static_baseline results/static_train_style
    python evaluate.py --config lwl_synthetic --checkpoint runs/synthetic/export --dataset davis \\
        --root data/synth_train_style --out results/lwl_train_style --pictures 6

(and the same two commands with ``heldout`` for the style-held-out split). The model is exported to
``runs/synthetic/export`` when training ends. Expected (README, Results): 18 min 20 s on 2 CPU cores; J&F 0.634 on
those 30 held-out videos of the training styles (static baseline 0.148) and 0.628 on 30 style-held-out videos
(0.146); this model is the demo's built-in one (``lwl_jax/demo/model``).
"""
import ml_collections

from lwl_jax.training.rules import stage_rules


def get_config():
    c = ml_collections.ConfigDict()
    c.model = ml_collections.ConfigDict(dict(
        backbone_blocks=(1, 1, 1, 1), backbone_width=16, feature_dim=64, num_filters=8,
        label_encoder_dims=(8, 16, 32), decoder_mdim=16, optim_iter=5, remat_backbone=False, remat_learner=False,
        remat_frames=False, dtype="float32", target_stride=8))
    # target_stride=8: target features and labels at stride 8 (a 12×20 map of a 96×160 crop instead of 6×10).
    # 96×160 crops of 2.5× the (jittered) target box from 192×320 videos of the training styles, near what the
    # tracker sees (its search region is 2× the target, preset lwl_synthetic); the reference's centre jitter is meant
    # for crops of 5×, so it is halved with the crop (else test targets leave their crops); each video serves 4
    # batches (reuse)
    c.data = ml_collections.ConfigDict(dict(kind="synthetic", seed=0, style="train", height=96, width=160,
                                            video_height=192, video_width=320, num_frames=12, num_test_frames=3,
                                            worker_count=1, reuse=4, crop=True, search_area_factor=2.5,
                                            center_jitter=((1.5, 1.5), (2.75, 2.25)), max_rotation=15.0,
                                            max_log_scale=0.2, brightness=0.2))
    c.param_rules = stage_rules("all")   # nothing frozen: the small backbone trains from scratch
    c.batch_size = 4
    c.num_steps = 3000
    c.steps_per_epoch = 100
    c.lr = ml_collections.ConfigDict(dict(default=1e-4, filter_optimizer=1e-4))
    c.lr_milestones = (24,)          # epochs: ×0.2 for the last 600 steps
    c.init_scheme = "from_scratch"   # see lwl_jax/models/init.py
    c.lr_gamma = 0.2
    c.loss_weight = 100.0
    c.loss = "lovasz+bce"            # the Lovász alone collapses from scratch (lwl_jax/training/loss.py)
    c.forward = "segmentation"
    c.accum_steps = 1
    # keep JAX's asynchronous CPU dispatch (other configs run steps inline, lwl_jax/host_memory.py): the host's work
    # per step overlaps the 0.3 s step (400 steps: 11.3–11.4 against 10.9–11.1 examples/s), and a second block of
    # this step's small temporaries would cost little
    c.cpu_async_dispatch = True
    c.image_every = 100
    c.validation = ml_collections.ConfigDict(dict(
        every=1500, kind="synthetic", seed=1, num_sequences=10, styles=("train", "heldout"), tracker="lwl_synthetic",
        tracker_overrides=()))
    c.checkpoint_every = 500
    c.keep_checkpoints = 3
    c.log_every = 10
    c.seed = 0
    c.init_checkpoint = ""
    c.init_skip = ()                 # regexes of arrays the init checkpoint may lack or not fit
    return c
