"""Strict loading of init checkpoints: every missing, extra or mis-shaped array is named and stops training unless
a config ``init_skip`` pattern covers it; what is loaded equals the checkpoint."""
import numpy as np
import pytest
from flax.traverse_util import flatten_dict, unflatten_dict

from lwl_jax.convert.checkpoint import save_converted
from lwl_jax.errors import CheckpointError
from lwl_jax.models.lwl import LWLNet, init_variables
from lwl_jax.training.trainer import initial_state, make_optimizer, model_fields
from tests.helpers.train import tiny_config

MISSING = ("params", "decoder", "project", "conv2", "bias")
EXTRA = ("params", "decoder", "old_head", "kernel")
RESHAPED = ("params", "label_encoder", "samp_w_pred", "kernel")


def _damaged_export(tmp_path, cfg):
    """A converted checkpoint (real on-disk format) of the tiny model, from another seed, with one array removed,
    one added and one of another shape."""
    variables = init_variables(LWLNet(**model_fields(cfg)), 7, (cfg.data.height, cfg.data.width), cfg.init_scheme)
    flat = {(col,) + k: np.asarray(v) for col, tree in variables.items() for k, v in flatten_dict(tree).items()}
    del flat[MISSING]
    flat[EXTRA] = np.ones((1, 1, 2, 2), np.float32)
    flat[RESHAPED] = np.ones(flat[RESHAPED].shape[:-1] + (flat[RESHAPED].shape[-1] + 1,), np.float32)
    tree = {col: unflatten_dict({k[1:]: v for k, v in flat.items() if k[0] == col}) for col in variables}
    save_converted(tmp_path / "ck", "lwl", dict(model_fields(cfg, for_export=True)), tree)
    return str(tmp_path / "ck"), flat


def test_mismatches_are_named_and_stop_training(tmp_path):
    cfg = tiny_config()
    path, _ = _damaged_export(tmp_path, cfg)
    with cfg.unlocked():
        cfg.init_checkpoint = path
    model = LWLNet(**model_fields(cfg))
    with pytest.raises(CheckpointError) as e:
        initial_state(model, cfg, lambda p: make_optimizer(cfg, p))
    msg = str(e.value)
    assert path in msg and "3 arrays not covered" in msg and "\n" not in msg
    for what in ("missing params/decoder/project/conv2/bias", "extra params/decoder/old_head/kernel",
                 "shape of params/label_encoder/samp_w_pred/kernel"):
        assert what in msg, msg


def test_init_skip_covers_them_and_the_rest_is_loaded(tmp_path, capsys):
    cfg = tiny_config()
    path, flat = _damaged_export(tmp_path, cfg)
    with cfg.unlocked():
        cfg.init_checkpoint = path
        cfg.init_skip = (r"^params/decoder/(project/conv2/bias|old_head/)", r"samp_w_pred/kernel$")
    model = LWLNet(**model_fields(cfg))
    fresh = init_variables(model, int(cfg.seed), (cfg.data.height, cfg.data.width), cfg.init_scheme)
    state, _ = initial_state(model, cfg, lambda p: make_optimizer(cfg, p))
    out = capsys.readouterr().out
    got = {("params",) + k: np.asarray(v) for k, v in flatten_dict(state.params).items()}
    init = {("params",) + k: np.asarray(v) for k, v in flatten_dict(fresh["params"]).items()}
    n = len(got) + len(flatten_dict(state.batch_stats))
    assert f"loaded {n - 2} of {n} arrays" in out and "kept the initialisation of 2" in out
    assert "ignored 1 checkpoint arrays" in out
    for k, v in got.items():
        if k in (MISSING, RESHAPED):
            np.testing.assert_array_equal(v, init[k])         # kept their initialisation
        else:
            np.testing.assert_array_equal(v, flat[k])         # the checkpoint's
