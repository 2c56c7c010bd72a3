"""Normalization: BatchNorm1d/2d/3d, InstanceNorm1d/2d/3d, LayerNorm, GroupNorm, RMSNorm, LocalResponseNorm.

Counts and rejections follow torch 2.13 in training mode (the mode whose
memory paramlint predicts):

- BatchNorm and InstanceNorm check ``num_features`` only through their
  weights and running statistics: with ``affine`` and ``track_running_stats``
  both false a wrong value is ignored (InstanceNorm warns), so it is a
  warning here (PL454), not an error;
- BatchNorm refuses ``eps <= 0`` when training; InstanceNorm refuses a
  channel with a single spatial element;
- InstanceNorm reads a per-sample input without channels (``[L]`` for
  InstanceNorm1d) as an unbatched tensor whose channels are the batch: that
  is accepted (PL453) unless ``affine`` or ``track_running_stats`` would tie
  ``num_features`` to the batch size;
- a LayerNorm or RMSNorm ``normalized_shape`` that reaches into the batch
  dimension would make the result depend on the batch size and is refused;
  one left out after a channels-first image ``[C, H, W]`` is inferred as the
  width alone, which is legal but rarely meant (PL453).

Norms count no FLOPs (``FlopCounterMode`` does not count them).
"""
from __future__ import annotations

import math
from typing import Any, Dict, Mapping, Sequence, Tuple

from . import layout
from .base import (
    Arg,
    LayerDef,
    LayerError,
    LayerResult,
    LayerWarning,
    SavedTensor,
    Shape,
    TensorSpec,
    check_inferred,
    check_rank,
    format_shape,
)

_AXES = {1: "L", 2: "H, W", 3: "D, H, W"}
STATS_DTYPE = "float32"  # running statistics and saved mean/rstd


def _channels(x: TensorSpec, dim: int = 1) -> int:
    """The size of torch's dim ``dim`` (by default the channels of a batched tensor)."""
    return x.shape[dim - 1] if x.batched else x.shape[dim]


def _full_shape(x: TensorSpec) -> str:
    return format_shape(["N", *x.shape]) if x.batched else x.describe()


def _ignored_num_features(layer_type: str, name: str, given: int, channels: int) -> LayerWarning:
    return LayerWarning(
        "PL454",
        f"{layer_type} {name} {given} does not match its input's {channels} channels; torch ignores {name} "
        f"here because the layer has no weights or running statistics", arg=name)


def _stat_params(size: int, affine: bool, bias: bool) -> Dict[str, Shape]:
    if not affine:
        return {}
    params: Dict[str, Shape] = {"weight": (size,)}
    if bias:
        params["bias"] = (size,)
    return params


def _running_buffers(size: int, track: bool) -> Dict[str, Tuple[Shape, str]]:
    if not track:
        return {}
    return {"running_mean": ((size,), STATS_DTYPE), "running_var": ((size,), STATS_DTYPE),
            "num_batches_tracked": ((), "int64")}


def _stats(count: int, numel: int, per_sample: bool = True) -> Tuple[SavedTensor, ...]:
    """``count`` saved fp32 statistics tensors (mean, rstd, ...) of ``numel`` values each."""
    return tuple(SavedTensor("new", numel, STATS_DTYPE, per_sample=per_sample, stats=True) for _ in range(count))


def _running_args(affine: bool, track_running_stats: bool) -> Dict[str, Arg]:
    """BatchNorm's and InstanceNorm's arguments, which differ only in two defaults."""
    return {
        "num_features": Arg("opt_pos_int", None, "channels; inferred from the input when omitted"),
        "eps": Arg("number", 1e-5, "added to the variance for stability"),
        "momentum": Arg("opt_number", 0.1, "running-statistics update factor; null for a cumulative average"),
        "affine": Arg("bool", affine, "learnable per-channel weight and bias"),
        "track_running_stats": Arg("bool", track_running_stats, "keep running mean and variance buffers"),
        "bias": Arg("bool", True, "with affine: learnable bias besides the weight"),
    }


# ---------------------------------------------------------------------------
# BatchNorm

