"""Optimizers, precisions and sharding: what training stores per parameter."""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ..core.record import Record
from .finetune import read_lora
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


# Temporaries of ``step()``: (k_sum, k_max) means k_sum times all parameter
# bytes plus k_max times the largest parameter tensor, by implementation.
Temporaries = Callable[[Mapping[str, Any], str], Tuple[float, float]]


def _fixed(loop: float, foreach: float) -> Temporaries:
    return lambda options, impl: (0.0, 0.0) if impl == "fused" else \
        ((foreach, 0.0) if impl == "foreach" else (0.0, loop))


def _sgd_temporaries(options: Mapping[str, Any], impl: str) -> Tuple[float, float]:
    decay = bool(options.get("weight_decay", 0))
    nesterov = bool(options.get("nesterov", False)) and bool(options.get("momentum", 0))
    if impl == "fused":
        return 0.0, 0.0
    if impl == "foreach":
        return (1.0 if decay else 0.0), 0.0
    return 0.0, float(decay + nesterov)


def _adam_temporaries(decoupled: bool) -> Temporaries:
    def temporaries(options: Mapping[str, Any], impl: str) -> Tuple[float, float]:
        if impl == "fused":
            return 0.0, 0.0
        if impl == "foreach":
            return 1.0, 0.0
        coupled_decay = not decoupled and bool(options.get("weight_decay", 0))
        return 0.0, 2.0 + coupled_decay
    return temporaries


class Optimizer(Record):
    """An optimizer: values it stores per parameter tensor, and its docs.

    ``temporaries`` gives what ``step()`` allocates for a moment (measured
    with live storages on torch 2.13 for the torch optimizers; from the
    published implementations for Lion and the 8-bit Adams).  ``impls`` are
    the implementations it has; ``step_scalar``: the 0-d tensors torch keeps
    per parameter (``step``; NAdam's ``mu_product``; ASGD's ``eta`` and
    ``mu``), on the device only when fused or capturable.  ``shared_state``:
    tensors allocated once for all parameters (bitsandbytes' quantile maps);
    ``paged``: buffers of parameters of at least 1e5 values live in CUDA
    managed memory (bitsandbytes' paged optimizers), outside torch's
    allocator.
    """

    __slots__ = ("name", "state_values", "doc", "temporaries", "impls", "step_scalar", "state_bytes", "shared_state",
                 "paged")

    def __init__(self, name: str, state_values: Callable[[Mapping[str, Any], Shape], int], doc: str,
                 temporaries: Temporaries = _fixed(0.0, 0.0), impls: Tuple[str, ...] = ("for-loop", "foreach"),
                 step_scalar: int = 0,
                 state_bytes: Optional[Callable[[Mapping[str, Any], Shape, int], List[int]]] = None,
                 shared_state: Optional[Callable[[Mapping[str, Any], Sequence[Shape]], List[int]]] = None,
                 paged: bool = False) -> None:
        self.name = name
        self.state_values = state_values
        self.doc = doc
        self.temporaries = temporaries
        self.impls = impls
        self.step_scalar = step_scalar
        self.state_bytes = state_bytes
        self.shared_state = shared_state
        self.paged = paged


BNB_BLOCK = 256  # bitsandbytes' blockwise optimizer state
BNB_PAGED_MIN = 100_000  # get_state_buffer pages buffers of at least 1e5 values (on CUDA)


