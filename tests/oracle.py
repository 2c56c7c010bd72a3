"""Torch as the oracle for single layers.

``paramlint_outcome`` runs paramlint's arithmetic; ``torch_outcome`` builds
the torch module from the same arguments (inferable sizes filled in from the
input shape, independently of paramlint) and runs a dummy batch through it.
Tests compare the two :class:`Outcome` values.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import pytest

from paramlint.model.layers import REGISTRY
from paramlint.model.layers.base import LayerError, TensorSpec, resolve_args

BATCH = 2


@dataclass(frozen=True)
class Outcome:
    ok: bool
    output_shape: Optional[Tuple[int, ...]] = None
    params: int = 0
    buffers: int = 0
    error: str = ""

    def same_as(self, other: "Outcome") -> bool:
        if self.ok != other.ok:
            return False
        return not self.ok or (self.output_shape, self.params, self.buffers) == (
            other.output_shape, other.params, other.buffers)


def paramlint_outcome(layer_type: str, args: Dict[str, Any], shapes: Sequence[Sequence[int]],
                      dtype: str = "float32") -> Outcome:
    layer = REGISTRY[layer_type]
    try:
        result = layer.infer(resolve_args(layer, args), [TensorSpec(tuple(s), dtype) for s in shapes])
    except LayerError as error:
        return Outcome(False, error=error.message)
    params = sum(_numel(shape) for shape in result.params.values())
    buffers = sum(_numel(shape) for shape, _ in result.buffers.values())
    return Outcome(True, tuple(result.outputs[0].shape), params, buffers)


# Inferable constructor arguments, filled in from the (first) input shape
# exactly as a user writing the torch model by hand would.
INFERABLE: Dict[str, Callable[[Sequence[int]], Any]] = {
    "in_channels": lambda s: s[0],
    "num_features": lambda s: s[0],
    "num_channels": lambda s: s[0],
    "in_features": lambda s: s[-1],
    "normalized_shape": lambda s: [s[-1]],
    "embed_dim": lambda s: s[-1],
    "input_size": lambda s: s[-1],
    "d_model": lambda s: s[-1],
}

# Types whose torch counterpart is not ``torch.nn.<type>(**kwargs)``.
TORCH_BUILDERS: Dict[str, Callable[..., Any]] = {}


def torch_outcome(layer_type: str, args: Dict[str, Any], shapes: Sequence[Sequence[int]],
                  dtype: str = "float32", inferable: Sequence[str] = ()) -> Outcome:
    torch = pytest.importorskip("torch")
    kwargs = dict(args)
    for name in inferable:
        if name not in kwargs or kwargs[name] is None:
            kwargs[name] = INFERABLE[name](shapes[0])
    kwargs = {k: tuple(v) if isinstance(v, list) and k != "normalized_shape" else v for k, v in kwargs.items()}
    torch_dtype = getattr(torch, dtype)
    try:
        builder = TORCH_BUILDERS.get(layer_type) or getattr(torch.nn, layer_type)
        module = builder(**kwargs)
        if torch_dtype.is_floating_point:
            inputs = [torch.randn(BATCH, *s) for s in shapes]
        else:
            inputs = [torch.zeros(BATCH, *s, dtype=torch_dtype) for s in shapes]
        with torch.no_grad():
            out = module(*inputs)
    except Exception as error:  # torch's rejection: any exception at construction or forward
        return Outcome(False, error=f"{type(error).__name__}: {error}")
    if isinstance(out, tuple):
        out = out[0]
    params = sum(p.numel() for p in module.parameters())
    buffers = sum(b.numel() for b in module.buffers())
    return Outcome(True, tuple(out.shape[1:]), params, buffers)


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def infer_layer(layer_type: str, args: Dict[str, Any], shape: Sequence[int]):
    """paramlint's LayerResult for one layer on one per-sample input shape."""
    layer = REGISTRY[layer_type]
    return layer.infer(resolve_args(layer, args), [TensorSpec(tuple(shape))])


def layer_error(layer_type: str, args: Dict[str, Any], shape: Sequence[int]) -> LayerError:
    """The LayerError paramlint raises for one layer (the test fails if it raises none)."""
    with pytest.raises(LayerError) as caught:
        infer_layer(layer_type, args, shape)
    return caught.value