def _make_batch_infer(n: int):
    layer_type = f"BatchNorm{n}d"
    ranks = (2, 3) if n == 1 else (n + 2,)
    what = "a [C] or [C, L] tensor" if n == 1 else f"a [C, {_AXES[n]}] tensor"

    def infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
        x = inputs[0]
        check_rank(layer_type, x, ranks, what)
        channels = _channels(x)
        affine, track = args["affine"], args["track_running_stats"]
        warnings: Tuple[LayerWarning, ...] = ()
        given = args["num_features"]
        if given is not None and given != channels and not affine and not track:
            warnings = (_ignored_num_features(layer_type, "num_features", given, channels),)
            num_features = given
        else:
            num_features = check_inferred("num_features", given, channels, "its input")
        if args["eps"] <= 0:
            raise LayerError(f"batch_norm eps must be positive during training, but got {args['eps']}", arg="eps")
        return LayerResult(
            (x,), _stat_params(num_features, affine, args["bias"]), _running_buffers(num_features, track),
            args=dict(args, num_features=num_features), warnings=warnings,
            # The batch mean and inverse std: C values each, whatever the batch size.
            saved=(SavedTensor("input", x.numel, x.dtype),) + _stats(2, channels, per_sample=False))

    return infer


# ---------------------------------------------------------------------------
# InstanceNorm

def _make_instance_infer(n: int):
    layer_type = f"InstanceNorm{n}d"
    axes = _AXES[n]

    def infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
        x = inputs[0]
        check_rank(layer_type, x, (n + 1, n + 2), f"a [C, {axes}] or [{axes}] tensor")
        affine, track, given = args["affine"], args["track_running_stats"], args["num_features"]
        warnings: Tuple[LayerWarning, ...] = ()
        if x.batched and x.rank == n + 1:
            if affine or track:
                what = "affine=true" if affine else "track_running_stats=true"
                raise LayerError(
                    f"{layer_type} reads a per-sample [{axes}] input as one unbatched [C, {axes}] tensor whose "
                    f"channels are the batch: with {what} its num_features would have to equal the batch size; "
                    f"give it a [C, {axes}] input", code="PL401")
            warnings = (LayerWarning("PL453", f"{layer_type} reads the batch {_full_shape(x)} as one unbatched "
                                              f"[C, {axes}] tensor whose channels are the samples: each sample is "
                                              f"normalized on its own over all its values"),)
            num_features = given if given is not None else x.shape[0]
            channels_per_sample = 1
        else:
            channels = _channels(x, x.rank - (n + 1))  # torch's feature dim: 1, or 0 when unbatched
            if given is not None and given != channels and not affine and not track:
                warnings = (_ignored_num_features(layer_type, "num_features", given, channels),)
                num_features = given
            else:
                num_features = check_inferred("num_features", given, channels, "its input")
            channels_per_sample = channels
        spatial = x.shape[-n:]
        if math.prod(spatial) == 1:
            raise LayerError(f"{layer_type} needs more than 1 spatial element per channel when training, but "
                             f"{_full_shape(x)} has {' x '.join(map(str, spatial))} = 1", code="PL401")
        # Mean and rstd per sample and channel; the weight and the running
        # statistics are repeated per sample for the batch_norm call.
        stats = 2 + (1 if affine else 0) + (2 if track else 0)
        return LayerResult(
            (x,), _stat_params(num_features, affine, args["bias"]), _running_buffers(num_features, track),
            args=dict(args, num_features=num_features), warnings=warnings,
            saved=(SavedTensor("input", x.numel, x.dtype),) + _stats(stats, channels_per_sample))

    return infer


# ---------------------------------------------------------------------------
# LayerNorm and RMSNorm

def normalized_dims(layer_type: str, given: Any, x: TensorSpec) -> Tuple[int, ...]:
    """``normalized_shape`` as a tuple, inferred as the last dim when omitted,
    checked against the trailing dims of the input."""
    if given is None:
        if not x.shape:
            raise LayerError(f"{layer_type} on a per-sample scalar would normalize over the batch {_full_shape(x)}: "
                             f"the result would depend on the batch size", code="PL401")
        return (x.shape[-1],)
    dims = (given,) if isinstance(given, int) else tuple(given)
    if len(dims) > len(x.shape):
        if x.batched:
            raise LayerError(f"{layer_type} normalized_shape {list(dims)} reaches into the batch dimension of "
                             f"{_full_shape(x)}: the result would depend on the batch size",
                             arg="normalized_shape", code="PL401")
        raise LayerError(f"{layer_type} normalized_shape {list(dims)} has more dims than its input "
                         f"{x.describe()}", arg="normalized_shape", code="PL401")
    trailing = tuple(x.shape[len(x.shape) - len(dims):])
    if trailing != dims:
        raise LayerError(f"expects normalized_shape {list(dims)}, but its input {_full_shape(x)} ends in "
                         f"{list(trailing)}", arg="normalized_shape", code="PL401")
    return dims


