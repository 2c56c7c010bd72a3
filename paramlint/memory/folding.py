"""A long stack of equal blocks, planned once: the memory timeline of a model
whose graph repeats one block ``n`` times, unrolled from the timeline of the
same model with three copies.

A Llama-3-70B graph is 80 equal decoder layers (1,925 nodes); planning every
node costs ~40 ms, most of a pre-commit run.  The timeline of a repeated block
is periodic: copy ``c`` saves, frees and receives gradients exactly as copy
``c - 1`` does, with its own storages.  So the model is planned with copies
0, 1 and 2 only (the first, a middle one, the last, with the layers before
and after), and the full timeline is written out from it: copy 1's storages
and steps once per middle copy, forward steps in ascending and backward
steps in descending copy order, each reference to a neighbouring copy's
storage moved to the neighbour of that copy, global steps (parameters, the
loss, autocast's cache, the optimizer) given every copy's storages.

Nothing here is assumed.  :func:`find_fold` folds only copies that are equal
node by node (type, arguments, input shapes, wiring relative to the copy:
model.copies, checked during the shape analysis) and that the layers after
the stack read only through the last copy.  The
unrolling is then checked where it can be compared: the timeline of four
copies, planned in full, must equal three copies unrolled to four, storage
for storage and step for step (up to naming).  Anything that is not
periodic (a parameter tied across copies, an optimizer state that depends
on the number of tensors, an adapter on some copies only) fails that check,
and the model is planned in full as before.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Tuple

from ..core.record import Record
from ..model.analysis import LayerInfo, ShapeAnalysis
from ..model.graph import Repeat, Source
from .plan import GRADIENTS
from .simulation import SimResult, Walk, storage_sizes
from .steps import Step, Timeline
from .unroll import PLANNED, CopyTags, NotPeriodic, OptimizerBytes, canonical, unroll

MIN_COPIES = 8  # fewer copies save too little to be worth two smaller plans

Build = Callable[[ShapeAnalysis, Source, Callable[[int], Optional[int]]], Timeline]


class Fold(Record):
    """``count`` equal copies of ``size`` nodes from ``start`` in the model the memory model plans, of
    which the shapes it is given hold the first ``stored`` (all of them unless a fine-tuning run wrote its
    adapted graph with a shortened stack: memory.short_stack)."""

    __slots__ = ("start", "size", "count", "stored")

    def __init__(self, start: int, size: int, count: int, stored: Optional[int] = None) -> None:
        self.start = start
        self.size = size
        self.count = count
        self.stored = count if stored is None else stored

    @property
    def short(self) -> bool:
        """The shapes hold fewer copies than the model has."""
        return self.stored < self.count

    def folded_index(self, copies: int) -> Callable[[int], Optional[int]]:
        """Node index in the graph of ``copies`` copies (None for a node of a dropped copy), from the
        index in the shapes the fold was given."""
        start, size, count = self.start, self.size, self.stored
        kept_end, end, shift = start + copies * size, start + count * size, (count - copies) * size

        def index(node: int) -> Optional[int]:
            if node < kept_end:
                return node
            if node < end:
                return None
            return node - shift

        return index


def find_fold(shapes: ShapeAnalysis, output: Source) -> Optional[Fold]:
    """The largest stack of equal copies (``shapes.equal_copies``, checked layer by layer by the shape
    analysis) that the layers after it read through its last copy only, or None."""
    for repeat in sorted(shapes.equal_copies, key=lambda r: -(r.count * r.size)):
        if repeat.count >= MIN_COPIES and read_through_last_copy(shapes.layers, output, repeat):
            return Fold(repeat.start, repeat.size, repeat.count)
    return None


def read_through_last_copy(layers: Sequence[LayerInfo], output: Source, repeat: Repeat) -> bool:
    end = repeat.start + repeat.count * repeat.size
    last = end - repeat.size
    for info in layers[end:]:
        node = info.node
        refs = [s.node for s in node.sources if s.node is not None] + ([node.shares] if node.shares is not None else [])
        if any(repeat.start <= ref < last for ref in refs):
            return False
    return output.node is None or not repeat.start <= output.node < last


def folded_shapes(shapes: ShapeAnalysis, output: Source, fold: Fold, copies: int) -> Tuple[ShapeAnalysis, Source]:
    """The model with ``copies`` copies of the stack (the layers after it renumbered)."""
    start, size, count = fold.start, fold.size, fold.stored
    end, shift = start + count * size, (count - copies) * size
    last = end - size

    def moved(source: Source) -> Source:
        return source.replace(node=source.node - shift) if source.node is not None and source.node >= last \
            else source

    layers: List[LayerInfo] = list(shapes.layers[:start + copies * size])
    for info in shapes.layers[end:]:
        node = info.node
        shares = node.shares - shift if node.shares is not None and node.shares >= last else node.shares
        layers.append(info.replace(node=node.replace(index=node.index - shift, shares=shares,
                                                     sources=tuple(moved(s) for s in node.sources))))
    return shapes.replace(layers=tuple(layers)), moved(output)


def fold_timeline(build: Build, shapes: ShapeAnalysis, output: Source, fold: Fold,
                  optimizer_bytes: Optional[OptimizerBytes] = None) -> Optional["FoldedTimeline"]:
    """The full model's timeline as three planned copies standing for all, or None when it does not
    unroll exactly (then plan the model in full)."""
    planned = {}
    for copies in (PLANNED, PLANNED + 1):
        folded, out = folded_shapes(shapes, output, fold, copies)
        planned[copies] = build(folded, out, fold.folded_index(copies))
    try:
        check = unroll(planned[PLANNED], fold.start, fold.size, PLANNED + 1, optimizer_bytes)
        if canonical(check) != canonical(planned[PLANNED + 1]):
            return None
        return FoldedTimeline(planned[PLANNED], fold, optimizer_bytes)
    except NotPeriodic:
        return None


Segment = Tuple[List[Step], int, int, int]  # (copy 1's steps, first copy, step +1/-1, copies): the middle ones


class FoldedTimeline:
    """The timeline of ``fold.count`` copies, simulated from three without writing the copies out.

    Storages stand in by size: a middle copy's storage is copy 1's of the same (node, ordinal), which
    :func:`fold_timeline` checked is the same size.  The middle copies away from both ends repeat one
    run of steps with the same sizes, so the simulator walks that run once and takes the live bytes
    and the highest point of all of them in closed form (:meth:`simulate`)."""

    def __init__(self, planned: Timeline, fold: Fold, optimizer_bytes: Optional[OptimizerBytes]) -> None:
        self.planned = planned
        self.fold = fold
        self.optimizer_bytes = optimizer_bytes
        self.tags = CopyTags(planned, fold.start, fold.size)
        self.middles = fold.count - 2  # full copies 1 .. count-2 stand on planned copy 1
        self.items: List[object] = []  # Step, or a Segment of interior middle copies
        self._lay_out()
        self.persistent = self._global(planned.persistent)
        self.grads = self._global(planned.grads)
        fixed = list(planned.storages.fixed)
        if optimizer_bytes is not None:
            for step in planned.steps:
                if step[3] == "optimizer" and step[1]:
                    fixed[step[1][0]] = optimizer_bytes([fixed[g] for g in self.grads])
        self.storages = planned.storages.replace(fixed=fixed)

    # -- storages, seen from a full copy -----------------------------------------------

    def _seen(self, storage: int, folded: int, copy: int) -> int:
        """``storage`` as a step of planned copy ``folded`` written as full copy ``copy`` names it."""
        tag = self.tags.tag[storage]
        if tag is None:
            return storage
        target = copy - (folded - tag[0])
        if target < 0 or target >= self.fold.count:
            raise NotPeriodic(f"a reference to copy {target}")
        planned = 0 if target == 0 else PLANNED - 1 if target == self.fold.count - 1 else 1
        return self.tags.of_copy(planned, storage)

    def _global(self, storages: Sequence[int]) -> List[int]:
        """Outside the stack, copy 1's storages stand for every middle copy's."""
        out: List[int] = []
        for storage in storages:
            tag = self.tags.tag[storage]
            out.extend([storage] * (self.middles if tag is not None and tag[0] == 1 else 1))
        return out

    def _layer(self, folded: int, local: int, copy: int) -> int:
        return self.fold.start + copy * self.fold.size + local

    def _where(self, layer: int) -> Tuple[int, int]:
        start, size = self.fold.start, self.fold.size
        if layer < start:
            return -1, layer
        copy, local = divmod(layer - start, size)
        return (copy, local) if copy < PLANNED else (-1, layer + (self.fold.count - PLANNED) * size)

    def _step(self, step: Step, folded: int, local: int, copy: int) -> Step:
        before, allocs, frees, phase, _ = step
        return (tuple(self._seen(s, folded, copy) for s in before),
                tuple(self._seen(s, folded, copy) for s in allocs),
                tuple(self._seen(s, folded, copy) for s in frees), phase, self._layer(folded, local, copy))

    def _lay_out(self) -> None:
        count = self.fold.count
        pending: List[Tuple[Step, int]] = []
        last = -1
        for step in self.planned.steps:
            folded, local = self._where(step[4]) if step[4] >= 0 else (-1, step[4])
            if folded == 1:
                pending.append((step, local))
                continue
            self._middle(pending, last)
            if folded == -1:
                self.items.append((tuple(self._global(step[0])), tuple(self._global(step[1])),
                                   tuple(self._global(step[2])), step[3], local))
                continue
            last = folded
            self.items.append(self._step(step, folded, local, 0 if folded == 0 else count - 1))
        self._middle(pending, last)

    def _middle(self, pending: List[Tuple[Step, int]], last: int) -> None:
        """Copy 1's run: the copies next to both ends written out, those between as one Segment."""
        if not pending:
            return
        if last == -1:
            raise NotPeriodic("copy 1 runs before copies 0 and 2")
        count = self.fold.count
        first, final, direction = (1, count - 2, 1) if last == 0 else (count - 2, 1, -1)
        self.items.extend(self._step(step, 1, local, first) for step, local in pending)
        interior = [self._step(step, 1, local, first + direction) for step, local in pending]
        self.items.append((interior, first + direction, direction, count - 4))
        self.items.extend(self._step(step, 1, local, final) for step, local in pending)
        pending.clear()

    # -- what the memory model reads ------------------------------------------------------

    def simulate(self, batch: int, rounding: int) -> SimResult:
        """What simulation.simulate returns on the written-out timeline, step for step."""
        walk = _Walk.start(self.persistent, storage_sizes(self.storages, batch, rounding), self.storages.category)
        for item in self.items:
            if len(item) == 5:  # type: ignore[arg-type]
                walk.step(item)  # type: ignore[arg-type]
            else:
                walk.segment(item, self.fold.size)  # type: ignore[arg-type]
        return walk.result()

    def layer_bytes(self, batch: int, rounding: int, layers: int) -> List[int]:
        size = storage_sizes(self.storages, batch, rounding)
        out = [0] * layers
        for layer, kept in self.planned.layer_saved.items():
            folded, local = self._where(layer)
            if folded == -1:
                out[local] = sum(size[s] for s in self._global(kept))
                continue
            copies = [0] if folded == 0 else [self.fold.count - 1] if folded == 2 else \
                range(1, self.fold.count - 1)
            for copy in copies:
                out[self._layer(folded, local, copy)] = sum(size[self._seen(s, folded, copy)] for s in kept)
        return out

    def gradient_bytes(self, rounding: int) -> int:
        """Every parameter gradient's bytes, each rounded (a middle copy's counted once per copy)."""
        total = 0
        storages = self.storages
        for storage, kind in enumerate(storages.category):
            if kind == GRADIENTS:
                tag = self.tags.tag[storage]
                times = self.middles if tag is not None and tag[0] == 1 else 1
                total += times * (-(-storages.fixed[storage] // rounding) * rounding)
        return total

    def written_out(self) -> Timeline:
        """The whole timeline, every copy's storages and steps (for the charts and the tests)."""
        return unroll(self.planned, self.fold.start, self.fold.size, self.fold.count, self.optimizer_bytes)


class _Walk(Walk):
    """simulation.Walk, with whole runs of equal middle copies taken in one go."""

    def segment(self, segment: Segment, layer_stride: int) -> None:
        """``copies`` repeats of one run of steps: walked once from zero, then placed in closed form."""
        steps, first, direction, copies = segment
        if copies <= 0 or not steps:
            return
        if self.end_of_forward is None and any(s[3] in ("backward", "optimizer") for s in steps):
            for index in range(copies):  # the forward pass ends inside: walk them (never for a decoder)
                for before, allocs, frees, phase, layer in steps:
                    self.step((before, allocs, frees, phase, layer + direction * index * layer_stride))
            return
        one = Walk([0] * len(self.live), self.size, self.category, peak=None)  # one copy, from zero
        for step in steps:
            one.step(step)
        rise, top = one.current, one.peak  # what one copy adds, and its highest point above its start
        assert top is not None and self.peak is not None
        best = copies - 1 if rise > 0 else 0  # the first copy's highest point, or the last's when each adds
        if self.current + best * rise + top > self.peak:
            self.peak = self.current + best * rise + top
            self.best = tuple(a + best * d + t for a, d, t in zip(self.live, one.live, one.best))
            self.phase = one.phase
            self.layer = one.layer + direction * best * layer_stride
        self.live[:] = [a + copies * d for a, d in zip(self.live, one.live)]
        self.current += copies * rise
