"""Linear maps and lookups: Linear, Bilinear, Embedding, EmbeddingBag.

FLOPs follow ``torch.utils.flop_counter.FlopCounterMode``: a Linear on
[..., in] becomes one (add)mm over all leading rows, 2 * rows * in * out per
sample whatever the rank (bias adds are not counted).  Bilinear runs as
``aten._trilinear``, which the counter does not count: 0, although the real
work is 2 * in1 * in2 * out per row.  Lookups count 0.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

from .base import (
    Arg,
    LayerDef,
    LayerError,
    LayerResult,
    SavedTensor,
    TensorSpec,
    check_inferred,
    format_shape,
    product_text,
)


def _last_dim(layer_type: str, x: TensorSpec, what: str) -> int:
    if not x.shape:
        raise LayerError(f"{layer_type} needs {what} with a feature dimension, but its input is a scalar per sample "
                         f"(its last dim would be the batch)", code="PL401")
    return x.shape[-1]


def _check_features(name: str, given: Optional[int], x: TensorSpec, producer: str = "its input") -> int:
    """``in_features`` against the last dim, with a hint when the input was
    not flattened (192 = 12 x 4 x 4 values, but a last dim of 4)."""
    actual = x.shape[-1]
    if given is None or given == actual or len(x.shape) == 1:
        return check_inferred(name, given, actual, producer)
    hint = ""
    if math.prod(x.shape) == given:
        hint = f"; {given} = {product_text(x.shape)} is its size per sample: add a Flatten first"
    raise LayerError(f"expects {name} {given}, but {producer} has {actual} in its last dim (shape "
                     f"{format_shape(x.shape)}{hint})", arg=name, code="PL401")


def _linear_infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    _last_dim("Linear", x, "an input")
    in_features = _check_features("in_features", args["in_features"], x)
    out_features = args["out_features"]
    params = {"weight": (out_features, in_features)}
    if args["bias"]:
        params["bias"] = (out_features,)
    rows = math.prod(x.shape[:-1])
    out = x.with_shape(x.shape[:-1] + (out_features,))
    return LayerResult((out,), params, flops=2 * rows * in_features * out_features,
                       args=dict(args, in_features=in_features), saved=(SavedTensor("input", x.numel, x.dtype),))


def _bilinear_infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x1, x2 = inputs[0], inputs[1]
    if x2.dtype != x1.dtype:
        raise LayerError(f"needs both inputs of one dtype (torch.bilinear), got {x1.dtype} and {x2.dtype}",
                         code="PL404")
    _last_dim("Bilinear", x1, "a first input")
    _last_dim("Bilinear", x2, "a second input")
    if not (x1.batched and x2.batched):
        raise LayerError("needs two batched inputs (layer outputs or model inputs); torch.bilinear does not "
                         "broadcast an unbatched tensor such as a Parameter over the batch", code="PL401")
    if len(x1.shape) != len(x2.shape):
        raise LayerError(f"needs inputs of the same rank, got {format_shape(x1.shape)} and "
                         f"{format_shape(x2.shape)} per sample", code="PL401")
    if x1.shape[:-1] != x2.shape[:-1]:
        raise LayerError(f"needs inputs whose leading dims agree (no broadcasting), got "
                         f"{format_shape(x1.shape)} and {format_shape(x2.shape)} per sample", code="PL401")
    in1 = _check_features("in1_features", args["in1_features"], x1, "its first input")
    in2 = _check_features("in2_features", args["in2_features"], x2, "its second input")
    out_features = args["out_features"]
    params = {"weight": (out_features, in1, in2)}
    if args["bias"]:
        params["bias"] = (out_features,)
    out = x1.with_shape(x1.shape[:-1] + (out_features,))
    saved = (SavedTensor("input", x1.numel, x1.dtype, 0), SavedTensor("input", x2.numel, x2.dtype, 1))
    return LayerResult((out,), params, args=dict(args, in1_features=in1, in2_features=in2), saved=saved,
                       uncounted="torch.bilinear runs as aten._trilinear, which FlopCounterMode does not count")


def _check_padding_idx(padding_idx: Optional[int], num_embeddings: int) -> None:
    if padding_idx is not None and not -num_embeddings <= padding_idx < num_embeddings:
        raise LayerError(f"padding_idx {padding_idx} must be within num_embeddings: "
                         f"{-num_embeddings} <= padding_idx < {num_embeddings}", arg="padding_idx")


def _embedding_infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    _check_padding_idx(args["padding_idx"], args["num_embeddings"])
    dim = args["embedding_dim"]
    out = TensorSpec(x.shape + (dim,), "float32", x.batched)
    return LayerResult((out,), {"weight": (args["num_embeddings"], dim)}, args=dict(args),
                       saved=(SavedTensor("input", x.numel, x.dtype),))


def _embedding_bag_infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    _check_padding_idx(args["padding_idx"], args["num_embeddings"])
    if len(x.shape) != 1:
        raise LayerError(f"takes one bag of indices per sample, [bag_length], got {format_shape(x.shape)} "
                         f"(a batch of scalars would need offsets, which a config cannot give)", code="PL401")
    mode = args["mode"]
    if mode == "max" and args["sparse"]:
        raise LayerError("mode 'max' does not support sparse weights", arg="sparse")
    dim = args["embedding_dim"]
    bag = x.shape[0]
    # Per bag, in the indices' dtype: offsets, bag_size, max_indices (D of
    # them for 'max'), and the bag of each index (offset2bag), which a plain
    # 'sum' (no padding_idx) leaves empty.
    plain_sum = mode == "sum" and args["padding_idx"] is None
    saved = (SavedTensor("input", x.numel, x.dtype), SavedTensor("new", 1, x.dtype), SavedTensor("new", 1, x.dtype),
             SavedTensor("new", dim if mode == "max" else 1, x.dtype))
    if not plain_sum:  # offset2bag (its storage has one more entry per batch)
        saved += (SavedTensor("new", bag, x.dtype),)
    return LayerResult((TensorSpec((dim,), "float32"),), {"weight": (args["num_embeddings"], dim)},
                       args=dict(args), saved=saved)


_LOOKUP_ARGS = {
    "num_embeddings": Arg("pos_int", doc="size of the vocabulary"),
    "embedding_dim": Arg("pos_int", doc="size of each vector"),
    "padding_idx": Arg("opt_int", None, "an index whose vector gets no gradient (may be negative)"),
    "max_norm": Arg("opt_number", None, "renormalise looked-up vectors to at most this norm"),
    "norm_type": Arg("number", 2.0, "the p of the p-norm for max_norm"),
    "scale_grad_by_freq": Arg("bool", False, "scale gradients by inverse word frequency in the batch"),
    "sparse": Arg("bool", False, "sparse gradient for the weight"),
}

LAYERS = (
    LayerDef("Linear", "linear", {
        "in_features": Arg("opt_pos_int", None, "size of the last input dim; inferred when omitted"),
        "out_features": Arg("pos_int", doc="size of the last output dim"),
        "bias": Arg("bool", True, "adds a learnable bias"),
    }, _linear_infer, doc="torch.nn.Linear: x @ W.T + b over the last dim; any leading dims are kept."),
    LayerDef("Bilinear", "linear", {
        "in1_features": Arg("opt_pos_int", None, "last dim of the first input; inferred when omitted"),
        "in2_features": Arg("opt_pos_int", None, "last dim of the second input; inferred when omitted"),
        "out_features": Arg("pos_int", doc="size of the last output dim"),
        "bias": Arg("bool", True, "adds a learnable bias"),
    }, _bilinear_infer, doc="torch.nn.Bilinear: x1 A x2 + b for two inputs (`from: [a, b]`).",
        min_inputs=2, max_inputs=2),
    LayerDef("Embedding", "linear", dict(_LOOKUP_ARGS), _embedding_infer,
             doc="torch.nn.Embedding: integer ids [*] -> vectors [*, embedding_dim].", input_dtype="int"),
    LayerDef("EmbeddingBag", "linear", {
        **{k: v for k, v in _LOOKUP_ARGS.items() if k not in ("padding_idx", "sparse")},
        "mode": Arg("enum", "mean", "how a bag is reduced", choices=("sum", "mean", "max")),
        "sparse": _LOOKUP_ARGS["sparse"],
        "include_last_offset": Arg("bool", False, "offsets has one extra element (irrelevant for [bag] input)"),
        "padding_idx": _LOOKUP_ARGS["padding_idx"],
    }, _embedding_bag_infer, doc="torch.nn.EmbeddingBag: a bag of ids [bag_length] -> one vector [embedding_dim].",
        input_dtype="int"),
)