def _bnb_states(states: int, bits: int) -> Callable[[Mapping[str, Any], Shape, int], List[int]]:
    """bitsandbytes' Optimizer1State/Optimizer2State.init_state: ``states``
    uint8 buffers of the parameter's size and one float32 absmax per block of
    256 each; float32 buffers instead for 32-bit optimizers and for tensors
    under ``min_8bit_size`` (4,096) values.  ``step`` is a Python int, and the
    quantile maps are shared by every tensor (``shared_state``)."""
    def state_bytes(options: Mapping[str, Any], shape: Shape, weight_bytes: int) -> List[int]:
        numel = math.prod(shape)
        if bits == 32 or numel < int(options.get("min_8bit_size", 4096)):
            return [4 * numel] * states
        blocks = -(-numel // BNB_BLOCK)
        return [numel] * states + [4 * blocks] * states
    return state_bytes


def _bnb_qmaps(states: int) -> Callable[[Mapping[str, Any], Sequence[Shape]], List[int]]:
    """The 256-entry float32 quantile maps (qmap1 signed, qmap2 unsigned for
    two states) that the 8-bit buffers share, once any tensor is 8-bit."""
    def shared(options: Mapping[str, Any], shapes: Sequence[Shape]) -> List[int]:
        minimum = int(options.get("min_8bit_size", 4096))
        return [256 * 4] * states if any(math.prod(s) >= minimum for s in shapes) else []
    return shared


OPTIMIZERS: Dict[str, Optimizer] = {o.name: o for o in (
    Optimizer("SGD", _sgd, "momentum_buffer with momentum > 0, else nothing",
              _sgd_temporaries, ("for-loop", "foreach", "fused")),
    Optimizer("Adam", _adam, "exp_avg and exp_avg_sq; max_exp_avg_sq too with amsgrad",
              _adam_temporaries(False), ("for-loop", "foreach", "fused"), 1),
    Optimizer("AdamW", _adam, "as Adam", _adam_temporaries(True), ("for-loop", "foreach", "fused"), 1),
    Optimizer("Adamax", _per_element(2), "exp_avg and exp_inf", _fixed(1, 1), step_scalar=1),
    Optimizer("RAdam", _per_element(2), "exp_avg and exp_avg_sq", _fixed(2, 1), step_scalar=1),
    Optimizer("NAdam", _per_element(2), "exp_avg and exp_avg_sq", _fixed(2, 1), step_scalar=2),
    Optimizer("Adadelta", _per_element(2), "square_avg and acc_delta", _fixed(2, 2), step_scalar=1),
    Optimizer("Adagrad", _per_element(1), "sum of squared gradients", _fixed(1, 2),
              ("for-loop", "foreach", "fused"), 1),
    Optimizer("RMSprop", _rmsprop, "square_avg; +momentum_buffer with momentum; +grad_avg when centered",
              _fixed(1, 1), step_scalar=1),
    Optimizer("Rprop", _per_element(2), "prev and step_size",
              lambda options, impl: (1.0, 1.25) if impl == "foreach" else (0.0, 3.0), step_scalar=1),
    Optimizer("ASGD", _per_element(1), "ax, the averaged parameters", _fixed(0, 1), step_scalar=3),
    Optimizer("Lion", _per_element(1), "exp_avg (lion-pytorch; not part of torch.optim)", _fixed(2, 2),
              ("for-loop",)),
    Optimizer("Adafactor", _adafactor, "row and column second-moment statistics (R + C for an R x C matrix)",
              _fixed(1, 1), step_scalar=1),
    Optimizer("Adam8bit", _per_element(2), "bitsandbytes: exp_avg and exp_avg_sq in 8 bits, blockwise",
              impls=("fused",), state_bytes=_bnb_states(2, 8), shared_state=_bnb_qmaps(2)),
    Optimizer("AdamW8bit", _per_element(2), "as Adam8bit", impls=("fused",), state_bytes=_bnb_states(2, 8),
              shared_state=_bnb_qmaps(2)),
    Optimizer("PagedAdamW8bit", _per_element(2), "as Adam8bit, its large buffers in CUDA managed (paged) memory",
              impls=("fused",), state_bytes=_bnb_states(2, 8), shared_state=_bnb_qmaps(2), paged=True),
    Optimizer("PagedAdamW", _per_element(2), "bitsandbytes: float32 exp_avg and exp_avg_sq, large ones paged",
              impls=("fused",), state_bytes=_bnb_states(2, 32), paged=True),
    Optimizer("Lion8bit", _per_element(1), "bitsandbytes: exp_avg in 8 bits, blockwise", impls=("fused",),
              state_bytes=_bnb_states(1, 8), shared_state=_bnb_qmaps(1)),
)}


# Each optimizer's arguments and their JSON types (torch 2.13's torch.optim signatures, bitsandbytes' 8-bit
# Adams, lion-pytorch's Lion), so that the schema refuses what the optimizer would refuse or read otherwise:
# an unknown argument, or a string where a number or a boolean goes (``amsgrad: "false"`` is true in Python).
# "flag": true, false or null (torch's None: decide by device); "pair": two numbers; "eps2": [null or number,
# number] (Adafactor's eps).
_ADAM_LIKE = {"lr": "number", "betas": "pair", "eps": "number", "weight_decay": "number", "foreach": "flag",
              "maximize": "boolean", "capturable": "boolean", "differentiable": "boolean"}
OPTIMIZER_OPTIONS: Dict[str, Dict[str, str]] = {
    "SGD": {"lr": "number", "momentum": "number", "dampening": "number", "weight_decay": "number",
            "nesterov": "boolean", "maximize": "boolean", "foreach": "flag", "differentiable": "boolean",
            "fused": "flag"},
    "Adam": {**_ADAM_LIKE, "amsgrad": "boolean", "fused": "flag", "decoupled_weight_decay": "boolean"},
    "AdamW": {**_ADAM_LIKE, "amsgrad": "boolean", "fused": "flag"},
    "Adamax": dict(_ADAM_LIKE),
    "RAdam": {**_ADAM_LIKE, "decoupled_weight_decay": "boolean"},
    "NAdam": {**_ADAM_LIKE, "momentum_decay": "number", "decoupled_weight_decay": "boolean"},
    "Adadelta": {"lr": "number", "rho": "number", "eps": "number", "weight_decay": "number", "foreach": "flag",
                 "capturable": "boolean", "maximize": "boolean", "differentiable": "boolean"},
    "Adagrad": {"lr": "number", "lr_decay": "number", "weight_decay": "number", "initial_accumulator_value": "number",
                "eps": "number", "foreach": "flag", "maximize": "boolean", "differentiable": "boolean",
                "fused": "flag"},
    "RMSprop": {"lr": "number", "alpha": "number", "eps": "number", "weight_decay": "number", "momentum": "number",
                "centered": "boolean", "capturable": "boolean", "foreach": "flag", "maximize": "boolean",
                "differentiable": "boolean"},
    "Rprop": {"lr": "number", "etas": "pair", "step_sizes": "pair", "capturable": "boolean", "foreach": "flag",
              "maximize": "boolean", "differentiable": "boolean"},
    "ASGD": {"lr": "number", "lambd": "number", "alpha": "number", "t0": "number", "weight_decay": "number",
             "foreach": "flag", "maximize": "boolean", "differentiable": "boolean", "capturable": "boolean"},
    "Lion": {"lr": "number", "betas": "pair", "weight_decay": "number", "use_triton": "boolean",
             "decoupled_weight_decay": "boolean"},
    "Adafactor": {"lr": "number", "beta2_decay": "number", "eps": "eps2", "d": "number", "weight_decay": "number",
                  "foreach": "flag", "maximize": "boolean"},
    "Adam8bit": {"lr": "number", "betas": "pair", "eps": "number", "weight_decay": "number", "amsgrad": "boolean",
                 "optim_bits": "integer", "min_8bit_size": "integer", "is_paged": "boolean"},
}
OPTIMIZER_OPTIONS["AdamW8bit"] = dict(OPTIMIZER_OPTIONS["Adam8bit"])
# bitsandbytes' paged optimizers take no is_paged (they are), Lion8bit no eps or amsgrad (0.50.2's signatures)
OPTIMIZER_OPTIONS["PagedAdamW8bit"] = {k: v for k, v in OPTIMIZER_OPTIONS["Adam8bit"].items() if k != "is_paged"}
OPTIMIZER_OPTIONS["PagedAdamW"] = dict(OPTIMIZER_OPTIONS["PagedAdamW8bit"])
OPTIMIZER_OPTIONS["Lion8bit"] = {"lr": "number", "betas": "pair", "weight_decay": "number", "min_8bit_size": "integer",
                                 "is_paged": "boolean"}

# The losses the memory model knows (memory.steps.LOSSES has what each keeps; a test checks they agree).
LOSSES = ("CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "BCEWithLogitsLoss",
          "KLDivLoss")


class TrainingSetup(Record):
    """``training``.  ``lora``: peft's adapters (model.finetune.LoraSettings);
    ``quantization``: the BitsAndBytesConfig fields as written;
    ``gradient_accumulation_steps``: micro-batches per optimizer step
    (``batch_size`` is the micro-batch); ``base_dtype``: the dtype the frozen
    pretrained weights are loaded in (transformers' ``dtype``).
    ``defaulted``: which of ``batch_size`` and ``optimizer`` the config left
    out (their defaults, batch 1 and SGD, apply), so that the figures they
    shape can say so."""

    __slots__ = ("batch_size", "optimizer", "optimizer_options", "precision", "devices", "sharding", "loss",
                 "lora", "quantization", "gradient_accumulation_steps", "base_dtype", "defaulted")

    def __init__(self, batch_size: int, optimizer: str, optimizer_options: Mapping[str, Any], precision: str,
                 devices: int, sharding: str, loss: str = "CrossEntropyLoss", lora: Any = None,
                 quantization: Optional[Mapping[str, Any]] = None, gradient_accumulation_steps: int = 1,
                 base_dtype: Optional[str] = None, defaulted: Tuple[str, ...] = ()) -> None:
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.optimizer_options = optimizer_options
        self.precision = precision
        self.devices = devices
        self.sharding = sharding
        self.loss = loss
        self.lora = lora
        self.quantization = quantization
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.base_dtype = base_dtype
        self.defaulted = defaulted

    @property
    def effective_batch(self) -> int:
        """Samples per optimizer step over all devices."""
        return self.batch_size * self.gradient_accumulation_steps * self.devices

    def defaults_note(self) -> str:
        """``batch 1, SGD (defaults)``, ``batch 1 (default)`` or ``""``: the defaults the figures rest on."""
        parts = [f"batch {self.batch_size}"] * ("batch_size" in self.defaulted) + \
            [self.optimizer] * ("optimizer" in self.defaulted)
        if not parts:
            return ""
        return ", ".join(parts) + (" (defaults)" if len(parts) > 1 else " (default)")


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
        loss=section.get("loss", "CrossEntropyLoss"),
        defaulted=tuple(key for key in ("batch_size", "optimizer") if key not in section),
        lora=read_lora(section.get("lora")),
        quantization=section.get("quantization"),
        gradient_accumulation_steps=section.get("gradient_accumulation_steps", 1),
        base_dtype=section.get("base_dtype"),
    )


