"""What the recurrent layers save for backward, by device.

The kernels differ by device, and so does what they keep:

- **CUDA (cuDNN)**, what paramlint predicts: the input (a contiguous
  [seq, N, features] copy of a batch-first input longer than one step), the
  zero initial states, the output sequence and cuDNN's reserve space, which
  holds every gate activation and state of every step.  Its size is not
  published; paramlint estimates it as layers x directions x seq x hidden x
  (gates + 2) values (LSTM: 4 gates, GRU: 3, RNN: 1) in the compute dtype.
  Not measured (no GPU was available): documented in docs/memory.md.
- **CPU** (measured with saved-tensor hooks, torch 2.13): an LSTM without
  projections runs oneDNN, which keeps the layer input, the zero states, each
  layer's and direction's output, h_n and c_n, and a workspace whose size is
  oneDNN's (page-aligned, not modelled: the CPU tests leave it out).  RNN,
  GRU and the projected LSTM run step by step and keep each step's states
  and gates.  The cells keep their input and zero state, plus gates.

Counts are per sample, in the input's dtype, one SavedTensor per storage.
"""
from __future__ import annotations

from typing import Any, List, Mapping

from ..model.layers.base import SavedTensor, TensorSpec

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
RECURRENT = frozenset({"RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"})


def recurrent_saved(layer_type: str, args: Mapping[str, Any], x: TensorSpec, device: str) -> List[SavedTensor]:
    if layer_type.endswith("Cell"):
        return _cell(layer_type, args, x, device)
    if device == "cuda":
        return _cudnn(layer_type, args, x)
    return _cpu(layer_type, args, x)


def _sizes(args: Mapping[str, Any], x: TensorSpec):
    seq, features = x.shape
    hidden = args["hidden_size"]
    real = args.get("proj_size", 0) or hidden
    directions = 2 if args["bidirectional"] else 1
    return seq, features, hidden, real, directions, args["num_layers"]


def _new(numel: int, dtype: str, copies: int = 1) -> SavedTensor:
    return SavedTensor("new", numel, dtype, copies=copies)


def _layer_input(seq: int, features: int, dtype: str, copies: int) -> List[SavedTensor]:
    """A batch-first input is read as [seq, N, features]: contiguous (no copy) only for one step."""
    if seq == 1:
        return [SavedTensor("input", seq * features, dtype)]
    return [_new(seq * features, dtype) for _ in range(copies)]


def _cudnn(layer_type: str, args: Mapping[str, Any], x: TensorSpec) -> List[SavedTensor]:
    seq, features, hidden, real, directions, layers = _sizes(args, x)
    dtype = x.dtype
    saved = _layer_input(seq, features, dtype, 1)
    saved.append(_new(layers * directions * real, dtype))  # h0
    if layer_type == "LSTM":
        saved.append(_new(layers * directions * hidden, dtype))  # c0
    saved.append(SavedTensor("output", seq * directions * real, dtype))
    saved.append(_new(layers * directions * seq * hidden * (GATES[layer_type] + 2), dtype))  # reserve space
    return saved


def _cpu(layer_type: str, args: Mapping[str, Any], x: TensorSpec) -> List[SavedTensor]:
    seq, features, hidden, real, directions, layers = _sizes(args, x)
    dtype = x.dtype
    dropout = args["dropout"] if layers > 1 else 0
    onednn = layer_type == "LSTM" and not args.get("proj_size", 0) and dtype == "float32"
    saved: List[SavedTensor] = []
    if onednn:
        saved += _layer_input(seq, features, dtype, 1)
        saved += [_new(layers * directions * hidden, dtype), _new(layers * directions * hidden, dtype)]
    else:
        saved += _layer_input(seq, features, dtype, directions)
        saved.append(_new(layers * directions * real, dtype))
        if layer_type == "LSTM":
            saved.append(_new(layers * directions * hidden, dtype))
    for layer in range(layers):
        last = layer == layers - 1
        if layer:
            width = seq * directions * real
            if dropout:
                saved += [_new(width, dtype), _new(width, dtype)]  # the mask and the dropped input
            elif not (onednn and directions == 1):
                saved.append(_new(width, dtype))  # the stacked outputs of the layer below
        for _ in range(directions):
            if onednn:
                kind = "output" if last and directions == 1 else "new"
                saved += [SavedTensor(kind, seq * hidden, dtype), _new(hidden, dtype), _new(hidden, dtype)]
            # per time step, counted (``copies``) rather than listed: a million steps cost one record each
            elif layer_type == "RNN":
                saved.append(_new(hidden, dtype, seq))
            elif layer_type == "GRU":  # per step: 3h gates and three h; between steps one more h
                saved += [_new(3 * hidden, dtype, seq), _new(hidden, dtype, 3 * seq + seq - 1)]
            else:  # a projected (or non-fp32) LSTM: per step 4h gates, two h and the (projected) output
                saved += [_new(4 * hidden, dtype, seq), _new(hidden, dtype, 2 * seq), _new(real, dtype, seq)]
    return saved


def _cell(layer_type: str, args: Mapping[str, Any], x: TensorSpec, device: str) -> List[SavedTensor]:
    hidden, dtype = args["hidden_size"], x.dtype
    saved = [SavedTensor("input", x.numel, dtype), _new(hidden, dtype)]  # the input and the zero state
    if layer_type == "RNNCell":
        return saved + [SavedTensor("output", hidden, dtype)]
    if layer_type == "LSTMCell":
        return saved + [_new(4 * hidden, dtype), _new(hidden, dtype)]  # gates, the new cell state
    if device == "cuda":
        return saved + [_new(5 * hidden, dtype)]  # the fused kernel's workspace
    return saved + [_new(3 * hidden, dtype)] + [_new(hidden, dtype) for _ in range(3)]
