"""Which parameters each training stage trains (SPEC §4). BatchNorm statistics are never updated."""
from __future__ import annotations

from flax.traverse_util import flatten_dict, unflatten_dict

FROZEN_PREFIXES = {
    "stage1": ("feature_extractor",),
    "stage2": ("feature_extractor/conv1", "feature_extractor/bn1", "feature_extractor/layer1"),
    "boxinit": ("feature_extractor", "target_model", "decoder", "label_encoder"),
    "none": (),
}


def trainable_mask(params, frozen_prefixes) -> dict:
    """A pytree of bools like ``params``: True where the parameter is trained."""
    flat = flatten_dict(params)
    out = {}
    for path in flat:
        joined = "/".join(path)
        out[path] = not any(joined == p or joined.startswith(p + "/") for p in frozen_prefixes)
    return unflatten_dict(out)

