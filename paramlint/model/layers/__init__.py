"""The layer catalogue: one registry from a config's ``type`` to its LayerDef.

Each family lives in one module with a ``LAYERS`` tuple; add a module's name
to ``FAMILIES`` to register it.
"""
from __future__ import annotations

from importlib import import_module
from typing import Dict

from .base import LayerDef

FAMILIES = (
    "conv",
    "pool",
    "norm",
    "recurrent",
    "attention",
    "merge",
    "activation",
    "linear",
    "reshape",
    "shape_ops",
    "matmul",
    "tensor_ops",
    "language",
)


def _build_registry() -> Dict[str, LayerDef]:
    registry: Dict[str, LayerDef] = {}
    for family in FAMILIES:
        for layer in import_module(f"{__name__}.{family}").LAYERS:
            if layer.type in registry:
                raise RuntimeError(f"layer type {layer.type} registered twice")
            registry[layer.type] = layer
    return registry


REGISTRY: Dict[str, LayerDef] = _build_registry()
