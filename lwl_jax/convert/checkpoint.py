"""Find the state_dict in the reference's files, build the matching model, save/load orbax checkpoints.

Accepted inputs: the reference trainer's files (``lwl_stage2.pth``, ``lwl_boxinit.pth``, ``*_ep0080.pth.tar``:
a dict with ``net`` and a pickled ``NetConstructor``), a bare state_dict, a DataParallel state_dict (``module.``
prefixes), a dict holding ``state_dict``/``model``, and torchvision's ResNet-50 ImageNet file (backbone only).
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from typing import TYPE_CHECKING, Any

import jax
import numpy as np

from lwl_jax.convert import torch_pickle
from lwl_jax.convert.errors import CheckpointError
from lwl_jax.convert.mapping import state_dict_to_variables
from lwl_jax.convert.torch_pickle import Placeholder

if TYPE_CHECKING:
    from lwl_jax.models.lwl import LWLNet

MODEL_JSON = "lwl_model.json"
VARIABLES_DIR = "variables"


@dataclasses.dataclass
class LoadedCheckpoint:
    kind: str                    # 'lwl', 'lwl_boxinit', 'backbone'
    state_dict: dict
    model_config: dict           # LWLNet fields (or ResNet fields for 'backbone')
    constructor: dict            # the reference's NetConstructor (fun_module, fun_name, kwds), if present
    source: str


def _constructor_info(obj) -> dict:
    if isinstance(obj, Placeholder):
        return {k: v for k, v in vars(obj).items() if k in ("fun_name", "fun_module", "kwds", "args")}
    return {}


def extract_state_dict(obj, source: str) -> tuple[dict, dict]:
    """(state_dict with arrays, constructor info) from whatever ``torch.load`` would return."""
    constructor = {}
    sd = None
    if isinstance(obj, dict):
        if isinstance(obj.get("net"), dict):
            sd, constructor = obj["net"], _constructor_info(obj.get("constructor"))
        elif isinstance(obj.get("state_dict"), dict):
            sd = obj["state_dict"]
        elif isinstance(obj.get("model"), dict):
            sd = obj["model"]
        elif obj and all(isinstance(v, np.ndarray) for v in obj.values()):
            sd = obj
    if sd is None:
        keys = list(obj)[:8] if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(f"{source}: no state_dict found (top level: {keys})")
    bad = [k for k, v in sd.items() if not isinstance(v, np.ndarray)]
    if bad:
        raise CheckpointError(f"{source}: state_dict entries that are not tensors: {', '.join(map(str, bad[:10]))}")
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return dict(sd), constructor


def _count_blocks(sd, prefix):
    counts = []
    for layer in range(1, 5):
        idx = {int(m.group(1)) for k in sd if (m := re.match(rf"{re.escape(prefix)}layer{layer}\.(\d+)\.", k))}
        counts.append(max(idx) + 1 if idx else 0)
    return tuple(counts)


def backbone_config(sd, prefix="feature_extractor.", stride_in_1x1=True) -> dict:
    key = prefix + "conv1.weight"
    if key not in sd:
        raise CheckpointError(f"no backbone stem ({key})")
    return {"backbone_blocks": _count_blocks(sd, prefix), "backbone_width": int(sd[key].shape[0]),
            "stride_in_1x1": stride_in_1x1}


def infer_model_config(sd, constructor=None) -> tuple[str, dict]:
    """(kind, LWLNet fields) from the state_dict's keys and shapes (and the constructor's kwargs)."""
    kwds = (constructor or {}).get("kwds") or {}
    if "target_model.feature_extractor.0.weight" in sd:
        kind = "lwl_boxinit" if any(k.startswith("box_label_encoder.") for k in sd) else "lwl"
        cfg = backbone_config(sd, stride_in_1x1=kwds.get("backbone_type", "mrcnn") == "mrcnn")
        proj = sd["target_model.feature_extractor.0.weight"]
        cfg["feature_dim"] = int(proj.shape[0])
        cfg["num_filters"] = int(sd["label_encoder.label_pred.0.weight"].shape[0])
        cfg["filter_size"] = int(kwds.get("filter_size", 3))
        cfg["label_encoder_dims"] = (int(sd["label_encoder.conv_block.0.weight"].shape[0]),
                                     int(sd["label_encoder.res1.conv1.weight"].shape[0]),
                                     int(sd["label_encoder.res2.conv1.weight"].shape[0]))
        cfg["decoder_mdim"] = int(sd["decoder.project.conv1.weight"].shape[1])
        if "optim_iter" in kwds:
            cfg["optim_iter"] = int(kwds["optim_iter"])
        if kind == "lwl_boxinit":
            n = len({k.split(".")[2] for k in sd if k.startswith("box_label_encoder.res.")})
            cfg["box_encoder"] = True
            cfg["box_dims"] = tuple(int(sd[f"box_label_encoder.res.{i}.conv1.weight"].shape[0]) for i in range(n))
        return kind, cfg
    if "conv1.weight" in sd and "layer1.0.conv1.weight" in sd:
        return "backbone", backbone_config(sd, prefix="", stride_in_1x1=False)
    if "feature_extractor.conv1.weight" in sd:
        return "backbone", backbone_config(sd)
    raise CheckpointError("not an LWL or ResNet checkpoint (no target_model.* or conv1/layer* keys)")


def read_checkpoint(path: str | os.PathLike) -> LoadedCheckpoint:
    """Read a PyTorch file (no torch needed) and describe what it holds."""
    path = os.fspath(path)
    obj = torch_pickle.load(path)
    sd, constructor = extract_state_dict(obj, path)
    try:
        kind, cfg = infer_model_config(sd, constructor)
    except (CheckpointError, KeyError) as e:
        raise CheckpointError(f"{path}: {e}") from None
    return LoadedCheckpoint(kind, sd, cfg, constructor, path)


def _backbone_state_dict(sd):
    """torchvision / bare ResNet keys -> ``feature_extractor.*`` (the classifier ``fc.*`` is dropped)."""
    if any(k.startswith("feature_extractor.") for k in sd):
        return {k: v for k, v in sd.items() if k.startswith("feature_extractor.")}
    return {"feature_extractor." + k: v for k, v in sd.items() if not k.startswith("fc.")}


def to_variables(ckpt: LoadedCheckpoint, model=None, image_size=(64, 96)):
    """(model, variables) for a read checkpoint; ``model`` defaults to one built from the checkpoint's config.

    For a backbone-only file, the returned variables hold only ``feature_extractor``.
    """
    from lwl_jax.models.lwl import LWLNet, variable_shapes

    if model is None:
        fields = {k: v for k, v in ckpt.model_config.items()}
        model = LWLNet(**fields)
    target = variable_shapes(model, image_size)
    if ckpt.kind == "backbone":
        target = {col: {"feature_extractor": t["feature_extractor"]} for col, t in target.items()}
        sd = _backbone_state_dict(ckpt.state_dict)
    else:
        sd = ckpt.state_dict
    return model, state_dict_to_variables(sd, target, source=ckpt.source)


# --- orbax ---------------------------------------------------------------------------------------------------

def _jsonable(cfg: dict) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}


def save_converted(out_dir, kind: str, model_config: dict, variables, extra: dict | None = None):
    """Write ``OUT_DIR/variables`` (orbax) and ``OUT_DIR/lwl_model.json`` (kind and model config).
    With several JAX processes every process must call it (orbax saves collectively; process 0 writes)."""
    import orbax.checkpoint as ocp

    out_dir = os.path.abspath(os.fspath(out_dir))
    primary = jax.process_index() == 0
    var_dir = os.path.join(out_dir, VARIABLES_DIR)
    if primary:
        os.makedirs(out_dir, exist_ok=True)
        if os.path.exists(var_dir):
            shutil.rmtree(var_dir)
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("lwl_jax export: " + out_dir)
    ckptr = ocp.StandardCheckpointer()
    ckptr.save(var_dir, jax.tree_util.tree_map(np.asarray, variables))
    ckptr.wait_until_finished()
    if not primary:
        return
    meta = {"kind": kind, "model_config": _jsonable(model_config), **(extra or {})}
    tmp = os.path.join(out_dir, MODEL_JSON + ".tmp")
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=1, default=str)
    os.replace(tmp, os.path.join(out_dir, MODEL_JSON))


def load_converted(ckpt_dir: str | os.PathLike) -> tuple[str, dict, Any]:
    """(kind, model_config, variables) from a folder written by :func:`save_converted`."""
    import orbax.checkpoint as ocp

    ckpt_dir = os.path.abspath(os.fspath(ckpt_dir))
    meta_path = os.path.join(ckpt_dir, MODEL_JSON)
    if not os.path.isfile(meta_path):
        raise CheckpointError(f"{ckpt_dir}: not a converted lwl_jax checkpoint (no {MODEL_JSON})")
    try:
        with open(meta_path) as f:
            meta = json.load(f)
        kind, model_config = meta["kind"], meta["model_config"]
        cfg = {k: (tuple(v) if isinstance(v, list) else v) for k, v in model_config.items()}
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{meta_path}: damaged model description ({type(e).__name__}: "
                              f"{_first_line(e)})") from None
    var_dir = os.path.join(ckpt_dir, VARIABLES_DIR)
    for name in ("manifest.ocdbt", "_CHECKPOINT_METADATA"):
        if not os.path.isfile(os.path.join(var_dir, name)):
            raise CheckpointError(f"{os.path.join(var_dir, name)}: missing (incomplete or damaged checkpoint)")
    try:
        variables = ocp.StandardCheckpointer().restore(var_dir)
    except Exception as e:  # tensorstore / orbax raise many types for damaged files; all mean the same here
        raise CheckpointError(f"{var_dir}: damaged checkpoint data ({type(e).__name__}: {_first_line(e)})") \
            from None
    return kind, cfg, variables


def _first_line(e: BaseException, limit: int = 200) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else "")[:limit]


def load_model(path: str | os.PathLike, image_size: tuple[int, int] = (64, 96)) -> tuple[LWLNet, dict]:
    """(kind, LWLNet, variables) from a converted folder or directly from a ``.pth`` file."""
    from lwl_jax.models.lwl import LWLNet

    if os.path.isdir(path):
        kind, cfg, variables = load_converted(path)
        return kind, LWLNet(**cfg), variables
    ckpt = read_checkpoint(path)
    if ckpt.kind == "backbone":
        raise CheckpointError(f"{path}: holds only a backbone, not a full LWL network")
    model, variables = to_variables(ckpt, image_size=image_size)
    return ckpt.kind, model, variables
