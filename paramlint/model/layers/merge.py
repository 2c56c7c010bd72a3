"""Merges (Add, Multiply, Concat), Scale, Cast and the learnable tensor ``Parameter``.

A batched tensor is ``[N, *shape]`` with the batch size unknown; a
``Parameter`` is unbatched.  Element-wise merges follow torch broadcasting on
the full shapes: a dimension of an unbatched tensor that lines up with the
batch must be 1 (anything else would depend on the batch size).
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Tuple

from . import layout
from .base import Arg, LayerDef, LayerError, LayerResult, SavedTensor, TensorSpec, format_shape, normalize_dim

BATCH = None  # the batch dimension in a full shape


def _full(tensor: TensorSpec) -> Tuple[Optional[int], ...]:
    return ((BATCH,) if tensor.batched else ()) + tuple(tensor.shape)


def _describe_full(tensor: TensorSpec) -> str:
    return format_shape(["N", *tensor.shape]) if tensor.batched else format_shape(tensor.shape)


def broadcast(layer_type: str, inputs: Sequence[TensorSpec]) -> TensorSpec:
    """torch broadcasting over the full shapes, the batch kept symbolic."""
    rank = max(len(_full(t)) for t in inputs)
    result: list = []
    for axis in range(-rank, 0):
        sizes = [_full(t)[axis] for t in inputs if len(_full(t)) >= -axis]
        batch = any(s is BATCH for s in sizes)
        concrete = {s for s in sizes if s is not BATCH and s != 1}
        if batch and concrete:
            raise LayerError(_mismatch(layer_type, inputs, f"size {concrete.pop()} lines up with the batch dimension"),
                             code="PL401")
        if len(concrete) > 1:
            raise LayerError(_mismatch(layer_type, inputs, "sizes " + " vs ".join(map(str, sorted(concrete))) +
                                       f" at dim {axis}"), code="PL401")
        result.append(BATCH if batch else (concrete.pop() if concrete else 1))
    batched = any(s is BATCH for s in result)
    if batched and result[0] is not BATCH:
        raise LayerError(_mismatch(layer_type, inputs, f"an unbatched input of rank {rank} would move the batch "
                                                       f"dimension away from dim 0"), code="PL401")
    if batched and any(s is BATCH for s in result[1:]):
        raise LayerError(_mismatch(layer_type, inputs, "inputs of different ranks would broadcast the batch "
                                                       "against another dimension (the result would depend on the "
                                                       "batch size)"), code="PL401")
    shape = tuple(result[1:]) if batched else tuple(result)
    dtypes = {t.dtype for t in inputs}
    return TensorSpec(shape, _promote(dtypes), batched)


def _promote(dtypes: set) -> str:
    for dtype in ("float64", "float32", "bfloat16", "float16", "int64", "int32"):
        if dtype in dtypes:
            return dtype
    return next(iter(dtypes))


def _mismatch(layer_type: str, inputs: Sequence[TensorSpec], detail: str) -> str:
    shapes = ", ".join(_describe_full(t) for t in inputs)
    return f"{layer_type} cannot broadcast its inputs {shapes}: {detail}"


def _infer_add(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    return LayerResult((broadcast("Add", inputs),))


def _infer_multiply(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    out = broadcast("Multiply", inputs)
    saved = tuple(SavedTensor("input", t.numel, t.dtype, index=i) for i, t in enumerate(inputs) if t.batched)
    return LayerResult((out,), saved=saved)


def _infer_scale(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    # x * factor with a Python number: a new tensor, nothing saved (the factor lives in the autograd node)
    return LayerResult((inputs[0],), args={"factor": args["factor"]})


def _infer_cast(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    if not x.is_float:
        raise LayerError(f"Cast converts floating-point tensors; got {x.dtype}", code="PL404")
    return LayerResult((x.replace(dtype=args["dtype"]),), args={"dtype": args["dtype"]})


def _infer_concat(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    batched = [t for t in inputs if t.batched]
    if not batched:
        raise LayerError("Concat needs at least one batched input (a layer output)", code="PL401")
    reference = batched[0]
    # An unbatched tensor with a leading 1 (a class token [1, 1, D]) is
    # expanded over the batch, as `token.expand(N, -1, -1)` does.
    parts = []
    for tensor in inputs:
        if tensor.batched:
            parts.append(tensor)
        elif len(tensor.shape) == reference.rank and tensor.shape[0] == 1:
            parts.append(TensorSpec(tensor.shape[1:], tensor.dtype))
        else:
            raise LayerError(f"Concat cannot join the unbatched tensor {format_shape(tensor.shape)}: give it a "
                             f"leading 1 to expand over the batch, e.g. {format_shape([1, *reference.shape])}",
                             code="PL401")
    axis = normalize_dim(args["dim"], reference)
    for tensor in parts:
        if len(tensor.shape) != len(reference.shape):
            raise LayerError(f"Concat expects inputs of the same rank, got {reference.describe()} and "
                             f"{tensor.describe()}", code="PL401")
        for i, (a, b) in enumerate(zip(reference.shape, tensor.shape)):
            if i != axis and a != b:
                raise LayerError(f"Concat along dim {args['dim']} needs equal sizes elsewhere, got "
                                 f"{reference.describe()} and {tensor.describe()} (dim {i + 1}: {a} vs {b})",
                                 code="PL401")
    shape = list(reference.shape)
    shape[axis] = sum(t.shape[axis] for t in parts)
    return LayerResult((TensorSpec(tuple(shape), _promote({t.dtype for t in parts})),),
                       args={"dim": args["dim"]})


def _concat_layout(args: Mapping[str, Any], inputs: Sequence[TensorSpec], out: TensorSpec) -> TensorSpec:
    """torch.cat keeps channels-last when every input is channels-last; otherwise contiguous."""
    if all(t.batched and t.strides is not None for t in inputs):
        laid_out = [layout.memory_format(t, out) for t in inputs]
        if all(t.strides is not None for t in laid_out):
            return laid_out[0]
    return layout.with_strides(out, None)


def _infer_parameter(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    shape = tuple(args["shape"])
    return LayerResult((TensorSpec(shape, "float32", batched=False),), params={"weight": shape},
                       args={"shape": list(shape)})


LAYERS = (
    LayerDef("Add", "merge", {}, _infer_add, min_inputs=2, max_inputs=None, input_dtype="any",
             layout=layout.as_pointwise,
             doc="Element-wise sum of two or more inputs, with torch broadcasting."),
    LayerDef("Multiply", "merge", {}, _infer_multiply, min_inputs=2, max_inputs=None, input_dtype="any",
             layout=layout.as_pointwise,
             doc="Element-wise product of two or more inputs, with torch broadcasting."),
    LayerDef("Scale", "merge", {"factor": Arg("number", doc="the constant every value is multiplied by")},
             _infer_scale, layout=layout.as_pointwise,
             doc="`x * factor` with a constant (LoRA's alpha / r, a residual scale): a new tensor, nothing saved."),
    LayerDef("Cast", "merge", {"dtype": Arg("string", "float32", "the floating-point dtype to convert to",
                                            choices=("float32", "bfloat16", "float16"))},
             _infer_cast, layout=layout.as_pointwise,
             doc="`x.to(dtype)`: a converted copy (the input itself when it has that dtype); nothing saved. "
                 "Under autocast the dtype holds (peft casts a LoRA branch's input to the adapter's dtype)."),
    LayerDef("Concat", "merge", {"dim": Arg("dim", 1, "the torch dimension to join along (0 is the batch)")},
             _infer_concat, min_inputs=2, max_inputs=None, input_dtype="any", layout=_concat_layout,
             doc="torch.cat of the inputs along `dim`; an unbatched [1, ...] tensor is expanded over the batch."),
    LayerDef("Parameter", "merge", {"shape": Arg("shape", doc="the tensor's full shape (no batch dimension)")},
             _infer_parameter, min_inputs=0, max_inputs=0,
             doc="A learnable tensor (class token, learned positions, layer scale); not batched."),
)