def optimizer_state_values(setup: TrainingSetup, trainable_shapes: Sequence[Shape]) -> int:
    """How many values the optimizer stores for these trainable tensors."""
    optimizer = OPTIMIZERS[setup.optimizer]
    return sum(optimizer.state_values(setup.optimizer_options, shape) for shape in trainable_shapes)


def describe_optimizer(setup: TrainingSetup) -> Tuple[str, str]:
    options = ", ".join(f"{k}={v}" for k, v in setup.optimizer_options.items())
    return (f"{setup.optimizer}({options})" if options else setup.optimizer), OPTIMIZERS[setup.optimizer].doc


def optimizer_impl(setup: TrainingSetup, default: str) -> str:
    """``for-loop``, ``foreach`` or ``fused``: what the options ask for, else
    torch's default on the device (foreach where the optimizer has one)."""
    optimizer = OPTIMIZERS[setup.optimizer]
    options = setup.optimizer_options
    if options.get("fused") and "fused" in optimizer.impls:
        return "fused"
    if options.get("foreach") is False:
        return "for-loop" if "for-loop" in optimizer.impls else optimizer.impls[0]
    if options.get("foreach") and "foreach" in optimizer.impls:
        return "foreach"
    return default if default in optimizer.impls else optimizer.impls[0]


