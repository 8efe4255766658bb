"""Tracker settings of the reference's ``lwl_boxinit`` parameter file (start from a box), SPEC §5.1."""
from configs import lwl_ytvos


def get_config():
    c = lwl_ytvos.get_config()
    c.learning_rate = 0.2
    c.init_samples_minimum_weight = 0.0
    c.lower_init_weight = True
    c.train_skipping = 5
    c.net_opt_update_iter = 5
    c.init_with_box = True
    return c
