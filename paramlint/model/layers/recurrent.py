"""Recurrent layers: RNN, LSTM, GRU and their single-step cells.

The batch is always dimension 0 in paramlint, so the sequence layers act as
with ``batch_first=True`` (their default here) and a sample is
``[seq, features]``.  torch returns ``(output, h_n)`` (LSTM:
``(output, (h_n, c_n))``); paramlint flattens that into the outputs
``NAME`` (the output sequence), ``NAME.1`` (h_n) and, for LSTM, ``NAME.2``
(c_n).  torch keeps the batch in dimension 1 of h_n and c_n even with
``batch_first=True``; paramlint describes one sample's slice
``h_n[:, i, :]``, i.e. ``h_n.transpose(0, 1)`` per sample:
``[D * num_layers, H_out]`` with D = 2 when bidirectional.

FLOPs follow ``torch.utils.flop_counter.FlopCounterMode`` on the ``meta``
device in a training-mode forward (torch 2.13), paramlint's convention (see
docs/format.md): every layer type runs there as per-step matrix products,
counted as ``2 * gates*H * (input + H_out)`` per step, layer and direction,
plus ``2 * H * proj_size`` for the projection, whatever the dtype and bias.
(On the CPU a float32 or bfloat16 LSTM without projection runs as one fused
oneDNN kernel that FlopCounterMode does not see, and counts 0 there.)

``saved`` lists only the input: what the recurrence keeps for backward
depends on the kernel (oneDNN's workspace on the CPU, cuDNN's reserve space
on CUDA) and has not been measured on a GPU yet.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence, Tuple

from . import layout
from .base import Arg, LayerDef, LayerError, LayerResult, LayerWarning, SavedTensor, Shape, TensorSpec, check_inferred

# Gate blocks per layer: torch stacks them in weight_ih / weight_hh.
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def _sequence_args(layer_type: str) -> Dict[str, Arg]:
    args: Dict[str, Arg] = {
        "input_size": Arg("opt_pos_int", None, "features per time step; inferred from the input's last dimension"),
        "hidden_size": Arg("pos_int", doc="features in the hidden state h"),
        "num_layers": Arg("pos_int", 1, "stacked recurrent layers"),
    }
    if layer_type == "RNN":
        args["nonlinearity"] = Arg("enum", "tanh", "the non-linearity of the recurrence", ("tanh", "relu"))
    args["bias"] = Arg("bool", True, "adds the biases bias_ih and bias_hh")
    args["batch_first"] = Arg("bool", True, "must stay true: the batch is always dimension 0 in paramlint "
                                            "(torch's default is false)")
    args["dropout"] = Arg("prob", 0.0, "dropout on the outputs of every layer except the last")
    args["bidirectional"] = Arg("bool", False, "adds a reverse-direction pass per layer")
    if layer_type == "LSTM":
        args["proj_size"] = Arg("nonneg_int", 0, "projects h to this size (LSTM only); must be below hidden_size")
    return args


def _cell_args(layer_type: str) -> Dict[str, Arg]:
    args: Dict[str, Arg] = {
        "input_size": Arg("opt_pos_int", None, "input features; inferred from the input's last dimension"),
        "hidden_size": Arg("pos_int", doc="features in the hidden state h"),
        "bias": Arg("bool", True, "adds the biases bias_ih and bias_hh"),
    }
    if layer_type == "RNNCell":
        args["nonlinearity"] = Arg("enum", "tanh", "the non-linearity of the recurrence", ("tanh", "relu"))
    return args


def _float_input(layer_type: str, inputs: Sequence[TensorSpec]) -> TensorSpec:
    x = inputs[0]
    if not x.batched:
        raise LayerError(f"{layer_type} needs a batched input; a Parameter {x.describe()} has no batch dimension",
                         code="PL401")
    if not x.is_float:
        raise LayerError(f"{layer_type} needs a floating-point input, got {x.dtype}", code="PL404")
    return x


def check_batch_first(layer_type: str, args: Mapping[str, Any]) -> None:
    """``batch_first: false`` is an error: paramlint's batch is always dim 0."""
    if not args["batch_first"]:
        raise LayerError(
            f"{layer_type}: `batch_first: false` is not supported; the batch is always dimension 0 in paramlint, "
            f"so {layer_type} runs with batch_first=True (remove the key)", arg="batch_first")


def recurrent_params(layer_type: str, input_size: int, hidden_size: int, num_layers: int, bidirectional: bool,
                     bias: bool, proj_size: int = 0) -> Dict[str, Shape]:
    """torch's parameters of RNN/LSTM/GRU, in ``named_parameters`` order."""
    gate_rows = GATES[layer_type] * hidden_size
    real_hidden = proj_size or hidden_size
    directions = 2 if bidirectional else 1
    params: Dict[str, Shape] = {}
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else real_hidden * directions
        for direction in range(directions):
            suffix = f"l{layer}" + ("_reverse" if direction else "")
            params[f"weight_ih_{suffix}"] = (gate_rows, layer_input)
            params[f"weight_hh_{suffix}"] = (gate_rows, real_hidden)
            if bias:
                params[f"bias_ih_{suffix}"] = (gate_rows,)
                params[f"bias_hh_{suffix}"] = (gate_rows,)
            if proj_size:
                params[f"weight_hr_{suffix}"] = (proj_size, hidden_size)
    return params


def recurrent_flops(layer_type: str, seq: int, input_size: int, hidden_size: int, num_layers: int,
                    bidirectional: bool, proj_size: int) -> int:
    """FlopCounterMode's count on ``meta`` for one sample (see the module docstring)."""
    gate_rows = GATES[layer_type] * hidden_size
    real_hidden = proj_size or hidden_size
    directions = 2 if bidirectional else 1
    total = 0
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else real_hidden * directions
        per_step = 2 * gate_rows * (layer_input + real_hidden) + 2 * hidden_size * proj_size
        total += directions * seq * per_step
    return total


