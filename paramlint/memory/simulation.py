"""Run a timeline for one batch size: the peak, and what it is made of.

Each storage's size is ``per_sample * batch + fixed`` rounded up to the
allocator's granularity (512 bytes on CUDA).  The simulator frees what a
step frees first, allocates, records the peak with the live bytes by
category, and frees the rest.  It is linear in the number of steps.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

from ..core.record import Record
from .plan import CATEGORIES, Storages
from .steps import Timeline


class SimResult(Record):
    __slots__ = ("peak", "breakdown", "phase", "layer", "end_of_forward")

    # breakdown: live bytes by category at the peak (plan.CATEGORIES)
    # phase: forward, loss, backward, recompute, optimizer, inference
    # layer: the layer running at the peak, -1 for none
    # end_of_forward: live bytes by category when the forward pass (and loss) ends
    def __init__(self, peak: int, breakdown: Tuple[int, ...], phase: str, layer: int,
                 end_of_forward: Tuple[int, ...]) -> None:
        self.peak = peak
        self.breakdown = breakdown
        self.phase = phase
        self.layer = layer
        self.end_of_forward = end_of_forward

    def part(self, name: str) -> int:
        return self.breakdown[CATEGORIES.index(name)]


class TracePoint(Record):
    """Live bytes by category (plan.CATEGORIES) at one moment of the simulation.

    ``moment`` is ``"start"`` (the persistent storages), ``"alloc"`` (after a
    step's allocations: where the simulator takes the peak) or ``"free"``
    (after the step's last frees).  ``step`` indexes ``Timeline.steps``
    (-1 for the start)."""

    __slots__ = ("step", "moment", "phase", "layer", "live")

    def __init__(self, step: int, moment: str, phase: str, layer: int, live: Tuple[int, ...]) -> None:
        self.step = step
        self.moment = moment
        self.phase = phase
        self.layer = layer
        self.live = live

    @property
    def total(self) -> int:
        return sum(self.live)


class MemoryTrace(Record):
    """The whole walk of one simulated step: what the timeline charts draw.

    ``points`` are the simulation's own moments; the device's fixed
    ``overhead`` is added to each of them; ``peak`` (overhead included) is the
    estimate's peak, taken at ``phase`` while ``layer`` runs."""

    __slots__ = ("points", "overhead", "peak", "phase", "layer")

    def __init__(self, points: Tuple[TracePoint, ...], overhead: int, peak: int, phase: str, layer: int) -> None:
        self.points = points
        self.overhead = overhead
        self.peak = peak
        self.phase = phase
        self.layer = layer


def sizes(timeline: Timeline, batch: int, rounding: int) -> List[int]:
    return storage_sizes(timeline.storages, batch, rounding)


def storage_sizes(storages: Storages, batch: int, rounding: int) -> List[int]:
    """Each storage's bytes at ``batch``, rounded to the allocator's granularity."""
    out = []
    for per_sample, fixed, copies in zip(storages.per_sample, storages.fixed, storages.copies):
        size = per_sample * batch + fixed
        out.append(copies * -(-size // rounding) * rounding if size else 0)
    return out


def simulate(timeline: Timeline, batch: int, rounding: int = 512, *,
             trace: Optional[List[TracePoint]] = None) -> SimResult:
    """The peak of ``timeline`` at ``batch``; with ``trace``, every moment of
    the walk is appended to it as a :class:`TracePoint` (the charts draw these)."""
    walk = Walk.start(timeline.persistent, sizes(timeline, batch, rounding), timeline.storages.category, trace)
    for index, step in enumerate(timeline.steps):
        walk.step(step, index)
    return walk.result()


class Walk:
    """The simulator's state: live bytes by category, the peak so far and where it was taken.

    ``step`` frees what a step frees first, allocates, takes the peak (the first moment that exceeds
    it), then frees the rest; the forward pass ends at the first backward or optimizer step.
    ``peak`` None: no moment taken yet (memory.folding walks one copy of a block from zero)."""

    def __init__(self, live: List[int], size: List[int], category: List[int],
                 trace: Optional[List[TracePoint]] = None, peak: Optional[int] = 0) -> None:
        self.live, self.size, self.category, self.trace = live, size, category, trace
        self.current = sum(live)
        self.peak: Optional[int] = self.current if peak is not None else None
        self.best, self.phase, self.layer = tuple(live), "start", -1
        self.end_of_forward: Optional[Tuple[int, ...]] = None

    @classmethod
    def start(cls, persistent: Sequence[int], size: List[int], category: List[int],
              trace: Optional[List[TracePoint]] = None) -> "Walk":
        live = [0] * len(CATEGORIES)
        for storage in persistent:
            live[category[storage]] += size[storage]
        if trace is not None:
            trace.append(TracePoint(-1, "start", "start", -1, tuple(live)))
        return cls(live, size, category, trace)

    def step(self, step: Tuple[Sequence[int], Sequence[int], Sequence[int], str, int], index: int = -1) -> None:
        before, allocs, frees, phase, layer = step
        live, size, category = self.live, self.size, self.category
        if self.end_of_forward is None and phase in ("backward", "optimizer"):
            self.end_of_forward = tuple(live)
        current = self.current
        for storage in before:
            live[category[storage]] -= size[storage]
            current -= size[storage]
        for storage in allocs:
            live[category[storage]] += size[storage]
            current += size[storage]
        if self.peak is None or current > self.peak:
            self.peak, self.best, self.phase, self.layer = current, tuple(live), phase, layer
        if self.trace is not None:
            self.trace.append(TracePoint(index, "alloc", phase, layer, tuple(live)))
        for storage in frees:
            live[category[storage]] -= size[storage]
            current -= size[storage]
        if self.trace is not None and frees:
            self.trace.append(TracePoint(index, "free", phase, layer, tuple(live)))
        self.current = current

    def result(self) -> SimResult:
        end = self.end_of_forward if self.end_of_forward is not None else tuple(self.live)
        return SimResult(self.peak or 0, self.best, self.phase, self.layer, end)


def layer_bytes(timeline: Timeline, batch: int, rounding: int, layers: int) -> List[int]:
    """Activation bytes each layer keeps alive after the forward pass."""
    size = sizes(timeline, batch, rounding)
    out = [0] * layers
    for layer, storages in timeline.layer_saved.items():
        out[layer] = sum(size[s] for s in storages)
    return out


def live_totals(timeline: Timeline, batch: int, rounding: int = 512) -> Dict[str, int]:
    """Live bytes by category after the last step (a consistency check: what survives the step)."""
    size = sizes(timeline, batch, rounding)
    category = timeline.storages.category
    alive = set(timeline.persistent)
    for before, allocs, frees, _, _ in timeline.steps:
        alive.difference_update(before)
        alive.update(allocs)
        alive.difference_update(frees)
    totals = dict.fromkeys(CATEGORIES, 0)
    for storage in alive:
        totals[CATEGORIES[category[storage]]] += size[storage]
    return totals
