"""Optimizers, precisions and sharding: what training stores per parameter."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

from .layers.base import Shape

PRECISIONS = ("fp32", "bf16-mixed", "fp16-mixed", "bf16", "fp16")
SHARDINGS = ("none", "zero1", "zero2", "zero3")

# Bytes per element of the weights (and their gradients) under each precision.
WEIGHT_BYTES = {"fp32": 4, "bf16-mixed": 4, "fp16-mixed": 4, "bf16": 2, "fp16": 2}


def _per_element(values: int) -> Callable[[Mapping[str, Any], Shape], int]:
    return lambda options, shape: values * math.prod(shape)


def _sgd(options: Mapping[str, Any], shape: Shape) -> int:
    return math.prod(shape) if options.get("momentum", 0) else 0


def _adam(options: Mapping[str, Any], shape: Shape) -> int:
    return (3 if options.get("amsgrad", False) else 2) * math.prod(shape)


def _rmsprop(options: Mapping[str, Any], shape: Shape) -> int:
    per = 1 + (1 if options.get("momentum", 0) else 0) + (1 if options.get("centered", False) else 0)
    return per * math.prod(shape)


def _adafactor(options: Mapping[str, Any], shape: Shape) -> int:
    # torch.optim.Adafactor factors the last two dims: a row and a column
    # statistic for matrices (R + C values for R x C), the full second moment
    # for vectors.
    if len(shape) < 2:
        return math.prod(shape)
    numel = math.prod(shape)
    return numel // shape[-1] + numel // shape[-2]


@dataclass(frozen=True)
class Optimizer:
    """An optimizer: values it stores per parameter tensor, and its docs."""

    name: str
    state_values: Callable[[Mapping[str, Any], Shape], int]
    doc: str


OPTIMIZERS: Dict[str, Optimizer] = {o.name: o for o in (
    Optimizer("SGD", _sgd, "momentum buffer (1 per parameter) when momentum > 0, else nothing"),
    Optimizer("Adam", _adam, "exp_avg and exp_avg_sq (2 per parameter), max_exp_avg_sq too with amsgrad (3)"),
    Optimizer("AdamW", _adam, "as Adam"),
    Optimizer("Adamax", _per_element(2), "exp_avg and exp_inf"),
    Optimizer("RAdam", _per_element(2), "exp_avg and exp_avg_sq"),
    Optimizer("NAdam", _per_element(2), "exp_avg and exp_avg_sq"),
    Optimizer("Adadelta", _per_element(2), "square_avg and acc_delta"),
    Optimizer("Adagrad", _per_element(1), "sum of squared gradients"),
    Optimizer("RMSprop", _rmsprop, "square_avg; +momentum_buffer with momentum; +grad_avg when centered"),
    Optimizer("Rprop", _per_element(2), "prev and step_size"),
    Optimizer("ASGD", _per_element(1), "ax, the averaged parameters"),
    Optimizer("Lion", _per_element(1), "exp_avg"),
    Optimizer("Adafactor", _adafactor, "row and column second-moment statistics (R + C for an R x C matrix)"),
)}


@dataclass(frozen=True)
class TrainingSetup:
    batch_size: int
    optimizer: str
    optimizer_options: Mapping[str, Any]
    precision: str
    devices: int
    sharding: str


def read_training(section: Optional[Mapping[str, Any]]) -> TrainingSetup:
    """Defaults for everything not declared (the schema has checked types)."""
    section = section or {}
    optimizer = section.get("optimizer", "SGD")
    if isinstance(optimizer, Mapping):
        name, options = optimizer["type"], {k: v for k, v in optimizer.items() if k != "type"}
    else:
        name, options = optimizer, {}
    return TrainingSetup(
        batch_size=section.get("batch_size", 1),
        optimizer=name,
        optimizer_options=options,
        precision=section.get("precision", "fp32"),
        devices=section.get("devices", 1),
        sharding=section.get("sharding", "none"),
    )


def optimizer_state_values(setup: TrainingSetup, trainable_shapes: Sequence[Shape]) -> int:
    """How many values the optimizer stores for these trainable tensors."""
    optimizer = OPTIMIZERS[setup.optimizer]
    return sum(optimizer.state_values(setup.optimizer_options, shape) for shape in trainable_shapes)


def describe_optimizer(setup: TrainingSetup) -> Tuple[str, str]:
    options = ", ".join(f"{k}={v}" for k, v in setup.optimizer_options.items())
    return (f"{setup.optimizer}({options})" if options else setup.optimizer), OPTIMIZERS[setup.optimizer].doc
