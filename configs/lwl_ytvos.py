"""Tracker settings of the reference's ``lwl_ytvos`` parameter file (mask initialisation), SPEC §5.1.

Used by the tracker (``lwl_jax.tracking``): ``python evaluate.py --config configs/lwl_ytvos.py ...``.
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.image_sample_size = (480, 832)       # crop fed to the network, (h, w) = 16 · (30, 52)
    c.search_area_scale = 5.0
    c.border_mode = "inside_major"
    c.patch_max_scale_change = None
    c.seg_to_bb_mode = "var"
    c.min_mask_area = 100
    c.max_scale_change = (0.95, 1.1)       # per-frame clip of the target scale ratio
    c.sample_memory_size = 32
    c.learning_rate = 0.1
    c.init_samples_minimum_weight = 0.25
    c.lower_init_weight = False
    c.train_skipping = 1
    c.net_opt_iter = 20
    c.net_opt_update_iter = 3
    c.init_with_box = False
    c.update_target_model = True
    return c
