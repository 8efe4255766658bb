"""Load ``configs/*.py`` files (``get_config()``) and apply ``--config.key=value`` overrides, checked.

The config is locked (no new keys) and each override must fit the type of the value it replaces (ConfigDict's own
type check: an int field takes an int, a float field an int or a float, a tuple field a tuple or list, a string
field any text). Every mistake is a :class:`lwl_jax.errors.ConfigError` naming the key, the expected type and the
value given, raised before anything is built or compiled.
"""
from __future__ import annotations

import ast
import importlib.util
import os

import ml_collections

from lwl_jax.errors import ConfigError


def load_config(path: str, overrides=()) -> ml_collections.ConfigDict:
    """``path``: a ``configs/*.py`` file with ``get_config()``, or the name of a tracker preset of the package
    (``lwl_ytvos``, ``lwl_boxinit``; see ``lwl_jax.tracking.presets``)."""
    from lwl_jax.tracking.presets import PRESETS

    name = os.path.splitext(path)[0]
    if not os.path.isfile(path) and name in PRESETS:
        cfg = PRESETS[name]()
    elif not os.path.isfile(path):
        raise ConfigError(f"{path}: config file not found (or a preset name: {', '.join(PRESETS)})")
    else:
        spec = importlib.util.spec_from_file_location(f"_config_{abs(hash(path))}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        cfg = module.get_config()
    cfg.lock()
    for item in overrides:
        key, _, raw = item.partition("=")
        key = key.removeprefix("--config.").removeprefix("config.")
        node = cfg
        *parents, leaf = key.split(".")
        for i, p in enumerate(parents):
            if not isinstance(node, ml_collections.ConfigDict) or p not in node:
                raise ConfigError(f"{path}: unknown config key {'.'.join(parents[:i + 1])!r} (in --config.{key})")
            node = node[p]
        if not isinstance(node, ml_collections.ConfigDict) or leaf not in node:
            raise ConfigError(f"{path}: unknown config key {key!r}")
        old = node[leaf]
        value = _parse(raw, old)
        try:
            node[leaf] = value
        except TypeError:
            raise ConfigError(f"--config.{key}={raw}: expected {type(old).__name__} (like {old!r}), got "
                              f"{type(value).__name__}") from None
    return cfg


def _parse(raw: str, old):
    """A Python literal where the text is one, else the text; text fields keep the text as given."""
    if isinstance(old, str):
        return raw
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw
