"""Load ``configs/*.py`` files (``get_config()``) and apply ``--config.key=value`` overrides."""
from __future__ import annotations

import ast
import importlib.util
import os

import ml_collections


def load_config(path: str, overrides=()) -> ml_collections.ConfigDict:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: config file not found")
    spec = importlib.util.spec_from_file_location(f"_config_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cfg = module.get_config()
    for item in overrides:
        key, _, raw = item.partition("=")
        key = key.removeprefix("--config.").removeprefix("config.")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        node = cfg
        *parents, leaf = key.split(".")
        for p in parents:
            node = node[p]
        if leaf not in node:
            raise KeyError(f"{path}: unknown config key {key!r}")
        with node.ignore_type():
            node[leaf] = value
    return cfg
