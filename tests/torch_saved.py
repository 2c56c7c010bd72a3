"""Torch as the oracle for what a layer saves for backward.

``torch_saved`` runs one training-mode forward pass under
``torch.autograd.graph.saved_tensors_hooks`` and lists the unique storages
autograd keeps, parameters and buffers excluded, each as
``(kind, numel, dtype)`` with kind ``input``, ``output0``, ``output1``, ...
or ``new``.  ``paramlint_saved`` lists paramlint's ``saved`` the same way for
a given batch size, so the two compare as sorted lists.
"""
from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

import pytest

from paramlint.model.layers import REGISTRY
from paramlint.model.layers.base import TensorSpec, resolve_args

Saved = List[Tuple[str, int, str]]


def torch_saved(module: Any, shape: Sequence[int], batch: int) -> Saved:
    torch = pytest.importorskip("torch")
    leaf = torch.randn(batch, *shape, requires_grad=True)
    x = leaf * 1.0  # a non-leaf input, as a previous layer's output would be
    packed: list = []

    def pack(tensor):
        packed.append(tensor)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = module(x)
    outs = out if isinstance(out, tuple) else (out,)
    owned = {t.untyped_storage().data_ptr() for t in list(module.parameters()) + list(module.buffers())}
    found: Dict[int, Tuple[str, int, str]] = {}
    for tensor in packed:
        ptr = tensor.untyped_storage().data_ptr()
        if ptr in owned or tensor.numel() == 0:
            continue
        if ptr == x.untyped_storage().data_ptr():
            kind = "input"
        else:
            kind = next((f"output{i}" for i, o in enumerate(outs) if o.untyped_storage().data_ptr() == ptr), "new")
        numel = tensor.untyped_storage().nbytes() // tensor.element_size()
        found[ptr] = (kind, numel, str(tensor.dtype).replace("torch.", ""))
    return sorted(found.values())


def paramlint_saved(layer_type: str, args: Dict[str, Any], shape: Sequence[int], batch: int) -> Saved:
    layer = REGISTRY[layer_type]
    result = layer.infer(resolve_args(layer, args), [TensorSpec(tuple(shape))])
    listed = []
    for saved in result.saved:
        kind = f"output{saved.index}" if saved.kind == "output" else saved.kind
        listed.append((kind, saved.numel * batch if saved.per_sample else saved.numel, saved.dtype))
    return sorted(listed)
