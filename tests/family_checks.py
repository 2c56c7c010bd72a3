"""Checks shared by the layer-family tests: one case against torch, all of it.

``check_case`` compares paramlint with torch (tests/oracle.py) on acceptance,
output shape, parameter and buffer counts; where both accept it also compares
the FLOPs (``FlopCounterMode``), what autograd saves (measured with
``saved_tensors_hooks``), and builds the torch module from paramlint's own
``args`` (the torch bridge's view) to check that they describe the same layer.

The one departure these tests accept everywhere: paramlint rejects an output
dim of size 0 (PL403, or PL202 for a zero size argument) that torch would
produce as an empty tensor.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import pytest

from oracle import BATCH, INFERABLE, TORCH_BUILDERS, Outcome, paramlint_outcome, torch_outcome
from paramlint.model.layers import REGISTRY
from paramlint.model.layers.base import DTYPE_BYTES, LayerError, LayerResult, TensorSpec, resolve_args


def ours(layer_type: str, args: Dict[str, Any], shapes: Sequence[Sequence[int]],
         dtype: str = "float32") -> Tuple[Outcome, Optional[LayerResult], str]:
    """paramlint's outcome, its result and the error code, with the engine's
    input-dtype check (LayerDef.input_dtype) applied first."""
    layer = REGISTRY[layer_type]
    is_float = dtype.startswith(("float", "bfloat"))
    if (layer.input_dtype == "int" and is_float) or (layer.input_dtype == "float" and not is_float):
        return Outcome(False, error="wrong dtype"), None, "PL404"
    outcome = paramlint_outcome(layer_type, args, shapes, dtype)
    if not outcome.ok:
        try:
            layer.infer(resolve_args(layer, args), [TensorSpec(tuple(s), dtype) for s in shapes])
        except LayerError as error:
            return outcome, None, error.code
    result = layer.infer(resolve_args(layer, args), [TensorSpec(tuple(s), dtype) for s in shapes])
    return outcome, result, ""


def torch_kwargs(args: Dict[str, Any], shapes: Sequence[Sequence[int]], inferable: Sequence[str]) -> Dict[str, Any]:
    kwargs = dict(args)
    for name in inferable:
        if kwargs.get(name) is None:
            kwargs[name] = INFERABLE[name](shapes[0])
    return {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}


def build(layer_type: str, kwargs: Dict[str, Any]) -> Any:
    torch = pytest.importorskip("torch")
    builder = TORCH_BUILDERS.get(layer_type) or getattr(torch.nn, layer_type)
    return builder(**{k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()})


def make_inputs(shapes: Sequence[Sequence[int]], dtype: str, grad: bool = False) -> list:
    torch = pytest.importorskip("torch")
    torch_dtype = getattr(torch, dtype)
    if not torch_dtype.is_floating_point:
        return [torch.zeros(BATCH, *s, dtype=torch_dtype) for s in shapes]
    # x * 1.0 is not a leaf, so that in-place layers can run under autograd.
    return [torch.randn(BATCH, *s, requires_grad=True) * 1.0 if grad else torch.randn(BATCH, *s) for s in shapes]


def torch_flops(layer_type: str, args: Dict[str, Any], shapes: Sequence[Sequence[int]], dtype: str) -> float:
    """FlopCounterMode's count per sample on ``meta`` (paramlint's convention, tests/meta_flops.py)."""
    import meta_flops
    return meta_flops.forward_flops(lambda: build(layer_type, args), lambda: make_inputs(shapes, dtype)) / BATCH


def torch_saved(module: Any, inputs: list) -> Dict[str, float]:
    """Bytes per sample autograd saves, by kind: the layer's own "output",
    one of its "input"s, or "new".  Parameters and 0-d scalars are left out."""
    torch = pytest.importorskip("torch")
    packed: list = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: packed.append(t) or t, lambda t: t):
        out = module(*inputs)
    if isinstance(out, tuple):
        out = out[0]
    params = {p.data_ptr() for p in module.parameters()} if hasattr(module, "parameters") else set()
    totals: Dict[str, float] = {}
    seen = set()
    for t in packed:
        key = (t.data_ptr(), tuple(t.shape))
        if t.dim() == 0 or t.data_ptr() in params or key in seen:
            continue
        seen.add(key)
        if t.data_ptr() == out.data_ptr():
            kind = "output"
        elif any(t.data_ptr() == x.data_ptr() for x in inputs):
            kind = "input"
        else:
            kind = "new"
        totals[kind] = totals.get(kind, 0) + t.numel() * t.element_size() / BATCH
    return totals


def our_saved(result: LayerResult, input_dtype: str) -> Dict[str, float]:
    totals: Dict[str, float] = {}
    seen = set()
    for saved in result.saved:
        # Dropout's bool mask comes from the fused CUDA kernel; on the CPU
        # torch keeps it in the input's dtype, so that is what we measure here.
        dtype = input_dtype if saved.dtype == "bool" else saved.dtype
        if saved.kind != "new":
            if (saved.kind, saved.index) in seen:
                continue
            seen.add((saved.kind, saved.index))
        if saved.numel:
            totals[saved.kind] = totals.get(saved.kind, 0) + saved.numel * DTYPE_BYTES[dtype]
    return totals


def check_case(layer_type: str, args: Dict[str, Any], shapes: Sequence[Sequence[int]], dtype: str = "float32",
               inferable: Sequence[str] = ()) -> Outcome:
    """Assert that paramlint agrees with torch on one case; return torch's outcome."""
    mine, result, code = ours(layer_type, args, shapes, dtype)
    theirs = torch_outcome(layer_type, torch_kwargs(args, shapes, inferable), shapes, dtype)
    if not mine.ok and theirs.ok and 0 in (theirs.output_shape or ()):
        return theirs  # the documented departure: no zero-size outputs
    assert mine.same_as(theirs), (mine, theirs)
    if mine.ok and result is not None:
        _check_details(layer_type, result, shapes, dtype)
    return theirs


def _check_details(layer_type: str, result: LayerResult, shapes: Sequence[Sequence[int]], dtype: str) -> None:
    torch = pytest.importorskip("torch")
    module = build(layer_type, result.args)  # paramlint's own args must build the same layer
    if hasattr(module, "train"):
        module.train()
    with torch.no_grad():
        out = module(*make_inputs(shapes, dtype))
    if isinstance(out, tuple):
        out = out[0]
    assert tuple(out.shape[1:]) == result.outputs[0].shape
    assert str(out.dtype).replace("torch.", "") == result.outputs[0].dtype
    assert torch_flops(layer_type, result.args, shapes, dtype) == result.flops
    if torch.is_floating_point(out):
        assert torch_saved(module, make_inputs(shapes, dtype, grad=True)) == our_saved(result, dtype)


def check_departure(layer_type: str, args: Dict[str, Any], shapes: Sequence[Sequence[int]],
                    dtype: str = "float32", inferable: Sequence[str] = ()) -> None:
    """A deliberate departure: paramlint rejects what torch runs."""
    mine, _, _ = ours(layer_type, args, shapes, dtype)
    theirs = torch_outcome(layer_type, torch_kwargs(args, shapes, inferable), shapes, dtype)
    assert theirs.ok and not mine.ok, (mine, theirs)
