"""Shape operations: tensor methods as layers, resampling, pixel and channel
shuffles, and padding.

``Reshape``/``View`` (``shape``: the per-sample target, one -1 allowed),
``Permute`` (``dims``), ``Transpose`` (``dim0``, ``dim1``), ``Select``
(``dim``, ``index``), ``Slice`` (``dim``, ``start``, ``end``, ``step``) and
``Mean``/``Sum`` (``dim``, ``keepdim``) are not torch.nn classes: they stand
for the tensor methods of the same names, applied per sample.  Their dims use
torch's numbering where dim 0 is the batch, which they may not touch.

Deliberate departures from torch, which would run these: an output dim of
size 0 (a slice or crop that leaves nothing) is PL403; padding that would
reach the batch dim (ZeroPad2d on a 1-d sample) is rejected; padding lists
must have exactly the 2n values of the class's docs (torch silently accepts
other even lengths and pads fewer or more dims); negative circular padding
that crops more than the input has is rejected (torch rejects most of it, but
lets a few through where its internal slice copies happen to broadcast).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from . import layout
from .base import (
    Arg,
    LayerDef,
    LayerError,
    LayerResult,
    SavedTensor,
    TensorSpec,
    format_shape,
    normalize_dim,
    product_text,
)


def _target_shape(args: Mapping[str, Any], x: TensorSpec) -> List[int]:
    target = list(args["shape"])
    if target.count(-1) > 1:
        raise LayerError(f"shape {target} has more than one -1; only one dim can be inferred", arg="shape")
    total = x.numel
    known = math.prod(s for s in target if s != -1)
    source = f"{total}" if len(x.shape) < 2 else f"{total} = {product_text(x.shape)}"
    if -1 in target:
        if total % known:
            raise LayerError(f"cannot infer the -1 in {target}: the input has {source} values per sample, "
                             f"not divisible by {known}", arg="shape", code="PL401")
        target[target.index(-1)] = total // known
    elif known != total:
        raise LayerError(f"shape {target} holds {known} values, but the input has {source} per sample",
                         arg="shape", code="PL401")
    return target


def _reshape_infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    target = _target_shape(args, x)
    return LayerResult((layout.reshaped(x, target),), args=dict(args))


def _view_infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    target = _target_shape(args, x)
    strides = layout.view_strides(x, target)
    if strides is None:
        described = layout.describe_strides(x)
        batch = " (N: the batch size)" if "N" in described else ""
        raise LayerError(f"cannot view its input as {format_shape(target)} without a copy: its strides per sample, "
                         f"{described}{batch}, left by a Permute, Transpose or Slice or by a batch-second output "
                         f"(LSTM, GRU, RNN, MultiheadAttention), do not keep the dims it would merge adjacent in "
                         f"memory; torch raises 'view size is not compatible with input tensor's size and stride'. "
                         f"Use Reshape, which copies", arg="shape", code="PL401")
    return LayerResult((layout.with_strides(x.with_shape(target), strides),), args=dict(args))


def _permute_infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    dims = args["dims"] if isinstance(args["dims"], list) else [args["dims"]]
    rank = x.rank
    if len(dims) != rank:
        raise LayerError(f"dims {dims} has {len(dims)} entries, but the tensor has {rank} dims (batch included)",
                         arg="dims", code="PL401")
    full = []
    for dim in dims:
        if not -rank <= dim < rank:
            raise LayerError(f"Dimension out of range (expected to be in range of [{-rank}, {rank - 1}], "
                             f"but got {dim})", arg="dims")
        full.append(dim % rank)
    if len(set(full)) != rank:
        raise LayerError(f"dims {dims} repeats a dim", arg="dims")
    if x.batched and full[0] != 0:
        raise LayerError(f"dims {dims} moves the batch (dim 0); it must stay first", arg="dims")
    shape, strides = layout.full_shape(x), layout.strides_of(x)
    out = x.with_shape(tuple(shape[d] for d in full)[1 if x.batched else 0:])
    return LayerResult((layout.with_strides(out, [strides[d] for d in full]),), args=dict(args))


def _transpose_infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    a = normalize_dim(args["dim0"], x, "dim0")
    b = normalize_dim(args["dim1"], x, "dim1")
    shape, strides = list(x.shape), list(layout.strides_of(x))
    shape[a], shape[b] = shape[b], shape[a]
    offset = 1 if x.batched else 0
    strides[a + offset], strides[b + offset] = strides[b + offset], strides[a + offset]
    return LayerResult((layout.with_strides(x.with_shape(shape), strides),), args=dict(args))


def _select_infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    axis = normalize_dim(args["dim"], x)
    size, index = x.shape[axis], args["index"]
    if not -size <= index < size:
        raise LayerError(f"index {index} is out of range for dim {args['dim']} of size {size}", arg="index",
                         code="PL401")
    strides = list(layout.strides_of(x))
    del strides[axis + (1 if x.batched else 0)]
    return LayerResult((layout.with_strides(x.with_shape(x.shape[:axis] + x.shape[axis + 1:]), strides),),
                       args=dict(args))


def _slice_infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    axis = normalize_dim(args["dim"], x)
    size = x.shape[axis]
    start, end, step = args["start"], args["end"], args["step"]
    length = len(range(*slice(start, end, step).indices(size)))
    if length == 0:
        raise LayerError(f"slice [{_text(start)}:{_text(end)}:{step}] of dim {args['dim']} (size {size}) is empty",
                         arg="start", code="PL403")
    shape, strides = list(x.shape), list(layout.strides_of(x))
    shape[axis] = length
    strides[axis + (1 if x.batched else 0)] *= step
    return LayerResult((layout.with_strides(x.with_shape(shape), strides),), args=dict(args))


def _text(value: Optional[int]) -> str:
    return "" if value is None else str(value)


def _make_reduce_infer(name: str):
    def infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
        x = inputs[0]
        dims = args["dim"] if isinstance(args["dim"], list) else [args["dim"]]
        axes = [normalize_dim(d, x) for d in dims]
        if len(set(axes)) != len(axes):
            raise LayerError(f"dim {dims} names a dim more than once", arg="dim")
        keep = args["keepdim"]
        shape = tuple(1 if i in axes else s for i, s in enumerate(x.shape) if keep or i not in axes)
        dtype = "int64" if name == "Sum" and not x.is_float else x.dtype
        return LayerResult((TensorSpec(shape, dtype, x.batched),), args=dict(args))

    return infer


# Upsample: the modes and the tensor ranks (batch included) each accepts.
_UPSAMPLE_RANKS = {"nearest": (3, 4, 5), "nearest-exact": (3, 4, 5), "area": (3, 4, 5), "linear": (3,),
                   "bilinear": (4,), "bicubic": (4,), "trilinear": (5,)}


def _upsample_sizes(args: Mapping[str, Any], x: TensorSpec) -> List[int]:
    size, scale, mode = args["size"], args["scale_factor"], args["mode"]
    if mode in ("nearest", "area", "nearest-exact") and args["align_corners"] is not None:
        raise LayerError("align_corners can only be set with the interpolating modes: linear | bilinear | "
                         "bicubic | trilinear", arg="align_corners")
    if (size is None) == (scale is None):
        raise LayerError("needs exactly one of size or scale_factor", arg="size" if size is not None else None)
    if size is not None and args["recompute_scale_factor"]:
        raise LayerError("recompute_scale_factor is not meaningful with an explicit size",
                         arg="recompute_scale_factor")
    if x.rank not in _UPSAMPLE_RANKS[mode]:
        wanted = " or ".join(f"{r - 1}-d" for r in _UPSAMPLE_RANKS[mode])
        raise LayerError(f"mode '{mode}' needs {wanted} input per sample ([C, *spatial]), got "
                         f"{format_shape(x.shape)}", code="PL401")
    spatial = x.shape[1:]
    given, arg = (size, "size") if size is not None else (scale, "scale_factor")
    if isinstance(given, list) and len(given) != len(spatial):
        raise LayerError(f"{arg} {given} has {len(given)} values for {len(spatial)} spatial dims "
                         f"({format_shape(spatial)})", arg=arg, code="PL401")
    values = given if isinstance(given, list) else [given] * len(spatial)
    if size is not None:
        return list(values)
    # torch computes int(size * scale) in double precision, exactly as here.
    for s, f in zip(spatial, values):
        if not s * f < 2**63:  # 1e308 overflows to inf: no int, and no tensor torch could make
            raise LayerError(f"output size {s} * {f} is beyond torch's int64 sizes (at most 2^63-1)",
                             arg="scale_factor", code="PL405")
    sizes = [int(s * f) for s, f in zip(spatial, values)]
    for s, f, out in zip(spatial, values, sizes):
        if out <= 0:
            raise LayerError(f"output size floor({s} * {f}) = {out} is not positive", arg="scale_factor",
                             code="PL403")
    return sizes


def _make_upsample_infer(fixed: Mapping[str, Any]):
    def infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
        x = inputs[0]
        full = {"mode": "nearest", "align_corners": None, "recompute_scale_factor": None, **args, **fixed}
        sizes = _upsample_sizes(full, x)
        # 'area' is adaptive average pooling, which keeps its input unless it
        # pools to a single value (torch then takes the mean).
        pools = full["mode"] == "area" and any(s != 1 for s in sizes)
        saved = (SavedTensor("input", x.numel, x.dtype),) if pools else ()
        return LayerResult((x.with_shape((x.shape[0], *sizes)),), args=dict(args), saved=saved)

    return infer


def _check_image(layer_type: str, x: TensorSpec) -> None:
    if len(x.shape) < 3:
        raise LayerError(f"{layer_type} needs [*, C, H, W] per sample (its C would otherwise be the batch), got "
                         f"{format_shape(x.shape)}", code="PL401")


def _pixel_shuffle_infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    _check_image("PixelShuffle", x)
    r = args["upscale_factor"]
    *lead, c, h, w = x.shape
    if c % (r * r):
        raise LayerError(f"channels {c} are not divisible by upscale_factor^2 = {r}^2 = {r * r}",
                         arg="upscale_factor", code="PL401")
    return LayerResult((x.with_shape((*lead, c // (r * r), h * r, w * r)),), args=dict(args))


def _pixel_unshuffle_infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    _check_image("PixelUnshuffle", x)
    r = args["downscale_factor"]
    *lead, c, h, w = x.shape
    for name, size in (("height", h), ("width", w)):
        if size % r:
            raise LayerError(f"{name} {size} is not divisible by downscale_factor {r}", arg="downscale_factor",
                             code="PL401")
    return LayerResult((x.with_shape((*lead, c * r * r, h // r, w // r)),), args=dict(args))


def _channel_shuffle_infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    if len(x.shape) < 2:
        raise LayerError(f"needs [C, *spatial] per sample (at least 2-d), got {format_shape(x.shape)}",
                         code="PL401")
    if x.shape[0] % args["groups"]:
        raise LayerError(f"channels {x.shape[0]} are not divisible by groups {args['groups']}", arg="groups",
                         code="PL401")
    return LayerResult((x,), args=dict(args))


def _pad_output(mode: str, size: int, left: int, right: int, axis_text: str) -> int:
    """One padded dim, with the checks torch makes for each mode."""
    out = size + left + right
    formula = f"{size} + {left} + {right} = {out}"
    if mode == "reflect" and (left >= size or right >= size):
        raise LayerError(f"reflection padding ({left}, {right}) must be smaller than the input size {size} "
                         f"of {axis_text}", arg="padding")
    if mode == "circular" and (left > size or right > size):
        raise LayerError(f"circular padding ({left}, {right}) would wrap around {axis_text} (size {size}) more "
                         f"than once", arg="padding")
    if mode in ("constant", "circular") and size + min(left, 0) + min(right, 0) < 0:
        raise LayerError(f"negative padding ({left}, {right}) crops more than {axis_text} has (size {size})",
                         arg="padding", code="PL403")
    if out <= 0:
        raise LayerError(f"padding leaves {axis_text} with size {formula}", arg="padding", code="PL403")
    return out


def _make_pad_infer(mode: str, n: int, name: str):
    # The ranks (batch included) that torch accepts, less those whose padding
    # would reach the batch dim.
    ranks = range(n + 1, 64) if mode == "constant" else (n + 1, n + 2)

    def infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
        x = inputs[0]
        padding = args["padding"]
        pads = padding if isinstance(padding, list) else [padding] * (2 * n)
        if len(pads) != 2 * n:
            raise LayerError(f"{name} takes {2 * n} padding values (left, right{', top, bottom' if n > 1 else ''}"
                             f"{', front, back' if n > 2 else ''}), got {len(pads)}: {pads}", arg="padding")
        if x.rank not in ranks:
            wanted = f"at least {n}-d" if mode == "constant" else f"{n}-d or {n + 1}-d"
            raise LayerError(f"{name} needs {wanted} input per sample (batch excluded), got "
                             f"{format_shape(x.shape)}", code="PL401")
        shape = list(x.shape)
        for i in range(n):
            axis = len(shape) - 1 - i
            shape[axis] = _pad_output(mode, shape[axis], pads[2 * i], pads[2 * i + 1], f"dim {axis + 1}")
        saved = (SavedTensor("input", x.numel, x.dtype),) if mode in ("reflect", "replicate") else ()
        return LayerResult((x.with_shape(shape),), args=dict(args), saved=saved)

    return infer


def _pad_layers() -> Tuple[LayerDef, ...]:
    padding = Arg("ints", doc="one value for every side, or 2n values (left, right, top, bottom, front, back); "
                              "negative values crop")
    kinds = (("ZeroPad", "constant", "zeros"), ("ConstantPad", "constant", "a constant"),
             ("ReflectionPad", "reflect", "the reflection of the input"),
             ("ReplicationPad", "replicate", "copies of the edge"), ("CircularPad", "circular", "wrapped-around input"))
    layers = []
    for prefix, mode, what in kinds:
        for n in (1, 2, 3):
            name = f"{prefix}{n}d"
            args: Dict[str, Arg] = {"padding": padding}
            if prefix == "ConstantPad":
                args["value"] = Arg("number", doc="the fill value")
            layers.append(LayerDef(name, "shape", args, _make_pad_infer(mode, n, name),
                                   doc=f"torch.nn.{name}: pads the last {n} dim{'s' if n > 1 else ''} with {what}.",
                                   input_dtype="any", layout=None if mode == "circular" else layout.as_memory_format))
    return tuple(layers)


_RESHAPE_ARGS = {"shape": Arg("reshape", doc="the per-sample shape (batch excluded); one entry may be -1")}
_REDUCE_ARGS = {"dim": Arg("dims", doc="dim or dims to reduce (torch numbering, batch 0)"),
                "keepdim": Arg("bool", False, "keep reduced dims with size 1")}
_SCALE_ARGS = {"size": Arg("opt_size", None, "output spatial size (one value or one per spatial dim)"),
               "scale_factor": Arg("opt_scale", None, "multiplier for the spatial size; output is floor(size * it)")}

LAYERS = (
    LayerDef("Reshape", "shape", _RESHAPE_ARGS, _reshape_infer, input_dtype="any", layout=layout.as_inferred,
             doc="x.reshape(batch, *shape): the per-sample shape changes, the values stay."),
    LayerDef("View", "shape", _RESHAPE_ARGS, _view_infer, input_dtype="any", layout=layout.as_inferred,
             doc="x.view(batch, *shape): Reshape without a copy, for an input whose layout allows it."),
    LayerDef("Permute", "shape", {"dims": Arg("dims", doc="a permutation of all dims, batch included; 0 first")},
             _permute_infer, input_dtype="any", layout=layout.as_inferred,
             doc="x.permute(*dims): reorders the dims; the batch stays first."),
    LayerDef("Transpose", "shape", {"dim0": Arg("dim", doc="a dim (batch is 0)"), "dim1": Arg("dim", doc="another")},
             _transpose_infer, input_dtype="any", layout=layout.as_inferred,
             doc="x.transpose(dim0, dim1): swaps two dims."),
    LayerDef("Select", "shape", {"dim": Arg("dim", doc="the dim to index (batch is 0)"),
                                 "index": Arg("int", doc="the position kept; negative counts from the end")},
             _select_infer, input_dtype="any", layout=layout.as_inferred,
             doc="x.select(dim, index): keeps one position; the dim goes away."),
    LayerDef("Slice", "shape", {"dim": Arg("dim", doc="the dim to slice (batch is 0)"),
                                "start": Arg("opt_int", None, "first position (Python slice rules)"),
                                "end": Arg("opt_int", None, "end position, exclusive"),
                                "step": Arg("pos_int", 1, "stride")},
             _slice_infer, input_dtype="any", layout=layout.as_inferred,
             doc="x[..., start:end:step, ...] along `dim`."),
    LayerDef("Mean", "shape", _REDUCE_ARGS, _make_reduce_infer("Mean"), doc="x.mean(dim, keepdim)."),
    LayerDef("Sum", "shape", _REDUCE_ARGS, _make_reduce_infer("Sum"), input_dtype="any", doc="x.sum(dim, keepdim)."),
    LayerDef("Upsample", "shape", {
        **_SCALE_ARGS,
        "mode": Arg("enum", "nearest", "interpolation", choices=tuple(_UPSAMPLE_RANKS)),
        "align_corners": Arg("opt_bool", None, "for linear, bilinear, bicubic, trilinear only"),
        "recompute_scale_factor": Arg("opt_bool", None, "recompute the scale from the output size"),
    }, _make_upsample_infer({}), layout=layout.as_memory_format,
             doc="torch.nn.Upsample: resamples [C, *spatial] to size or floor(size * scale)."),
    LayerDef("UpsamplingNearest2d", "shape", _SCALE_ARGS, _make_upsample_infer({"mode": "nearest"}),
             layout=layout.as_memory_format,
             doc="torch.nn.UpsamplingNearest2d: Upsample with mode 'nearest'."),
    LayerDef("UpsamplingBilinear2d", "shape", _SCALE_ARGS,
             _make_upsample_infer({"mode": "bilinear", "align_corners": True}), layout=layout.as_memory_format,
             doc="torch.nn.UpsamplingBilinear2d: Upsample with mode 'bilinear', align_corners true."),
    LayerDef("PixelShuffle", "shape", {"upscale_factor": Arg("pos_int", doc="r: [C*r*r, H, W] -> [C, H*r, W*r]")},
             _pixel_shuffle_infer, input_dtype="any", layout=layout.as_memory_format,
             doc="torch.nn.PixelShuffle: channels to space."),
    LayerDef("PixelUnshuffle", "shape",
             {"downscale_factor": Arg("pos_int", doc="r: [C, H*r, W*r] -> [C*r*r, H, W]")},
             _pixel_unshuffle_infer, input_dtype="any", layout=layout.as_memory_format,
             doc="torch.nn.PixelUnshuffle: space to channels."),
    LayerDef("ChannelShuffle", "shape", {"groups": Arg("pos_int", doc="number of groups; divides the channels")},
             _channel_shuffle_infer, input_dtype="any", layout=layout.as_memory_format,
             doc="torch.nn.ChannelShuffle: interleaves channel groups."),
) + _pad_layers()
