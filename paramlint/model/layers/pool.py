"""Pooling: MaxPool, AvgPool and LPPool (1d/2d/3d), AdaptiveAvgPool and AdaptiveMaxPool (1d/2d/3d).

The arithmetic and the rejections follow ATen's pooling shape checks (torch 2.13):

- ``padding`` may be at most ``kernel_size // 2`` on every axis; for MaxPool
  it is the kernel itself that counts, not the dilated kernel;
- ``ceil_mode`` rounds the number of windows up, but drops a last window that
  would start in the right padding: ``(out-1)*stride >= size + padding``
  gives ``out - 1``;
- AvgPool3d (and LPPool3d, which runs on it) also refuses an unpadded input
  smaller than the kernel;
- an output size below 1 is refused.

A per-sample input of rank n (``[*spatial]`` instead of ``[C, *spatial]``)
is what torch reads as an unbatched tensor whose channels are the batch.
Pooling treats every channel alike, so the per-sample result does not depend
on the batch size, and such an input is accepted as torch accepts it.

Pools count no FLOPs: ``FlopCounterMode`` does not count them.
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
    LayerWarning,
    SavedTensor,
    Shape,
    TensorSpec,
    check_rank,
    expand,
)
from .conv import skips_by_design, unread_warnings, window_formula, window_output_size

_AXES = {1: "L", 2: "H, W", 3: "D, H, W"}
_AXIS_WORDS = {1: ("positions",), 2: ("rows", "columns"), 3: ("frames", "rows", "columns")}

# Counting the positions no window reads costs kernel x size / stride steps;
# beyond this the warning is skipped rather than the linter slowed down.
_MAX_SCAN = 10**5  # kernel elements the unread-positions count walks at most


def pool_sizes(value: Any, n: int, name: str) -> Tuple[int, ...]:
    """An int, or a list of ``n`` ints, or of one int, which torch's pooling ops
    apply to every axis."""
    if isinstance(value, list) and len(value) == 1:
        return (value[0],) * n
    return expand(value, n, name)


def pool_output_size(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil_mode: bool) -> int:
    """ATen's ``pooling_output_shape``: the conv formula, rounded up in ceil
    mode, minus a last window that would start in the right padding."""
    if not ceil_mode:
        return window_output_size(size, kernel, stride, 2 * pad, dilation)
    out = window_output_size(size, kernel, stride, 2 * pad + stride - 1, dilation)
    if (out - 1) * stride >= size + pad:
        out -= 1
    return out


def pool_formula(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil_mode: bool) -> str:
    """The output-size arithmetic with the numbers put in."""
    if not ceil_mode:
        return window_formula(size, kernel, stride, pad, dilation)
    raw = window_output_size(size, kernel, stride, 2 * pad + stride - 1, dilation)
    text = f"ceil(({size} + 2*{pad} - {dilation}*({kernel}-1) - 1) / {stride}) + 1 = {raw}"
    if (raw - 1) * stride >= size + pad:
        text += (f", less the last window, which would start in the padding "
                 f"(({raw}-1)*{stride} >= {size} + {pad}): {raw - 1}")
    return text


def _axis_text(axis: int, n: int) -> str:
    return f" along spatial axis {axis}" if n > 1 else ""


def _split_input(layer_type: str, x: TensorSpec, n: int) -> Tuple[Shape, Shape]:
    """(leading dims, spatial dims): ``[C]`` or nothing, then the ``n`` spatial sizes."""
    axes = _AXES[n]
    check_rank(layer_type, x, (n + 1, n + 2), f"a [C, {axes}] or [{axes}] tensor")
    return tuple(x.shape[:-n]), tuple(x.shape[-n:])


def window_pool_output(layer_type: str, spatial: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                       pads: Sequence[int], dilation: Sequence[int], ceil_mode: bool,
                       kernel_within_input: bool = False) -> Tuple[int, ...]:
    """Output spatial sizes of a sliding-window pool, or the LayerError torch's checks raise."""
    n = len(spatial)
    for axis, (k, p) in enumerate(zip(kernel, pads)):
        if p > k // 2:
            raise LayerError(f"{layer_type} padding {p}{_axis_text(axis, n)} is more than half of kernel_size {k}: "
                             f"torch requires padding <= {k} // 2 = {k // 2}", arg="padding")
    if kernel_within_input:
        for axis, (size, k) in enumerate(zip(spatial, kernel)):
            if size < k:
                raise LayerError(f"{layer_type} refuses an input smaller than its kernel, padding not counted: "
                                 f"input size {size}{_axis_text(axis, n)} < kernel_size {k}",
                                 arg="kernel_size", code="PL403")
    out = []
    for axis, (size, k, s, p, d) in enumerate(zip(spatial, kernel, stride, pads, dilation)):
        size_out = pool_output_size(size, k, s, p, d, ceil_mode)
        if size_out < 1:
            raise LayerError(f"input size {size}{_axis_text(axis, n)} is too small for kernel_size {k}: output size "
                             f"{pool_formula(size, k, s, p, d, ceil_mode)} is not positive",
                             arg="kernel_size", code="PL403")
        out.append(size_out)
    return tuple(out)