def image_width_warning(layer_type: str, given: Any, x: TensorSpec) -> Tuple[LayerWarning, ...]:
    """PL453 when ``normalized_shape`` is omitted after what looks like a channels-first image ``[C, H, W]``
    (the last two sizes equal, the first different): the inferred last dim is the image's width."""
    shape = x.shape
    if given is not None or len(shape) != 3 or shape[1] != shape[2] or shape[0] == shape[2]:
        return ()
    c, h, w = shape
    return (LayerWarning("PL453", f"{layer_type} without `normalized_shape` after {_full_shape(x)} normalizes over "
                                  f"the last dim only (inferred normalized_shape [{w}], the width of a [C, H, W] "
                                  f"image); for a channels-first feature map you probably meant normalized_shape "
                                  f"[{c}, {h}, {w}] (all of C, H, W), or GroupNorm with num_groups 1, or a Permute "
                                  f"to channels-last [{h}, {w}, {c}] first to normalize over the {c} channels"),)


def _args_shape(given: Any, dims: Tuple[int, ...]) -> Any:
    return list(dims) if given is None else given


def _layer_norm_infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    dims = normalized_dims("LayerNorm", args["normalized_shape"], x)
    params: Dict[str, Shape] = {}
    if args["elementwise_affine"]:
        params["weight"] = dims
        if args["bias"]:
            params["bias"] = dims
    rows = x.numel // math.prod(dims)
    return LayerResult((x,), params, args=dict(args, normalized_shape=_args_shape(args["normalized_shape"], dims)),
                       saved=(SavedTensor("input", x.numel, x.dtype),) + _stats(2, rows),
                       warnings=image_width_warning("LayerNorm", args["normalized_shape"], x))


def _rms_norm_infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    """torch.nn.RMSNorm, or transformers' (``upcast``: LlamaRMSNorm; ``unit_offset``: GemmaRMSNorm), which
    compute in float32: a half input is kept as its float32 copy (``x.to(torch.float32)``), and Gemma's
    ``1 + weight`` is one more float32 tensor of the weight's size, kept for the input's gradient."""
    x = inputs[0]
    dims = normalized_dims("RMSNorm", args["normalized_shape"], x)
    rows = x.numel // math.prod(dims)
    offset = args.get("unit_offset", False)
    upcast = offset or args.get("upcast", False)
    if offset and not args["elementwise_affine"]:
        raise LayerError("unit_offset scales by 1 + weight: it needs elementwise_affine", arg="unit_offset")
    saved = (SavedTensor("input", x.numel, x.dtype, upcast=upcast),) + _stats(1, rows)
    params: Dict[str, Shape] = {}
    if args["elementwise_affine"]:
        params["weight"] = dims
        # the normalized input, for the weight's gradient: Gemma's in float32, the others' in the input's dtype
        saved += (SavedTensor("new", x.numel, STATS_DTYPE, stats=True) if offset else
                  SavedTensor("new", x.numel, x.dtype),)
    if offset:
        saved += (SavedTensor("new", math.prod(dims), STATS_DTYPE, per_sample=False, stats=True),)
    resolved = dict(args, normalized_shape=_args_shape(args["normalized_shape"], dims))
    if not upcast:
        resolved.pop("upcast", None)  # torch.nn.RMSNorm's own arguments
        resolved.pop("unit_offset", None)
    return LayerResult((x,), params, args=resolved, saved=saved,
                       warnings=image_width_warning("RMSNorm", args["normalized_shape"], x))


# ---------------------------------------------------------------------------
# GroupNorm

def _group_norm_infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    if x.rank < 2:
        raise LayerError(f"GroupNorm expects a [C, *] input per sample (batch excluded), got {x.describe()} "
                         f"({len(x.shape)}-d)", code="PL401")
    groups, channels, given = args["num_groups"], _channels(x), args["num_channels"]
    num_channels = channels if given is None else given
    if num_channels % groups:
        raise LayerError(f"num_channels ({num_channels}) must be divisible by num_groups ({groups})",
                         arg="num_groups")
    warnings: Tuple[LayerWarning, ...] = ()
    if num_channels != channels:
        if args["affine"]:
            check_inferred("num_channels", given, channels, "its input")
        if channels % groups:
            raise LayerError(f"its input's {channels} channels are not divisible by num_groups ({groups})",
                             arg="num_groups", code="PL401")
        warnings = (_ignored_num_features("GroupNorm", "num_channels", num_channels, channels),)
    return LayerResult((x,), _stat_params(num_channels, args["affine"], args["bias"]),
                       args=dict(args, num_channels=num_channels), warnings=warnings,
                       saved=(SavedTensor("input", x.numel, x.dtype),) + _stats(2, groups))


