"""Training memory per device: a first, documented estimate.

peak = parameters + buffers + gradients + optimizer state + activations, where
activations are the unique tensors autograd saves for backward (each layer's
``saved`` list, shared input/output storages counted once across the network)
plus the input batch and the output, times the batch size.  Everything at once
is an upper bound: backward frees activations while gradients appear.
Sharding follows ZeRO (Rajbhandari et al., 2020): stage 1 shards optimizer
state, stage 2 also gradients, stage 3 also parameters.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Set, Tuple

from .analysis import ShapeAnalysis
from .layers.base import DTYPE_BYTES
from .training import WEIGHT_BYTES, TrainingSetup

HALF_ACTIVATIONS = ("bf16-mixed", "fp16-mixed", "bf16", "fp16")


@dataclass(frozen=True)
class MemoryEstimate:
    params: int
    gradients: int
    optimizer_state: int
    activations: int

    @property
    def peak(self) -> int:
        return self.params + self.gradients + self.optimizer_state + self.activations

    def to_dict(self) -> Dict[str, int]:
        return {"params": self.params, "gradients": self.gradients, "optimizer_state": self.optimizer_state,
                "activations": self.activations, "peak": self.peak}


def activation_bytes_per_sample(shapes: ShapeAnalysis, precision: str) -> Tuple[int, Dict[int, int]]:
    """Unique saved-for-backward bytes for one sample, and per layer."""
    seen: Set[Tuple[str, int, int]] = set()
    per_layer: Dict[int, int] = {}
    total = 0
    for info in shapes.layers:
        node = info.node
        layer_bytes = 0
        for saved in info.result.saved:
            if saved.kind == "output":
                key = ("node", node.index, saved.index)
            elif saved.kind == "input" and saved.index < len(node.sources):
                source = node.sources[saved.index]
                key = ("node", source.node, source.output) if source.node is not None else ("input", -1, 0)
            else:
                key = ("new", node.index, id(saved))
            if key in seen:
                continue
            seen.add(key)
            dtype_bytes = DTYPE_BYTES.get(saved.dtype, 4)
            if precision in HALF_ACTIVATIONS and saved.dtype == "float32":
                dtype_bytes = 2
            layer_bytes += saved.numel * dtype_bytes
        per_layer[node.index] = layer_bytes
        total += layer_bytes
    return total, per_layer


def estimate_memory(shapes: ShapeAnalysis, setup: TrainingSetup, optimizer_values: int) -> MemoryEstimate:
    weight = WEIGHT_BYTES[setup.precision]
    devices = setup.devices if setup.sharding != "none" else 1
    params = shapes.params * weight + shapes.buffers * 4
    gradients = shapes.trainable_params * weight
    state = optimizer_values * weight
    if setup.precision.endswith("-mixed"):
        # autocast keeps fp32 weights; the half copies of weights are transient
        pass
    if setup.sharding in ("zero1", "zero2", "zero3"):
        state = math.ceil(state / devices)
    if setup.sharding in ("zero2", "zero3"):
        gradients = math.ceil(gradients / devices)
    if setup.sharding == "zero3":
        params = math.ceil(params / devices)
    per_sample, _ = activation_bytes_per_sample(shapes, setup.precision)
    io_bytes = sum(t.numel * DTYPE_BYTES.get(t.dtype, 4) for t in shapes.inputs.values())
    io_bytes += shapes.output.numel * 4
    activations = setup.batch_size * (per_sample + io_bytes)
    return MemoryEstimate(params, gradients, state, activations)