def _trailing_unread(size: int, kernel: int, stride: int, pad: int, dilation: int, out: int) -> int:
    """Input positions after the last window's last element (conv's arithmetic
    in floor mode; 0 where ceil mode adds a window, which reaches the end)."""
    return max(0, size - ((out - 1) * stride - pad + dilation * (kernel - 1) + 1))


def unread_positions(size: int, kernel: int, stride: int, pad: int, dilation: int, out: int) -> int:
    """How many of the ``size`` input positions along one axis no window reads,
    for ``out`` windows (as :func:`pool_output_size` counts them)."""
    trailing = _trailing_unread(size, kernel, stride, pad, dilation, out)
    # Windows that touch or overlap leave no gaps (the first covers position 0
    # since padding <= kernel // 2); a kernel too long to afford counts the tail only.
    if (dilation == 1 and stride <= kernel) or kernel > _MAX_SCAN:
        return trailing
    # Kernel element j reads positions j*dilation - pad + i*stride (i < out): within one residue class modulo
    # the stride, one run of consecutive multiples.  The runs of each class are merged: O(kernel log kernel),
    # whatever the input size (no per-position allocation).
    runs: Dict[int, List[Tuple[int, int]]] = {}
    for j in range(kernel):
        first = j * dilation - pad
        start = first if first >= 0 else first + (-first + stride - 1) // stride * stride
        stop = min(first + (out - 1) * stride, size - 1)
        if start <= stop:
            stop = start + (stop - start) // stride * stride
            runs.setdefault(start % stride, []).append((start // stride, stop // stride))
    read = 0
    for intervals in runs.values():
        intervals.sort()
        low, high = intervals[0]
        for lo, hi in intervals[1:]:
            if lo > high + 1:
                read += high - low + 1
                low = lo
            high = max(high, hi)
        read += high - low + 1
    return size - read


def pool_unread_warnings(layer_type: str, spatial: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                         pads: Sequence[int], dilation: Sequence[int],
                         out_spatial: Sequence[int]) -> Tuple[LayerWarning, ...]:
    """At most one PL451 for input positions no window reads: conv's warning
    when only trailing positions are lost, else one that also counts the gaps
    windows leave between them (stride larger than the kernel, dilation)."""
    geometry = list(zip(spatial, kernel, stride, pads, dilation, out_spatial))
    designed = [skips_by_design(k, s, d) for _, k, s, _, d, _ in geometry]
    lost = [0 if skip else unread_positions(*axis) for axis, skip in zip(geometry, designed)]
    trailing = [0 if skip else _trailing_unread(*axis) for axis, skip in zip(geometry, designed)]
    if lost == trailing:
        # Stride 1 silences conv's arithmetic on the axes where ceil mode reads the tail after all.
        strides = [s if t else 1 for s, t in zip(stride, trailing)]
        return unread_warnings(layer_type, spatial, kernel, strides, pads, dilation)
    parts = []
    for word, (size, k, s, _, d, _), gone, tail in zip(_AXIS_WORDS[len(spatial)], geometry, lost, trailing):
        if gone and gone == tail:
            parts.append(f"the last {gone} of {size} {word}")
        elif gone:
            after = f", {tail} after the last window" if tail else ""
            parts.append(f"{gone} of {size} {word} "
                         f"(windows of {k} with dilation {d}, one every {s}, leave gaps{after})")
    return (LayerWarning("PL451", f"{layer_type} never reads {' and '.join(parts)} of its input",
                         arg="stride" if any(s > k for s, k in zip(stride, kernel)) else "dilation"),)


def _indices_saved(out: TensorSpec, returned: bool) -> SavedTensor:
    # The int64 argmax indices backward scatters through: the second output when returned.
    return SavedTensor("output", out.numel, "int64", 1) if returned else SavedTensor("new", out.numel, "int64")


# ---------------------------------------------------------------------------
# Sliding-window pools

def _window_args(max_pool: bool, n: int) -> Mapping[str, Arg]:
    args = {
        "kernel_size": Arg("size", doc="window size, one value or one per spatial axis"),
        "stride": Arg("opt_size", None, "step of the window; null means kernel_size"),
        "padding": Arg("nonneg_size", 0, "implicit padding on both sides, at most kernel_size // 2"),
    }
    if max_pool:
        args["dilation"] = Arg("size", 1, "spacing between window elements")
        args["return_indices"] = Arg("bool", False, "also output the int64 argmax indices (as NAME.1)")
        args["ceil_mode"] = Arg("bool", False, "round the number of windows up")
    else:
        args["ceil_mode"] = Arg("bool", False, "round the number of windows up")
        args["count_include_pad"] = Arg("bool", True, "count the zero padding in the average")
        if n > 1:
            args["divisor_override"] = Arg("opt_int", None, "divide by this instead of the window size; not 0")
    return args


def _window_geometry(args: Mapping[str, Any], n: int, with_padding: bool = True,
                     with_dilation: bool = False) -> Tuple[Tuple[int, ...], ...]:
    kernel = pool_sizes(args["kernel_size"], n, "kernel_size")
    stride = kernel if args["stride"] is None else pool_sizes(args["stride"], n, "stride")
    pads = pool_sizes(args["padding"], n, "padding") if with_padding else (0,) * n
    dilation = pool_sizes(args["dilation"], n, "dilation") if with_dilation else (1,) * n
    return kernel, stride, pads, dilation


def _make_max_infer(n: int):
    layer_type = f"MaxPool{n}d"

    def infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
        x = inputs[0]
        lead, spatial = _split_input(layer_type, x, n)
        kernel, stride, pads, dilation = _window_geometry(args, n, with_dilation=True)
        out_spatial = window_pool_output(layer_type, spatial, kernel, stride, pads, dilation, args["ceil_mode"])
        out = x.with_shape(lead + out_spatial)
        outputs: Tuple[TensorSpec, ...] = (out,)
        if args["return_indices"]:
            outputs += (TensorSpec(out.shape, "int64", x.batched),)
        warnings = pool_unread_warnings(layer_type, spatial, kernel, stride, pads, dilation, out_spatial)
        return LayerResult(outputs, args=dict(args), warnings=warnings,
                           saved=(SavedTensor("input", x.numel, x.dtype), _indices_saved(out, args["return_indices"])))

    return infer


def _make_avg_infer(n: int):
    layer_type = f"AvgPool{n}d"

    def infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
        x = inputs[0]
        lead, spatial = _split_input(layer_type, x, n)
        if args.get("divisor_override") == 0:
            raise LayerError(f"{layer_type} divisor_override must not be 0 (torch: divisor must be not zero)",
                             arg="divisor_override")
        kernel, stride, pads, dilation = _window_geometry(args, n)
        out_spatial = window_pool_output(layer_type, spatial, kernel, stride, pads, dilation, args["ceil_mode"],
                                         kernel_within_input=n == 3)
        warnings = pool_unread_warnings(layer_type, spatial, kernel, stride, pads, dilation, out_spatial)
        return LayerResult((x.with_shape(lead + out_spatial),), args=dict(args), warnings=warnings,
                           saved=(SavedTensor("input", x.numel, x.dtype),))

    return infer


def _lp_args(n: int) -> Mapping[str, Arg]:
    return {
        "norm_type": Arg("number", doc="the power p; inf gives max pooling of absolute values"),
        # LPPool1d multiplies by kernel_size, which must therefore be a plain integer.
        "kernel_size": Arg("pos_int" if n == 1 else "size", doc="window size" + (
            "" if n == 1 else ", one value or exactly one per spatial axis")),
        "stride": Arg("opt_size", None, "step of the window; null means kernel_size"),
        "ceil_mode": Arg("bool", False, "round the number of windows up"),
    }


def _make_lp_infer(n: int):
    layer_type = f"LPPool{n}d"

    def infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
        x = inputs[0]
        lead, spatial = _split_input(layer_type, x, n)
        norm_type = args["norm_type"]
        if norm_type == 0:
            raise LayerError(f"{layer_type} norm_type 0 is refused: torch takes the (1 / norm_type)-th root",
                             arg="norm_type")
        # lp_pool unpacks kernel_size into n values itself: a one-element list is not broadcast.
        kernel = expand(args["kernel_size"], n, "kernel_size")
        stride = kernel if args["stride"] is None else pool_sizes(args["stride"], n, "stride")
        pads, dilation = (0,) * n, (1,) * n
        max_path = math.isinf(norm_type)  # +-inf runs max pooling, without AvgPool3d's input-size check
        out_spatial = window_pool_output(layer_type, spatial, kernel, stride, pads, dilation, args["ceil_mode"],
                                         kernel_within_input=n == 3 and not max_path)
        out = x.with_shape(lead + out_spatial)
        if max_path:
            saved = (SavedTensor("input", x.numel, x.dtype), SavedTensor("new", x.numel, x.dtype),
                     _indices_saved(out, False))
        else:
            # x.pow(p) for avg_pool, and four output-sized temporaries of sign/abs/mul/pow.
            saved = (SavedTensor("input", x.numel, x.dtype), SavedTensor("new", x.numel, x.dtype)) + tuple(
                SavedTensor("new", out.numel, x.dtype) for _ in range(4))
        warnings = pool_unread_warnings(layer_type, spatial, kernel, stride, pads, dilation, out_spatial)
        return LayerResult((out,), args=dict(args), warnings=warnings, saved=saved)

    return infer


# ---------------------------------------------------------------------------
# Adaptive pools

def _adaptive_args(max_pool: bool) -> Mapping[str, Arg]:
    args = {"output_size": Arg("adaptive_size", doc="output size, one value or one per spatial axis; "
                                                    "null keeps that axis's input size")}
    if max_pool:
        args["return_indices"] = Arg("bool", False, "also output the int64 argmax indices (as NAME.1)")
    return args


def adaptive_output(layer_type: str, output_size: Any, spatial: Sequence[int]) -> Tuple[int, ...]:
    """The output spatial sizes of an adaptive pool (null entries keep the input size)."""
    n = len(spatial)
    if isinstance(output_size, list):
        if len(output_size) != n:
            raise LayerError(f"`output_size` needs {n} value{'s' if n > 1 else ''}, got {len(output_size)}: "
                             f"{output_size}", arg="output_size")
        sizes: Sequence[Optional[int]] = output_size
    else:
        sizes = (output_size,) * n
    if n == 1 and sizes[0] is None:
        raise LayerError(f"{layer_type} needs an integer output_size: torch's 1-d adaptive pools take no null",
                         arg="output_size")
    return tuple(size if o is None else o for o, size in zip(sizes, spatial))


def _make_adaptive_infer(n: int, max_pool: bool):
    layer_type = f"Adaptive{'Max' if max_pool else 'Avg'}Pool{n}d"

    def infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
        x = inputs[0]
        lead, spatial = _split_input(layer_type, x, n)
        out = x.with_shape(lead + adaptive_output(layer_type, args["output_size"], spatial))
        outputs: Tuple[TensorSpec, ...] = (out,)
        if max_pool:
            if args["return_indices"]:
                outputs += (TensorSpec(out.shape, "int64", x.batched),)
            saved: Tuple[SavedTensor, ...] = (SavedTensor("input", x.numel, x.dtype),
                                              _indices_saved(out, args["return_indices"]))
        elif all(s == 1 for s in out.shape[len(lead):]):
            saved = ()  # torch takes the mean, whose backward needs only the input's shape
        else:
            saved = (SavedTensor("input", x.numel, x.dtype),)
        return LayerResult(outputs, args=dict(args), saved=saved)

    return infer


# Output layouts.  torch runs the 1-d pools as 2-d pools on x.unsqueeze(-2).
# MaxPool1d does too in training (its input needs a gradient, so it keeps the
# indices); only on an input that needs none, outside any torch dispatch mode,
# does its own kernel write a contiguous output.

def _lp_pool_layout(args: Mapping[str, Any], inputs: Sequence[TensorSpec], out: TensorSpec) -> TensorSpec:
    """avg_pool(x.pow(p)): the pool sees the layout of an elementwise op on x."""
    x = inputs[0]
    if x.strides is None:
        return layout.with_strides(out, None)
    powered = layout.pointwise(x, [layout.operand(x)])
    return layout.pool_1d(powered, out) if len(x.shape) == 2 else layout.memory_format(powered, out)


LAYERS = tuple(
    LayerDef(f"MaxPool{n}d", "pool", _window_args(True, n), _make_max_infer(n),
             layout=layout.as_pool_1d if n == 1 else layout.as_memory_format,
             doc=f"torch.nn.MaxPool{n}d: maximum over sliding {n}-d windows of [C, *spatial] inputs.")
    for n in (1, 2, 3)
) + tuple(
    LayerDef(f"AvgPool{n}d", "pool", _window_args(False, n), _make_avg_infer(n),
             layout=layout.as_pool_1d if n == 1 else layout.as_memory_format,
             doc=f"torch.nn.AvgPool{n}d: average over sliding {n}-d windows of [C, *spatial] inputs.")
    for n in (1, 2, 3)
) + tuple(
    LayerDef(f"LPPool{n}d", "pool", _lp_args(n), _make_lp_infer(n), layout=_lp_pool_layout,
             doc=f"torch.nn.LPPool{n}d: power-average (p-norm) over sliding {n}-d windows.")
    for n in (1, 2, 3)
) + tuple(
    LayerDef(f"Adaptive{kind}Pool{n}d", "pool", _adaptive_args(kind == "Max"), _make_adaptive_infer(n, kind == "Max"),
             layout=layout.as_pool_1d if n == 1 else layout.as_memory_format,
             doc=f"torch.nn.Adaptive{kind}Pool{n}d: {kind.lower()} pooling to a fixed {n}-d output size.")
    for kind in ("Avg", "Max") for n in (1, 2, 3)
)
