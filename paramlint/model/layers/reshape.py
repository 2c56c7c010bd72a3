"""Layers that keep the values but change the view, or drop some of them:
Identity, Flatten, Unflatten and the dropouts.

Dims use torch's numbering, where dim 0 is the batch.  paramlint always keeps
the batch as dim 0, so a Flatten that starts at dim 0 (merging the batch into
the features, ``start_dim: 0``) is rejected although torch would run it.

Dropout saves its mask for backward (memory-model.md): 1 byte per element
(bool) from the fused CUDA kernel for 0 < p < 1; the in-place variant and the
channel-wise dropouts do not use that kernel and keep a float mask of the
input's dtype (one value per channel for the channel-wise ones); AlphaDropout
keeps a full-size noise tensor.  p = 0 and p = 1 save nothing of note.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence, Tuple

from . import layout
from .base import (
    Arg,
    LayerDef,
    LayerError,
    LayerResult,
    LayerWarning,
    SavedTensor,
    TensorSpec,
    format_shape,
    normalize_dim,
    product_text,
)


def _identity_infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    return LayerResult((inputs[0],), args=dict(args))


def _full_dim(dim: int, rank: int, arg: str) -> int:
    if not -rank <= dim < rank:
        raise LayerError(f"Dimension out of range (expected to be in range of [{-rank}, {rank - 1}], but got {dim})",
                         arg=arg)
    return dim % rank


def _flatten_infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    start = _full_dim(args["start_dim"], x.rank, "start_dim")
    end = _full_dim(args["end_dim"], x.rank, "end_dim")
    if start > end:
        raise LayerError(f"start_dim {args['start_dim']} (dim {start}) comes after end_dim {args['end_dim']} "
                         f"(dim {end}) for a {x.rank}-d tensor (batch included)", arg="start_dim")
    if x.batched and start == 0:
        raise LayerError("would flatten the batch (dim 0) into the features; paramlint keeps the batch as dim 0: "
                         "use start_dim 1", arg="start_dim")
    offset = 1 if x.batched else 0  # torch dims to indices in ``shape``
    shape, first, last = x.shape, start - offset, end - offset
    out = shape[:first] + (math.prod(shape[first:last + 1]),) + shape[last + 1:]
    if start == end:
        return LayerResult((x,), args=dict(args))  # torch returns the input itself
    return LayerResult((layout.reshaped(x, out),), args=dict(args))  # x.flatten is x.reshape


def _unflatten_infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    axis = normalize_dim(args["dim"], x)
    sizes = list(args["unflattened_size"])
    size = x.shape[axis]
    known = math.prod(s for s in sizes if s != -1)
    inferred = sizes.count(-1)
    if inferred > 1:
        raise LayerError(f"unflattened_size {sizes} has {inferred} entries of -1; only one can be inferred",
                         arg="unflattened_size")
    if inferred:
        if size % known:
            raise LayerError(f"unflattened_size {sizes}: dim {args['dim']} has size {size}, which is not divisible "
                             f"by {known} = {product_text([s for s in sizes if s != -1])}",
                             arg="unflattened_size", code="PL401")
        sizes[sizes.index(-1)] = size // known
    elif known != size:
        raise LayerError(f"unflattened_size {sizes} multiplies to {known} = {product_text(sizes)}, but dim "
                         f"{args['dim']} has size {size}", arg="unflattened_size", code="PL401")
    out = x.shape[:axis] + tuple(sizes) + x.shape[axis + 1:]
    return LayerResult((layout.reshaped(x, out),), args=dict(args))  # x.view: splitting one dim always is one


def _mask(p: float, numel: int, dtype: str) -> Tuple[SavedTensor, ...]:
    return (SavedTensor("new", numel, dtype),) if 0 < p < 1 else ()


def _dropout_infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    dtype = x.dtype if args["inplace"] else "bool"
    return LayerResult((x,), args=dict(args), saved=_mask(args["p"], x.numel, dtype))


def _alpha_dropout_infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    return LayerResult((x,), args=dict(args), saved=_mask(args["p"], x.numel, x.dtype))


def _channel_dropout_rules(layer_type: str, x: TensorSpec, p: float) -> Tuple[int, str]:
    """Mask values per sample, and a warning text (or "") for the channel-wise
    dropouts, following torch's rank rules (F.dropout1d/2d/3d)."""
    rank, shape = x.rank, format_shape(x.shape)
    channels = x.shape[0] if x.shape else 1
    if layer_type == "Dropout1d" and rank not in (2, 3):
        raise LayerError(f"expects a 2-d or 3-d tensor (batch included), [C, L] per sample; got {rank}-d: "
                         f"{shape} per sample", code="PL401")
    unbatched = "torch reads it as one unbatched sample, so the channels it drops are whole samples of the batch"
    if layer_type == "Dropout1d" and rank == 2:
        return 1, f"{unbatched}; Dropout1d expects [C, L] per sample"
    # torch returns early for p = 0 and p = 1, before it looks at the rank.
    if rank < 2 and layer_type != "Dropout3d" and 0 < p < 1:
        raise LayerError(f"drops whole channels (dim 1) and needs at least a 2-d tensor (batch included), "
                         f"got {shape} per sample", code="PL401")
    if layer_type == "Dropout3d" and rank != 5:
        deprecated = "" if rank == 4 else " (torch also warns that this rank is deprecated)"
        return 1, f"{unbatched}; Dropout3d expects [C, D, H, W] per sample{deprecated}"
    if layer_type == "Dropout2d" and rank == 3:
        return channels, "torch reads it as [N, C, L], warns, and asks for Dropout1d"
    if layer_type == "Dropout2d" and rank != 4:
        return channels, "torch warns that this rank is deprecated for Dropout2d, which expects [C, H, W]"
    return channels, ""


