"""FLOPs of a training step: the forward pass and the backward pass, per layer.

Counted as ``torch.utils.flop_counter.FlopCounterMode`` counts a real
backward on the ``meta`` device (torch 2.13, measured; paramlint's
convention, see docs/format.md): it counts only matrix products and
convolutions, and every product of the forward pass is counted again for
each of its two operands that needs a gradient.  So a Linear's backward is
its forward for the input's gradient plus its forward for the weight's, 2x
in the middle of a network, 1x for a first layer (its input needs none) or a
frozen one.  A convolution's weight gradient counts ``groups`` times its
forward (FlopCounterMode's formula).  A recurrent layer's first step
multiplies the zero initial state, which needs no gradient.  Attention's two
products count per operand too (attention_backward.py).  On the CPU the
fused LSTM and flash-attention kernels count 0 both ways; paramlint follows
``meta``.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from ..core.record import Record
from ..model.analysis import LayerInfo, ShapeAnalysis
from ..model.graph import Source
from ..model.layers.attention import sdpa_flop_parts
from .attention_backward import block_backward, core_backward, mha_backward, transformer_backward
from .plan import useful_layers
from .recurrent import GATES

CONVS = frozenset({"Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"})
WEIGHTED = frozenset({"Linear", "Bilinear", "PReLU"})
COMPOSITES = frozenset({"MultiheadAttention", "TransformerEncoderLayer", "TransformerDecoderLayer", "Transformer"})


class StepFlops(Record):
    """Per sample: ``forward`` and ``backward`` totals and per layer."""

    __slots__ = ("forward", "backward", "layer_forward", "layer_backward")

    def __init__(self, forward: int, backward: int, layer_forward: tuple, layer_backward: tuple) -> None:
        self.forward = forward
        self.backward = backward
        self.layer_forward = layer_forward
        self.layer_backward = layer_backward

    def per_step(self, batch: int) -> int:
        return batch * (self.forward + self.backward)


def step_flops(shapes: ShapeAnalysis, output: Optional[Source] = None) -> StepFlops:
    """Forward and backward FLOPs per sample, for every layer."""
    output = output if output is not None else Source(len(shapes.layers) - 1)
    forward, backward, _, _ = _per_layer(shapes, output)
    return StepFlops(sum(forward), sum(backward), forward, backward)


def stacked_step_flops(shapes: ShapeAnalysis, output: Source, start: int, size: int, stored: int,
                       count: int) -> Optional[StepFlops]:
    """:func:`step_flops` of the model whose ``shapes`` hold ``stored`` (at least 4) of the ``count`` equal
    copies of a stack (``size`` nodes from ``start``), read by the layers after it through its last copy
    only; None when the two middle copies differ.

    Which outputs need a gradient runs forward, copy by copy, and which layers the output uses runs
    backward: once copies 1 and 2 agree on both (and so on every count), every middle copy of the model
    is copy 1 again, its last copy the stored last one."""
    forward, backward, needs, useful = _per_layer(shapes, output)
    one, two = slice(start + size, start + 2 * size), slice(start + 2 * size, start + 3 * size)
    if stored < 4 or any(values[one] != values[two] for values in (forward, backward, needs, useful)):
        return None
    tail = start + (stored - 1) * size

    def stacked(values: tuple) -> tuple:
        return values[:start + size] + values[one] * (count - 2) + values[tail:]

    forward, backward = stacked(forward), stacked(backward)
    return StepFlops(sum(forward), sum(backward), forward, backward)


def _per_layer(shapes: ShapeAnalysis, output: Source) -> Tuple[tuple, tuple, tuple, tuple]:
    """Forward and backward FLOPs per layer, and per layer whether its outputs need a gradient and whether
    the output uses it."""
    useful = useful_layers(shapes, output)
    needs = [False] * len(shapes.layers)  # every output of a node needs a gradient, or none does
    backward: List[int] = []
    known: dict = {}  # the copies of a repeat share their analysis (model.copies): one count for all of them
    for info in shapes.layers:
        node = info.node
        trainable = node.trainable and bool(info.result.params)
        inputs = [s.node is not None and needs[s.node] for s in node.sources]
        out_needs = needs[node.index] = trainable or any(inputs)
        if not (out_needs and useful[node.index]):
            backward.append(0)
            continue
        key = (id(info.result), trainable, tuple(inputs))
        flops = known.get(key)
        if flops is None:
            flops = known[key] = layer_backward(info, inputs, trainable)
        backward.append(flops)
    forward = tuple(info.result.flops for info in shapes.layers)
    return forward, tuple(backward), tuple(needs), tuple(useful)


def layer_backward(info: LayerInfo, input_grads: Sequence[bool], trainable: bool) -> int:
    """The backward FLOPs of one layer, per sample (see the module docstring)."""
    flops = info.result.flops
    if not flops:
        return 0
    layer_type = info.node.type
    grad_in = bool(input_grads and input_grads[0])
    args = info.result.args or info.node.args
    if layer_type in CONVS:
        return flops * grad_in + flops * args.get("groups", 1) * trainable
    if layer_type in ("RNN", "GRU", "LSTM"):
        return _sequence(info, grad_in, trainable)
    if layer_type in ("RNNCell", "GRUCell", "LSTMCell"):
        gates = GATES[layer_type[:-len("Cell")]]
        hidden, features = args["hidden_size"], info.inputs[0].shape[0]
        input_part = 2 * gates * hidden * features
        return input_part * (grad_in + trainable) + (flops - input_part) * trainable
    if layer_type == "ScaledDotProductAttention":
        q, k, v, *mask = (bool(g) for g in input_grads)  # a 4th input would be attn_mask
        return core_backward(*sdpa_flop_parts(info.inputs, args["enable_gqa"]), q, k, v, any(mask))
    if layer_type == "Experts":  # weight grads; the down projection's input grad; the gate/up one's if x needs it
        return flops * trainable + flops // 3 * (trainable or grad_in) + 2 * flops // 3 * grad_in
    if layer_type in COMPOSITES:
        return _composite(info, input_grads, trainable)
    if layer_type in WEIGHTED or trainable:
        return flops * (grad_in + trainable)
    return flops * sum(bool(g) for g in input_grads)


def _composite(info: LayerInfo, input_grads: Sequence[bool], trainable: bool) -> int:
    """MultiheadAttention and the Transformer layers, part by part."""
    args = info.result.args or info.node.args
    layer_type = info.node.type
    lengths = [spec.shape[0] for spec in info.inputs]
    grads = [bool(g) for g in input_grads]
    if layer_type == "MultiheadAttention":
        embed = args["embed_dim"]
        key_len = lengths[1] if len(lengths) > 1 else lengths[0]
        attended = key_len + int(args["add_bias_kv"]) + int(args["add_zero_attn"])
        qkv = (grads + grads[-1:] * 2)[:3]  # [q], [q, kv] or [q, k, v]
        return mha_backward(lengths[0], key_len, embed, args["kdim"] or embed, args["vdim"] or embed, attended,
                            qkv, trainable)
    d_model, feedforward, norm_first = args["d_model"], args["dim_feedforward"], args["norm_first"]
    if layer_type == "TransformerEncoderLayer":
        return block_backward(lengths[0], None, d_model, feedforward, norm_first, grads[0], False, trainable)
    if layer_type == "TransformerDecoderLayer":
        return block_backward(lengths[0], lengths[1], d_model, feedforward, norm_first, grads[0], grads[1],
                              trainable)
    return transformer_backward(lengths[0], lengths[1], d_model, feedforward, norm_first,
                                args["num_encoder_layers"], args["num_decoder_layers"], grads, trainable)


def _sequence(info: LayerInfo, grad_in: bool, trainable: bool) -> int:
    """Each layer's input projection for every step, then the hidden
    products step by step; the first step's state is the zero h0."""
    args = info.result.args or info.node.args
    seq, features = info.inputs[0].shape
    hidden, layers = args["hidden_size"], args["num_layers"]
    proj = args.get("proj_size", 0)
    real = proj or hidden
    directions = 2 if args["bidirectional"] else 1
    rows = GATES[info.node.type] * hidden
    total = 0
    for layer in range(layers):
        width = features if layer == 0 else real * directions
        inputs_need = grad_in if layer == 0 else True
        input_part = 2 * rows * width * seq
        step = 2 * rows * real
        total += directions * (input_part * (inputs_need + trainable) + step * trainable
                               + step * (seq - 1) * (1 + trainable))
        if proj:
            total += directions * seq * 2 * hidden * proj * (1 + trainable)
    return total
