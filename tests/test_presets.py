"""Tracker presets live in the package: found by name without a configs/ folder, re-exported by configs/*.py, and
the tracker's only source of defaults."""
import os

import pytest

from lwl_jax.config_util import load_config
from lwl_jax.errors import ConfigError
from lwl_jax.tracking.presets import PRESETS
from lwl_jax.tracking.tracker import with_defaults

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_by_name_equals_the_config_file(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                       # no configs/ folder here
    by_name = load_config(name, ["--config.net_opt_iter=7"])
    by_file = load_config(os.path.join(REPO, "configs", f"{name}.py"), ["--config.net_opt_iter=7"])
    assert by_name.to_dict() == by_file.to_dict() and by_name.net_opt_iter == 7
    assert "seg_to_bb_mode" not in by_name and "patch_max_scale_change" not in by_name   # nothing read them
    with pytest.raises(ConfigError, match="net_opt_iter"):
        load_config(name, ["--config.net_opt_iter=many"])


def test_tracker_defaults_are_the_preset():
    preset = PRESETS["lwl_ytvos"]().to_dict()
    filled = with_defaults({"net_opt_iter": 5, "debug": 0})
    assert {k: filled[k] for k in preset if k != "net_opt_iter"} == {k: v for k, v in preset.items()
                                                                      if k != "net_opt_iter"}
    assert filled.net_opt_iter == 5 and filled.min_mask_area == 100 and filled.border_mode == "inside_major"