def _make_channel_dropout_infer(layer_type: str):
    def infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
        x = inputs[0]
        channels, warning = _channel_dropout_rules(layer_type, x, args["p"])
        warnings = (LayerWarning("PL453", f"{layer_type} on {format_shape(x.shape)} per sample: {warning}"),) \
            if warning else ()
        return LayerResult((x,), args=dict(args), warnings=warnings, saved=_mask(args["p"], channels, x.dtype))

    return infer


def _dropout_layout(args: Mapping[str, Any], inputs: Sequence[TensorSpec], out: TensorSpec) -> TensorSpec:
    """p = 0 returns the input itself, inplace changes it; otherwise ``x * mask``, elementwise."""
    if args["p"] == 0 or args["inplace"]:
        return out
    return layout.as_pointwise(args, inputs, out)


_DROPOUT_ARGS = {
    "p": Arg("prob", 0.5, "probability of zeroing an element (a channel for the channel-wise ones)"),
    "inplace": Arg("bool", False, "overwrite the input"),
}

LAYERS = (
    LayerDef("Identity", "reshape", {}, _identity_infer, doc="torch.nn.Identity: returns its input.",
             input_dtype="any", layout=layout.as_inferred),
    LayerDef("Flatten", "reshape", {
        "start_dim": Arg("dim", 1, "first dim to flatten (torch numbering, batch 0; 0 is rejected)"),
        "end_dim": Arg("dim", -1, "last dim to flatten"),
    }, _flatten_infer, doc="torch.nn.Flatten: merges dims start_dim..end_dim into one.", input_dtype="any",
             layout=layout.as_inferred),
    LayerDef("Unflatten", "reshape", {
        "dim": Arg("dim", doc="the dim to split (torch numbering, batch 0)"),
        "unflattened_size": Arg("reshape", doc="its new sizes; one may be -1"),
    }, _unflatten_infer, doc="torch.nn.Unflatten: splits one dim into several.", input_dtype="any",
             layout=layout.as_inferred),
    LayerDef("Dropout", "reshape", _DROPOUT_ARGS, _dropout_infer,
             doc="torch.nn.Dropout: zeroes elements with probability p in training.", layout=_dropout_layout),
    LayerDef("Dropout1d", "reshape", _DROPOUT_ARGS, _make_channel_dropout_infer("Dropout1d"),
             doc="torch.nn.Dropout1d: zeroes whole channels of [C, L].", layout=_dropout_layout),
    LayerDef("Dropout2d", "reshape", _DROPOUT_ARGS, _make_channel_dropout_infer("Dropout2d"),
             doc="torch.nn.Dropout2d: zeroes whole channels of [C, H, W].", layout=_dropout_layout),
    LayerDef("Dropout3d", "reshape", _DROPOUT_ARGS, _make_channel_dropout_infer("Dropout3d"),
             doc="torch.nn.Dropout3d: zeroes whole channels of [C, D, H, W].", layout=_dropout_layout),
    LayerDef("AlphaDropout", "reshape", _DROPOUT_ARGS, _alpha_dropout_infer,
             doc="torch.nn.AlphaDropout: dropout that keeps SELU's mean and variance.", layout=_dropout_layout),
    LayerDef("FeatureAlphaDropout", "reshape", _DROPOUT_ARGS, _make_channel_dropout_infer("FeatureAlphaDropout"),
             doc="torch.nn.FeatureAlphaDropout: AlphaDropout of whole channels (dim 1).", layout=_dropout_layout),
)
