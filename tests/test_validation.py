"""Training-time validation on the synthetic generator's styles: one split per style, each scored and logged under
its own name."""
import os

import numpy as np

from lwl_jax.config_util import load_config
from lwl_jax.data.synthetic import HELD_OUT, scene_families
from lwl_jax.training.validation import Validator

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_synthetic_validation_has_a_split_per_style(tmp_path, monkeypatch):
    cfg = load_config(os.path.join(REPO, "configs", "synthetic.py"), [
        "--config.data.height=48", "--config.data.width=80", "--config.data.video_height=48",
        "--config.data.video_width=80", "--config.data.num_frames=6", "--config.validation.every=5",
        "--config.validation.num_sequences=3", "--config.validation.styles=('train', 'heldout')"])
    v = Validator.from_config(cfg, str(tmp_path))
    assert sorted(v.splits) == ["heldout", "train"] and all(len(s) >= 2 for s in v.splits.values())
    assert os.path.isdir(tmp_path / "validation_data" / "heldout" / "JPEGImages")
    held = scene_families(0, int(cfg.validation.seed), _video(cfg, "heldout"))
    assert held["shape"] <= set(HELD_OUT["shape"])           # the held-out split draws only held-out families
    first = {name: s[0].load_frame(0) for name, s in v.splits.items()}
    assert not np.array_equal(first["train"], first["heldout"])

    def perfect(model, variables, params, seq, **kw):          # the ground truth as the "prediction"
        shape = seq.frame_size(0)
        return [seq.load_annotation(i, shape) for i in range(len(seq.frames))], None, 0.0

    monkeypatch.setattr("lwl_jax.tracking.video.segment_sequence", perfect)
    scores = v(None, None)
    assert set(scores) == {f"{s}/{k}" for s in ("train", "heldout") for k in ("J&F", "J", "F")}
    assert all(abs(x - 1.0) < 1e-6 for x in scores.values())
    assert v.due(5, 100) and not v.due(6, 100) and v.due(100, 100)


def _video(cfg, style):
    import dataclasses

    from lwl_jax.training.inputs import synthetic_video_config

    return dataclasses.replace(synthetic_video_config(cfg.data), style=style)