def _make_sequence_infer(layer_type: str):
    def infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
        x = _float_input(layer_type, inputs)
        if len(x.shape) == 1:
            raise LayerError(
                f"{layer_type} expects a [seq, features] input per sample, got {x.describe()}: torch would read "
                f"the batch [N, {x.shape[0]}] as one unbatched sequence of length N", code="PL401")
        if len(x.shape) != 2:
            raise LayerError(f"{layer_type} expects a [seq, features] input per sample (batch excluded), "
                             f"got {x.describe()} ({len(x.shape)}-d)", code="PL401")
        check_batch_first(layer_type, args)
        seq, features = x.shape
        input_size = check_inferred("input_size", args["input_size"], features, "its input")
        hidden, layers = args["hidden_size"], args["num_layers"]
        proj = args.get("proj_size", 0)
        if proj and proj >= hidden:
            raise LayerError(f"proj_size has to be smaller than hidden_size: {proj} >= {hidden}", arg="proj_size")
        directions = 2 if args["bidirectional"] else 1
        real_hidden = proj or hidden
        warnings: List[LayerWarning] = []
        if args["dropout"] > 0 and layers == 1:
            warnings.append(LayerWarning(
                "PL452", f"dropout {args['dropout']} has no effect with num_layers=1: {layer_type} applies it "
                f"between stacked layers only", arg="dropout"))
        # torch computes all three batch-second ([S, N, F]) and transposes them
        outputs: Tuple[TensorSpec, ...] = (
            layout.transposed(TensorSpec((seq, directions * real_hidden), x.dtype)),
            layout.transposed(TensorSpec((directions * layers, real_hidden), x.dtype)),
        )
        if layer_type == "LSTM":
            outputs += (layout.transposed(TensorSpec((directions * layers, hidden), x.dtype)),)
        params = recurrent_params(layer_type, input_size, hidden, layers, args["bidirectional"], args["bias"], proj)
        flops = recurrent_flops(layer_type, seq, input_size, hidden, layers, args["bidirectional"], proj)
        return LayerResult(outputs, params, flops=flops, args=dict(args, input_size=input_size),
                           warnings=tuple(warnings), saved=(SavedTensor("input", x.numel, x.dtype),))

    return infer


def _make_cell_infer(layer_type: str):
    gates = GATES[layer_type[:-len("Cell")]]

    def infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
        x = _float_input(layer_type, inputs)
        if len(x.shape) == 0:
            raise LayerError(f"{layer_type} expects a [features] input per sample, got a scalar: torch would read "
                             f"the batch [N] as one unbatched input of N features", code="PL401")
        if len(x.shape) != 1:
            raise LayerError(f"{layer_type} expects a [features] input per sample (batch excluded), "
                             f"got {x.describe()} ({len(x.shape)}-d)", code="PL401")
        input_size = check_inferred("input_size", args["input_size"], x.shape[0], "its input")
        hidden = args["hidden_size"]
        params: Dict[str, Shape] = {"weight_ih": (gates * hidden, input_size), "weight_hh": (gates * hidden, hidden)}
        if args["bias"]:
            params["bias_ih"] = (gates * hidden,)
            params["bias_hh"] = (gates * hidden,)
        outputs: Tuple[TensorSpec, ...] = (TensorSpec((hidden,), x.dtype),)
        if layer_type == "LSTMCell":
            outputs += (TensorSpec((hidden,), x.dtype),)
        flops = 2 * gates * hidden * (input_size + hidden)
        return LayerResult(outputs, params, flops=flops, args=dict(args, input_size=input_size),
                           saved=(SavedTensor("input", x.numel, x.dtype),))

    return infer


_SEQUENCE_DOCS = {
    "RNN": "torch.nn.RNN: an Elman RNN (tanh or relu) over [seq, features] samples. "
           "Outputs: the output sequence [seq, D*hidden_size]; NAME.1 h_n per sample [D*num_layers, hidden_size] "
           "(torch's h_n.transpose(0, 1)).",
    "LSTM": "torch.nn.LSTM: a long short-term memory RNN over [seq, features] samples. "
            "Outputs: the output sequence [seq, D*H_out] (H_out = proj_size or hidden_size); NAME.1 h_n and "
            "NAME.2 c_n per sample, [D*num_layers, H_out] and [D*num_layers, hidden_size] "
            "(torch's h_n.transpose(0, 1), c_n.transpose(0, 1)).",
    "GRU": "torch.nn.GRU: a gated recurrent unit RNN over [seq, features] samples. "
           "Outputs: the output sequence [seq, D*hidden_size]; NAME.1 h_n per sample [D*num_layers, hidden_size] "
           "(torch's h_n.transpose(0, 1)).",
}

_CELL_DOCS = {
    "RNNCell": "torch.nn.RNNCell: one Elman RNN step on a [features] sample with a zero initial state; "
               "output h' [hidden_size].",
    "LSTMCell": "torch.nn.LSTMCell: one LSTM step on a [features] sample with a zero initial state; "
                "outputs h' [hidden_size] and NAME.1 c' [hidden_size].",
    "GRUCell": "torch.nn.GRUCell: one GRU step on a [features] sample with a zero initial state; "
               "output h' [hidden_size].",
}

LAYERS = tuple(
    LayerDef(name, "recurrent", _sequence_args(name), _make_sequence_infer(name), doc=doc, layout=layout.as_inferred)
    for name, doc in _SEQUENCE_DOCS.items()
) + tuple(
    LayerDef(name, "recurrent", _cell_args(name), _make_cell_infer(name), doc=doc)
    for name, doc in _CELL_DOCS.items()
)