def state_tensor_bytes(setup: TrainingSetup, shape: Shape, weight_bytes: int) -> List[int]:
    """The optimizer state tensors of one parameter tensor, in bytes each (before rounding)."""
    optimizer = OPTIMIZERS[setup.optimizer]
    if optimizer.state_bytes is not None:
        return optimizer.state_bytes(setup.optimizer_options, shape, weight_bytes)
    values = optimizer.state_values(setup.optimizer_options, shape)
    numel = math.prod(shape)
    if not values:
        return []
    if setup.optimizer == "Adafactor" and len(shape) >= 2:
        return [weight_bytes * numel // shape[-1], weight_bytes * numel // shape[-2]]
    full, rest = divmod(values, numel) if numel else (0, values)
    return [weight_bytes * numel] * full + ([weight_bytes * rest] if rest else [])


def step_temporaries(setup: TrainingSetup, impl: str) -> Tuple[float, float]:
    """(k_sum, k_max) of ``Optimizer.temporaries`` for this setup."""
    return OPTIMIZERS[setup.optimizer].temporaries(setup.optimizer_options, impl)


def shared_state_bytes(setup: TrainingSetup, trainable_shapes: Sequence[Shape]) -> List[int]:
    """The optimizer's tensors shared by all parameters (bitsandbytes' quantile maps), in bytes."""
    shared = OPTIMIZERS[setup.optimizer].shared_state
    return shared(setup.optimizer_options, trainable_shapes) if shared is not None and trainable_shapes else []


def is_paged(setup: TrainingSetup, shape: Shape, size: int) -> bool:
    """Whether a state buffer of this parameter lives in CUDA managed memory
    (a paged bitsandbytes optimizer pages the buffers the size of a parameter
    of at least 1e5 values; absmax stays on the device)."""
    numel = math.prod(shape)
    return OPTIMIZERS[setup.optimizer].paged and numel >= BNB_PAGED_MIN and size >= numel