# ---------------------------------------------------------------------------
# LocalResponseNorm

def _lrn_infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    if x.rank < 3:
        raise LayerError(f"LocalResponseNorm expects a [C, *spatial] input per sample with at least one spatial dim "
                         f"(batch excluded), got {x.describe()} ({len(x.shape)}-d)", code="PL401")
    size = args["size"]
    channels = _channels(x)
    per_channel = x.numel // channels
    # x*x and the divisor, each as large as the input, and the squares padded by size - 1 channels.
    saved = (SavedTensor("input", x.numel, x.dtype), SavedTensor("new", x.numel, x.dtype),
             SavedTensor("new", x.numel, x.dtype), SavedTensor("new", (channels + size - 1) * per_channel, x.dtype))
    return LayerResult((x,), args=dict(args), saved=saved)


def _shape_arg(doc: str) -> Arg:
    return Arg("opt_size", None, doc + "; inferred as the last dim when omitted")


LAYERS = tuple(
    LayerDef(f"BatchNorm{n}d", "norm", _running_args(affine=True, track_running_stats=True), _make_batch_infer(n),
             layout=layout.as_memory_format,
             doc=f"torch.nn.BatchNorm{n}d: normalizes each channel over the batch"
                 f"{' (and length)' if n == 1 else ' and spatial dims'}.")
    for n in (1, 2, 3)
) + tuple(
    LayerDef(f"InstanceNorm{n}d", "norm", _running_args(affine=False, track_running_stats=False),
             _make_instance_infer(n),
             doc=f"torch.nn.InstanceNorm{n}d: normalizes each channel of each sample over its spatial dims.")
    for n in (1, 2, 3)
) + (
    LayerDef("LayerNorm", "norm", {
        "normalized_shape": _shape_arg("the trailing dims normalized over, an int or a list"),
        "eps": Arg("number", 1e-5, "added to the variance for stability"),
        "elementwise_affine": Arg("bool", True, "learnable weight and bias of normalized_shape"),
        "bias": Arg("bool", True, "with elementwise_affine: learnable bias besides the weight"),
    }, _layer_norm_infer, doc="torch.nn.LayerNorm: normalizes over the trailing normalized_shape dims."),
    LayerDef("RMSNorm", "norm", {
        "normalized_shape": _shape_arg("the trailing dims normalized over, an int or a list"),
        "eps": Arg("opt_number", None, "added for stability; null means the dtype's machine epsilon"),
        "elementwise_affine": Arg("bool", True, "learnable weight of normalized_shape"),
        "upcast": Arg("bool", False, "compute in float32 whatever the input's dtype and multiply the weight by "
                                     "the result cast back (transformers' LlamaRMSNorm): the output takes the "
                                     "wider of the weight's and the input's dtype"),
        "unit_offset": Arg("bool", False, "scale by 1 + weight, the weight starting at zero (transformers' "
                                          "GemmaRMSNorm): computed in float32, returned in the input's dtype"),
    }, _rms_norm_infer, layout=layout.as_memory_format,
             doc="torch.nn.RMSNorm: root-mean-square normalization over the trailing dims; `upcast` / "
                 "`unit_offset`: transformers' float32 variants."),
    LayerDef("GroupNorm", "norm", {
        "num_groups": Arg("pos_int", doc="groups the channels are divided into"),
        "num_channels": Arg("opt_pos_int", None, "channels; inferred from the input when omitted"),
        "eps": Arg("number", 1e-5, "added to the variance for stability"),
        "affine": Arg("bool", True, "learnable per-channel weight and bias"),
        "bias": Arg("bool", True, "with affine: learnable bias besides the weight"),
    }, _group_norm_infer, layout=layout.as_memory_format,
             doc="torch.nn.GroupNorm: normalizes each group of channels of each sample."),
    LayerDef("LocalResponseNorm", "norm", {
        "size": Arg("pos_int", doc="neighbouring channels used for normalization"),
        "alpha": Arg("number", 1e-4, "multiplicative factor"),
        "beta": Arg("number", 0.75, "exponent"),
        "k": Arg("number", 1.0, "additive factor"),
    }, _lrn_infer, layout=layout.as_pointwise,
             doc="torch.nn.LocalResponseNorm: normalizes across neighbouring channels."),
)
