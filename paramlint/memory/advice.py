"""What would bring a training step under a memory budget, with numbers.

Each remedy is simulated, not guessed: the largest batch size that fits
(``fit``), activation checkpointing on every block use, a leaner optimizer,
bf16 autocast, and ZeRO-3 over more devices.  Only run when a memory budget
fails (each remedy re-plans the model once).
"""
from __future__ import annotations

from typing import Callable, List, Optional, Tuple

from ..core.units import format_bytes
from .model import MemoryModel
from .search import largest_batch

ADAM_FAMILY = ("Adam", "AdamW", "NAdam", "RAdam", "Adamax")


def advice(model: MemoryModel) -> Callable[[int], str]:
    """A function of the budget that says what would fit it."""
    return lambda budget: _advice(model, budget)


def _advice(model: MemoryModel, budget: int) -> str:
    setup = model.setup
    remedies: List[Tuple[str, int]] = []
    batch, peak = largest_batch(model.peak, budget, limit=max(setup.batch_size - 1, 1))
    if batch and batch < setup.batch_size:
        remedies.append((f"batch size {batch}", peak))
    elif not batch:
        remedies.append(("(not even batch size 1 fits as configured)", peak))
    if model.shapes.layers and any(info.node.frames for info in model.shapes.layers):
        remedies.append(("checkpoint: true on every block use", _variant(model, checkpoint_blocks=True)))
    if setup.optimizer in ADAM_FAMILY:
        remedies.append(("AdamW8bit", _variant(model, optimizer="AdamW8bit", optimizer_options={})))
        remedies.append(("SGD with momentum", _variant(model, optimizer="SGD", optimizer_options={"momentum": 0.9})))
    if setup.precision == "fp32":
        remedies.append(("bf16-mixed", _variant(model, precision="bf16-mixed")))
    devices = _devices_for(model, budget)
    if devices is not None:
        remedies.append((f"zero3 over {devices} devices", devices_peak(model, devices)))
    fits = [f"{name} ({format_bytes(peak)})" for name, peak in remedies if peak <= budget and name[0] != "("]
    short = [f"{name} ({format_bytes(peak)})" for name, peak in remedies if peak > budget and name[0] != "("]
    text = "would fit: " + ", or ".join(fits) if fits else "no single change tried fits"
    if short:
        text += "; not enough alone: " + ", ".join(short)
    return text


def _variant(model: MemoryModel, *, checkpoint_blocks: bool = False, **changes: object) -> int:
    setup = model.setup.replace(**changes)  # type: ignore[arg-type]
    other = MemoryModel(model.shapes, setup, output=model.output, device=model.device,
                        checkpoint_blocks=checkpoint_blocks or model.checkpoint_blocks, tuning=model.tuning,
                        fold=model.fold, expand=model.expand)
    return other.peak(setup.batch_size)


def devices_peak(model: MemoryModel, devices: int) -> int:
    return _variant(model, devices=devices, sharding="zero3")


def _devices_for(model: MemoryModel, budget: int) -> Optional[int]:
    """The fewest devices (powers of two up to 1024) over which ZeRO-3 fits, if any."""
    devices = max(model.setup.devices, 1) * 2
    while devices <= 1024:
        if devices_peak(model, devices) <= budget:
            return devices
        devices *= 2
    return None
