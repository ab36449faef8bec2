"""Layer types. Each module in this package registers its types on import; adding a layer type
means adding (or editing) one module here plus its tests."""

from __future__ import annotations

import importlib
import pkgutil

from netcalc.layers.base import ALIASES, REGISTRY, LayerType, Node, lookup, register

_loaded = False


def load_all() -> dict[str, LayerType]:
    global _loaded
    if not _loaded:
        _loaded = True
        for info in pkgutil.iter_modules(__path__):
            if info.name != "base":
                importlib.import_module(f"{__name__}.{info.name}")
    return REGISTRY


__all__ = ["ALIASES", "REGISTRY", "LayerType", "Node", "lookup", "register", "load_all"]
