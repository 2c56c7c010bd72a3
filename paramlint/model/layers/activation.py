"""Activations: element-wise non-linearities, PReLU, the softmax family, GLU.

None of them counts FLOPs (``FlopCounterMode`` counts only matmuls and
convolutions).  What autograd saves was measured with
``torch.autograd.graph.saved_tensors_hooks`` (torch 2.13): most functions keep
their input, ReLU/Sigmoid/Tanh/softmax keep their output.  Several in-place
variants (``inplace: true``) keep a *new* copy of the input instead, because
their backward needs the value the in-place write destroyed: they save no
memory at all.

``Softmax``/``LogSoftmax``/``Softmin`` follow torch's default ``dim=None``:
torch then picks a dim by rank (0 for 1-d and 3-d tensors, else 1, batch
included) and warns that this is deprecated.  paramlint reports that choice
as PL453 and writes the chosen dim into the torch arguments; where the choice
is dim 0, the batch, the layer is rejected (PL402), as is any explicit dim
that names the batch: softmax across the batch mixes samples.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence, Tuple

from . import layout
from .base import (
    Arg,
    LayerDef,
    LayerError,
    LayerResult,
    LayerWarning,
    Layout,
    SavedTensor,
    TensorSpec,
    format_shape,
    normalize_dim,
)

INPLACE = Arg("bool", False, "overwrite the input (saves no memory where backward needs the old value)")

Check = Callable[[Mapping[str, Any], TensorSpec], None]


def _saved(kinds: Sequence[str], x: TensorSpec) -> Tuple[SavedTensor, ...]:
    return tuple(SavedTensor(kind, x.numel, x.dtype) for kind in kinds)


def _pointwise(layer_type: str, args: Mapping[str, Arg], saved: Sequence[str], doc: str, *,
               saved_inplace: Optional[Sequence[str]] = None, check: Optional[Check] = None,
               lays_out: Layout = layout.as_pointwise) -> LayerDef:
    """A shape-preserving activation: output = input shape, no parameters.

    ``saved`` lists what autograd keeps ("input", "output", "new", one entry
    per full-size tensor); ``saved_inplace`` the same for ``inplace: true``.
    """

    def infer(values: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
        x = inputs[0]
        if check is not None:
            check(values, x)
        kinds = saved_inplace if values.get("inplace") and saved_inplace is not None else saved
        return LayerResult((x,), args=dict(values), saved=_saved(kinds, x))

    return LayerDef(layer_type, "activation", args, infer, doc=f"torch.nn.{layer_type}: {doc}", layout=lays_out)


def _check_hardtanh(values: Mapping[str, Any], x: TensorSpec) -> None:
    if values["max_val"] <= values["min_val"]:
        raise LayerError(f"max_val ({values['max_val']}) must be greater than min_val ({values['min_val']})",
                         arg="max_val")


def _check_celu(values: Mapping[str, Any], x: TensorSpec) -> None:
    if values["alpha"] == 0:
        raise LayerError("alpha cannot be 0 for CELU (it divides by alpha)", arg="alpha")


def _check_softshrink(values: Mapping[str, Any], x: TensorSpec) -> None:
    if values["lambd"] < 0:
        raise LayerError(f"lambd must be non-negative for Softshrink, got {values['lambd']}", arg="lambd")


def _check_rrelu(values: Mapping[str, Any], x: TensorSpec) -> None:
    if values["lower"] > values["upper"]:
        raise LayerError(f"lower ({values['lower']}) must not exceed upper ({values['upper']})", arg="lower")


def _prelu_infer(values: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    count = values["num_parameters"]
    # torch's channel dim is dim 1; a 1-d tensor (batch only) counts as 1 channel.
    channels = x.shape[0] if x.shape else 1
    if count != 1 and count != channels:
        raise LayerError(f"has num_parameters {count}, but its input {format_shape(x.shape)} has {channels} "
                         f"channels (dim 1): use 1 or {channels}", arg="num_parameters", code="PL401")
    return LayerResult((x,), params={"weight": (count,)}, args=dict(values), saved=_saved(("input",), x))


def _prelu_layout(values: Mapping[str, Any], inputs: Sequence[TensorSpec], out: TensorSpec) -> TensorSpec:
    """``x`` times the slopes, viewed as [C, 1, ...] to broadcast over dim 1."""
    x = inputs[0]
    if x.strides is None:
        return out
    count = values["num_parameters"]
    weight = (count,) + (1,) * (x.rank - 2) if count != 1 else (1,)
    return layout.pointwise(out, [layout.operand(x), (weight, layout.contiguous_strides(weight))])


def _glu_layout(values: Mapping[str, Any], inputs: Sequence[TensorSpec], out: TensorSpec) -> TensorSpec:
    """An elementwise op on the two halves, which keep the input's strides."""
    x = inputs[0]
    if x.strides is None:
        return layout.with_strides(out, None)
    half = (layout.full_shape(out), x.strides)
    return layout.pointwise(out, [half, half])


