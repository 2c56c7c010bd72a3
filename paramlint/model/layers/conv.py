"""Convolutions: Conv1d/2d/3d and ConvTranspose1d/2d/3d."""
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
    check_inferred,
    check_rank,
    expand,
)


def window_output_size(size: int, kernel: int, stride: int, pad_total: int, dilation: int) -> int:
    """``floor((size + pad_total - dilation*(kernel-1) - 1) / stride) + 1``,
    the one formula behind convolution and pooling output sizes."""
    return (size + pad_total - dilation * (kernel - 1) - 1) // stride + 1


def window_formula(size: int, kernel: int, stride: int, pad: int, dilation: int) -> str:
    return (f"floor(({size} + 2*{pad} - {dilation}*({kernel}-1) - 1) / {stride}) + 1"
            f" = {window_output_size(size, kernel, stride, 2 * pad, dilation)}")


def unread_rows(size: int, kernel: int, stride: int, pad_before: int, pad_after: int, dilation: int) -> int:
    """Input rows at the end that no window ever reads (trailing padding
    excluded): the silent loss a stride/kernel mismatch causes."""
    span = size + pad_before + pad_after - dilation * (kernel - 1) - 1
    if span < 0:
        return 0
    return max(0, span % stride - pad_after)


def skips_by_design(kernel: int, stride: int, dilation: int) -> bool:
    """A window shorter than the stride (the 1x1 stride-2 downsample of ResNet): the rows between windows,
    and the last one, are skipped on purpose, so PL451 stays silent on that axis."""
    return dilation * (kernel - 1) + 1 < stride


AXIS_NAMES = {1: ("positions",), 2: ("rows", "columns"), 3: ("frames", "rows", "columns")}


def unread_warnings(layer_type: str, spatial: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                    pad: Sequence[int], dilation: Sequence[int]) -> Tuple[LayerWarning, ...]:
    """One PL451 warning listing, per spatial axis, the input positions never read."""
    names = AXIS_NAMES.get(len(spatial), tuple(f"axis-{i} positions" for i in range(len(spatial))))
    parts, formulas, strided = [], [], False
    for name, size, k, s, p, d in zip(names, spatial, kernel, stride, pad, dilation):
        lost = 0 if skips_by_design(k, s, d) else unread_rows(size, k, s, p, p, d)
        if lost:
            parts.append(f"the last {lost} of {size} {name}")
            formulas.append(f"({size} + 2*{p} - {d}*({k}-1) - 1) mod {s} = {lost + p}")
            strided = strided or s > 1
    if not parts:
        return ()
    message = (f"{layer_type} never reads {' and '.join(parts)} of its input: " + "; ".join(dict.fromkeys(formulas)) +
               " (positions left after the last full window)")
    return (LayerWarning("PL451", message, arg="stride" if strided else "kernel_size"),)


def _groups_check(in_channels: int, out_channels: int, groups: int) -> None:
    if in_channels % groups:
        raise LayerError(f"in_channels must be divisible by groups: {in_channels} % {groups} != 0", arg="groups")
    if out_channels % groups:
        raise LayerError(f"out_channels must be divisible by groups: {out_channels} % {groups} != 0", arg="groups")


def _conv_args(transposed: bool) -> Mapping[str, Arg]:
    args = {
        "in_channels": Arg("opt_pos_int", None, "input channels; inferred from the input when omitted"),
        "out_channels": Arg("pos_int", doc="output channels"),
        "kernel_size": Arg("size", doc="kernel size, one value or one per spatial axis"),
        "stride": Arg("size", 1, "stride of the window"),
        "padding": Arg("nonneg_size" if transposed else "padding", 0,
                       "implicit zero padding on both sides" + ("" if transposed else "; 'same' or 'valid'")),
        "dilation": Arg("size", 1, "spacing between kernel elements"),
        "groups": Arg("pos_int", 1, "blocked connections from input to output channels"),
        "bias": Arg("bool", True, "adds a learnable bias"),
        "padding_mode": Arg("enum", "zeros", "how the padding is filled",
                            choices=("zeros",) if transposed else ("zeros", "reflect", "replicate", "circular")),
    }
    if transposed:
        args["output_padding"] = Arg("nonneg_size", 0, "extra size added to one side of the output")
    return args


