"""Precisions and the devices the memory model targets.

``fp32`` runs everything in float32.  ``bf16`` / ``fp16`` keep the weights,
gradients, optimizer state and activations in half.  ``bf16-mixed`` /
``fp16-mixed`` are ``torch.autocast``: fp32 weights, gradients and state,
while the listed operators run in half (their float inputs and weights are
cast, and the casts of weights are cached for the forward pass), a few run
in float32, and everything else runs in the dtype of its input.

The autocast lists are torch's (torch.amp documentation, "CUDA Ops that can
autocast to float16 / to float32"); the CPU's float32 list has none of the
normalisation and softmax layers, which is why the device is part of the
rule.  ``DeviceModel`` gathers every constant that differs between the CUDA
path paramlint predicts and the CPU path its tests measure.
"""
from __future__ import annotations

from typing import Optional

from ..core.record import Record
from ..model.layers.base import DTYPE_BYTES

MiB = 2**20


class Precision(Record):
    __slots__ = ("name", "weight_bytes", "half", "autocast")

    # weight_bytes: parameters, gradients and optimizer state, per value
    # half: the half dtype, None for fp32
    def __init__(self, name: str, weight_bytes: int, half: Optional[str], autocast: bool) -> None:
        self.name = name
        self.weight_bytes = weight_bytes
        self.half = half
        self.autocast = autocast

    def activation_dtype(self, declared: str) -> str:
        """The dtype of a float32 activation outside autocast's lists."""
        if declared == "float32" and self.half and not self.autocast:
            return self.half
        return declared


PRECISION_MODELS = {
    "fp32": Precision("fp32", 4, None, False),
    "bf16-mixed": Precision("bf16-mixed", 4, "bfloat16", True),
    "fp16-mixed": Precision("fp16-mixed", 4, "float16", True),
    "bf16": Precision("bf16", 2, "bfloat16", False),
    "fp16": Precision("fp16", 2, "float16", False),
}


class DeviceModel(Record):
    """What differs between devices, with the values paramlint assumes.

    ``overhead`` is a fixed amount the CUDA caching allocator serves before
    any activation (cuBLAS and cuDNN workspaces; about 65 MiB on an H100
    with torch 2.11): a documented constant, not a per-model fudge.
    ``rounding``: every allocation is rounded up to a multiple of it.
    ``bool_masks``: dropout keeps a 1-byte bool mask (CUDA's fused kernel);
    the CPU keeps a mask in the input's dtype.  ``autocast_fp32``: autocast
    runs LayerNorm, GroupNorm, softmax and the losses in float32 (CUDA).
    ``default_impl``: the optimizer implementation torch picks when the
    config names none (foreach on CUDA, a for-loop on the CPU).
    """

    __slots__ = ("name", "overhead", "rounding", "bool_masks", "autocast_fp32", "default_impl")

    def __init__(self, name: str, overhead: int, rounding: int = 512, bool_masks: bool = True,
                 autocast_fp32: bool = True, default_impl: str = "foreach") -> None:
        self.name = name
        self.overhead = overhead
        self.rounding = rounding
        self.bool_masks = bool_masks
        self.autocast_fp32 = autocast_fp32
        self.default_impl = default_impl

    def with_overhead(self, overhead: int) -> "DeviceModel":
        return DeviceModel(self.name, overhead, self.rounding, self.bool_masks, self.autocast_fp32,
                           self.default_impl)


CUDA = DeviceModel("cuda", overhead=65 * MiB)
CPU = DeviceModel("cpu", overhead=0, bool_masks=False, autocast_fp32=False, default_impl="for-loop")

# Autocast's lists, by layer type.  "lower": runs in half (inputs and
# weights cast); "fp32": runs in float32 on CUDA; "promote": the widest
# input dtype.  Every other layer runs in its input's dtype.
AUTOCAST_LOWER = frozenset({
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "Linear", "PReLU",
    "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "MultiheadAttention", "ScaledDotProductAttention",
})
AUTOCAST_FP32 = frozenset({"LayerNorm", "GroupNorm", "Softmax", "LogSoftmax", "Softmin", "Softplus", "Sum"})
AUTOCAST_PROMOTE = frozenset({"Bilinear", "Concat", "Add", "Multiply"})
# Composite modules: half inside, their output follows the residual stream.
AUTOCAST_COMPOSITE = frozenset({"TransformerEncoderLayer", "TransformerDecoderLayer", "Transformer"})
# Matmuls on slices of the input (a mixture of experts' per-expert linears): what they save and their weight
# casts are half, the output keeps the input's dtype, the input itself is not cast whole.
AUTOCAST_INSIDE = frozenset({"Experts"})
# The kinds whose weights autocast casts to half.
HALF_WEIGHTS = ("lower", "inside")


def autocast_kind(layer_type: str, device: DeviceModel) -> str:
    """``lower``, ``inside``, ``fp32``, ``promote``, ``composite`` or ``follow``."""
    if layer_type in AUTOCAST_LOWER:
        return "lower"
    if layer_type in AUTOCAST_INSIDE:
        return "inside"
    if layer_type in AUTOCAST_FP32:
        return "fp32" if device.autocast_fp32 else "follow"
    if layer_type in AUTOCAST_PROMOTE:
        return "promote"
    if layer_type in AUTOCAST_COMPOSITE:
        return "composite"
    return "follow"


def widest(dtypes: "list[str]") -> str:
    """torch's type promotion among float dtypes (bf16 with fp16 gives fp32)."""
    floats = [d for d in dtypes if d in ("float64", "float32", "bfloat16", "float16")]
    if not floats:
        return dtypes[0] if dtypes else "float32"
    for wide in ("float64", "float32"):
        if wide in floats:
            return wide
    return floats[0] if len(set(floats)) == 1 else "float32"


def dtype_bytes(dtype: str) -> int:
    return DTYPE_BYTES.get(dtype, 4)