def _implicit_dim(layer_type: str, x: TensorSpec) -> Tuple[int, LayerWarning]:
    """torch's deprecated choice for ``dim=None`` (``_get_softmax_dim``)."""
    rank = x.rank
    dim = 0 if rank in (0, 1, 3) else 1
    if dim == 0:
        raise LayerError(
            f"without `dim` on a {rank}-d tensor (batch included) would use torch's deprecated implicit "
            f"dim 0, the batch: it would normalise across samples; write the dim, e.g. `dim: -1`", arg="dim")
    warning = LayerWarning("PL453", f"{layer_type} without `dim`: torch picks dim {dim} for a {rank}-d tensor "
                                    f"(batch included) and warns that this is deprecated; write `dim: {dim}`",
                           arg="dim")
    return dim, warning


def _make_softmax_infer(layer_type: str):
    def infer(values: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
        x = inputs[0]
        warnings: Tuple[LayerWarning, ...] = ()
        dim = values["dim"]
        if dim is None:
            dim, warning = _implicit_dim(layer_type, x)
            warnings = (warning,)
        normalize_dim(dim, x)
        return LayerResult((x,), args=dict(values, dim=dim), warnings=warnings, saved=_saved(("output",), x))

    return infer


def _softmax2d_infer(values: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    if x.rank not in (3, 4):
        raise LayerError(f"expects a 3-d or 4-d tensor (batch included), got {x.rank}-d: "
                         f"{format_shape(x.shape)} per sample", code="PL401")
    if x.rank == 3:
        # torch reads a 3-d tensor as unbatched [C, H, W]: C would be the batch.
        raise LayerError(f"normalises over dim -3; for {format_shape(x.shape)} per sample that is the batch "
                         f"(torch reads a 3-d tensor as an unbatched [C, H, W]); give it [C, H, W] per sample",
                         code="PL401")
    return LayerResult((x,), args=dict(values), saved=_saved(("output",), x))


def _glu_infer(values: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    axis = normalize_dim(values["dim"], x)
    size = x.shape[axis]
    if size % 2:
        raise LayerError(f"halves dim {values['dim']}, which must be even, but it has size {size} "
                         f"(input {format_shape(x.shape)} per sample)", arg="dim", code="PL401")
    shape = list(x.shape)
    shape[axis] = size // 2
    return LayerResult((x.with_shape(shape),), args=dict(values), saved=_saved(("input",), x))


LAYERS = (
    _pointwise("ReLU", dict(inplace=INPLACE), ("output",), "max(0, x).", saved_inplace=("output",)),
    _pointwise("ReLU6", dict(inplace=INPLACE), ("input",), "min(max(0, x), 6).", saved_inplace=("new",)),
    _pointwise("LeakyReLU", dict(negative_slope=Arg("number", 0.01, "slope for x < 0"), inplace=INPLACE),
               ("input",), "x for x >= 0, negative_slope * x otherwise.", saved_inplace=("output",)),
    LayerDef("PReLU", "activation", {
        "num_parameters": Arg("pos_int", 1, "learnable slopes: 1, or one per channel (dim 1 of the input)"),
        "init": Arg("number", 0.25, "initial slope"),
    }, _prelu_infer, doc="torch.nn.PReLU: LeakyReLU with a learnable slope, shared or per channel.",
             layout=_prelu_layout),
    _pointwise("RReLU", dict(lower=Arg("number", 1.0 / 8, "lower bound of the random slope"),
                              upper=Arg("number", 1.0 / 3, "upper bound of the random slope"), inplace=INPLACE),
               ("new", "input"), "LeakyReLU with a random slope in training.", saved_inplace=("new", "output"),
               check=_check_rrelu, lays_out=layout.as_contiguous_unless_inplace),
    _pointwise("ELU", dict(alpha=Arg("number", 1.0, "scale of the negative part"), inplace=INPLACE),
               ("input",), "exponential linear unit.", saved_inplace=("output",)),
    _pointwise("SELU", dict(inplace=INPLACE), ("input",), "scaled ELU.", saved_inplace=("output",)),
    _pointwise("CELU", dict(alpha=Arg("number", 1.0, "alpha, not 0"), inplace=INPLACE), ("input",),
               "continuously differentiable ELU.", saved_inplace=("output",), check=_check_celu),
    _pointwise("GELU", dict(approximate=Arg("enum", "none", "tanh approximation or exact",
                                             choices=("none", "tanh"))), ("input",), "Gaussian error linear unit."),
    _pointwise("SiLU", dict(inplace=INPLACE), ("input",), "x * sigmoid(x).", saved_inplace=("new",)),
    _pointwise("Mish", dict(inplace=INPLACE), ("input",), "x * tanh(softplus(x)).", saved_inplace=("new",)),
    _pointwise("Hardswish", dict(inplace=INPLACE), ("input",), "piecewise-linear swish.", saved_inplace=("new",)),
    _pointwise("Hardsigmoid", dict(inplace=INPLACE), ("input",), "piecewise-linear sigmoid.",
               saved_inplace=("new",)),
    _pointwise("Hardtanh", dict(min_val=Arg("number", -1.0, "lower clamp"), max_val=Arg("number", 1.0, "upper clamp"),
                                 inplace=INPLACE), ("input",), "clamp to [min_val, max_val].",
               saved_inplace=("new",), check=_check_hardtanh),
    _pointwise("Sigmoid", {}, ("output",), "1 / (1 + exp(-x))."),
    _pointwise("LogSigmoid", {}, ("input", "new"), "log(sigmoid(x)).", lays_out=layout.as_contiguous_unless_inplace),
    _pointwise("Tanh", {}, ("output",), "hyperbolic tangent."),
    _pointwise("Softplus", dict(beta=Arg("number", 1.0, "beta"),
                                 threshold=Arg("number", 20.0, "linear above beta * x > threshold")),
               ("input",), "log(1 + exp(beta * x)) / beta."),
    _pointwise("Softsign", {}, ("input", "new"), "x / (1 + |x|)."),
    _pointwise("Tanhshrink", {}, ("new",), "x - tanh(x)."),
    _pointwise("Hardshrink", dict(lambd=Arg("number", 0.5, "threshold")), ("input",),
               "x where |x| > lambd, else 0."),
    _pointwise("Softshrink", dict(lambd=Arg("number", 0.5, "threshold, not negative")), ("input",),
               "shrink towards 0 by lambd.", check=_check_softshrink),
    _pointwise("Threshold", dict(threshold=Arg("number", doc="values at or below it are replaced"),
                                  value=Arg("number", doc="the replacement"), inplace=INPLACE),
               ("input",), "x if x > threshold else value.", saved_inplace=("new",)),
    LayerDef("Softmax", "activation", {"dim": Arg("opt_dim", None, "the dim to normalise (torch numbering, batch 0)")},
             _make_softmax_infer("Softmax"), doc="torch.nn.Softmax: exp(x) / sum(exp(x)) along `dim`."),
    LayerDef("LogSoftmax", "activation", {"dim": Arg("opt_dim", None, "the dim to normalise (batch is 0)")},
             _make_softmax_infer("LogSoftmax"), doc="torch.nn.LogSoftmax: log of Softmax along `dim`."),
    LayerDef("Softmin", "activation", {"dim": Arg("opt_dim", None, "the dim to normalise (batch is 0)")},
             _make_softmax_infer("Softmin"), doc="torch.nn.Softmin: Softmax of -x along `dim`."),
    LayerDef("Softmax2d", "activation", {}, _softmax2d_infer,
             doc="torch.nn.Softmax2d: Softmax over the channels of [C, H, W]."),
    LayerDef("GLU", "activation", {"dim": Arg("dim", -1, "the dim split in halves (must be even)")}, _glu_infer,
             doc="torch.nn.GLU: a * sigmoid(b) for the two halves of `dim`; that dim halves.", layout=_glu_layout),
)