def _common(layer_type: str, n: int, args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> tuple:
    """What convolutions and transposed convolutions read alike: the input,
    its spatial sizes, the channel counts (checked against groups) and the
    per-axis kernel, stride and dilation."""
    x = inputs[0]
    check_rank(layer_type, x, (n + 2,), "a [C, *spatial] tensor")
    in_channels = check_inferred("in_channels", args["in_channels"], x.shape[0], "its input")
    out_channels, groups = args["out_channels"], args["groups"]
    _groups_check(in_channels, out_channels, groups)
    kernel = expand(args["kernel_size"], n, "kernel_size")
    stride = expand(args["stride"], n, "stride")
    dilation = expand(args["dilation"], n, "dilation")
    return x, x.shape[1:], in_channels, out_channels, groups, kernel, stride, dilation


def _make_conv_infer(n: int):
    def infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
        layer_type = f"Conv{n}d"
        x, spatial, in_channels, out_channels, groups, kernel, stride, dilation = _common(layer_type, n, args, inputs)
        padding = args["padding"]
        if padding == "same":
            if any(s != 1 for s in stride):
                raise LayerError("padding='same' is not supported for strided convolutions", arg="padding")
            pad_totals = tuple(d * (k - 1) for k, d in zip(kernel, dilation))
            pads = tuple(t // 2 for t in pad_totals)
        else:
            pads = (0,) * n if padding == "valid" else expand(padding, n, "padding")
            pad_totals = tuple(2 * p for p in pads)
        if args["padding_mode"] in ("reflect", "circular") and padding != "valid":
            # reflection needs padding < size, circular padding <= size; replicate repeats any amount
            for size, p in zip(spatial, pads):
                limit = size if args["padding_mode"] == "circular" else size - 1
                if p > limit:
                    raise LayerError(f"padding {p} is too large for padding_mode "
                                     f"'{args['padding_mode']}' on an input of size {size}", arg="padding")
        out_spatial = []
        for size, k, s, t, d, p in zip(spatial, kernel, stride, pad_totals, dilation, pads):
            if size + t < d * (k - 1) + 1:
                raise LayerError(
                    f"kernel (effective size {d}*({k}-1)+1 = {d * (k - 1) + 1}) is larger than the padded input "
                    f"{size} + {t} = {size + t}: output size {window_formula(size, k, s, p, d)}",
                    arg="kernel_size", code="PL403")
            out_spatial.append(window_output_size(size, k, s, t, d))
        weight = (out_channels, in_channels // groups) + kernel
        params = {"weight": weight}
        if args["bias"]:
            params["bias"] = (out_channels,)
        out = TensorSpec((out_channels, *out_spatial), x.dtype)
        flops = 2 * math.prod(out_spatial) * math.prod(weight)
        resolved = dict(args, in_channels=in_channels)
        warnings = () if padding == "same" else unread_warnings(layer_type, spatial, kernel, stride, pads, dilation)
        return LayerResult((out,), params, flops=flops, args=resolved, warnings=warnings,
                           saved=_conv_saved(x, args["padding_mode"], pad_totals, padding == "same"))

    return infer


def _conv_saved(x: TensorSpec, mode: str, pad_totals: Tuple[int, ...], same: bool) -> Tuple[SavedTensor, ...]:
    """The convolution keeps its input, unless torch pads it first: a padding
    mode other than zeros pads explicitly (and reflect/replicate keep the
    input for their own backward), and 'same' with an odd total padding pads
    the extra row explicitly; the convolution keeps the padded copy."""
    channels, spatial = x.shape[0], x.shape[1:]
    if mode != "zeros" and any(pad_totals):
        padded = channels * math.prod(size + total for size, total in zip(spatial, pad_totals))
        own = (SavedTensor("input", x.numel, x.dtype),) if mode in ("reflect", "replicate") else ()
        return own + (SavedTensor("new", padded, x.dtype),)
    if same and any(total % 2 for total in pad_totals):
        padded = channels * math.prod(size + total % 2 for size, total in zip(spatial, pad_totals))
        return (SavedTensor("new", padded, x.dtype),)
    return (SavedTensor("input", x.numel, x.dtype),)


def _make_transpose_infer(n: int):
    def infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
        layer_type = f"ConvTranspose{n}d"
        x, spatial, in_channels, out_channels, groups, kernel, stride, dilation = _common(layer_type, n, args, inputs)
        pads = expand(args["padding"], n, "padding")
        out_pads = expand(args["output_padding"], n, "output_padding")
        out_spatial = []
        for size, k, s, p, d, op in zip(spatial, kernel, stride, pads, dilation, out_pads):
            if op >= s and op >= d:
                raise LayerError(f"output padding must be smaller than either stride or dilation, "
                                 f"but got output_padding={op}, stride={s}, dilation={d}", arg="output_padding")
            size_out = (size - 1) * s - 2 * p + d * (k - 1) + op + 1
            if size_out <= 0:
                raise LayerError(f"output size ({size}-1)*{s} - 2*{p} + {d}*({k}-1) + {op} + 1 = {size_out} "
                                 f"is not positive", arg="padding", code="PL403")
            out_spatial.append(size_out)
        weight = (in_channels, out_channels // groups) + kernel
        params = {"weight": weight}
        if args["bias"]:
            params["bias"] = (out_channels,)
        out = TensorSpec((out_channels, *out_spatial), x.dtype)
        flops = 2 * math.prod(spatial) * math.prod(weight)
        return LayerResult((out,), params, flops=flops, args=dict(args, in_channels=in_channels),
                           saved=(SavedTensor("input", x.numel, x.dtype),))

    return infer


def _conv_layout(args: Mapping[str, Any], inputs: Sequence[TensorSpec], out: TensorSpec) -> TensorSpec:
    """Channels-last stays channels-last, unless circular padding (a contiguous copy) comes first."""
    if args["padding_mode"] == "circular":
        return layout.with_strides(out, None)
    return layout.as_memory_format(args, inputs, out)


LAYERS = tuple(
    LayerDef(f"Conv{n}d", "conv", _conv_args(False), _make_conv_infer(n), layout=_conv_layout,
             doc=f"torch.nn.Conv{n}d: a {n}-d convolution over [C, *spatial] inputs.")
    for n in (1, 2, 3)
) + tuple(
    LayerDef(f"ConvTranspose{n}d", "conv", _conv_args(True), _make_transpose_infer(n),
             layout=layout.as_memory_format, doc=f"torch.nn.ConvTranspose{n}d: a {n}-d transposed convolution.")
    for n in (1, 2, 3)
)
