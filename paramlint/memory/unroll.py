"""Write out a timeline planned with three copies of a repeated block as ``count``
copies (memory.folding explains why and when): copy 1's storages and steps
once per middle copy, forward steps in ascending and backward steps in
descending copy order, each reference to a neighbouring copy's storage moved
to the neighbour of that copy, global steps (parameters, the loss, autocast's
cache, the optimizer) given every copy's storages.  :func:`canonical` is what
two timelines must share to simulate alike.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence, Tuple

from .steps import Step, Timeline

PLANNED = 3     # copies planned: the first, one in the middle, the last

OptimizerBytes = Callable[[Sequence[int]], int]


class NotPeriodic(Exception):
    """The planned timeline does not unroll (a difference between copies the checks did not see)."""


def unroll(timeline: Timeline, start: int, size: int, count: int,
           optimizer_bytes: Optional[OptimizerBytes] = None) -> Timeline:
    """Three planned copies (0, 1, 2) written out as ``count``: copy 1 stands for copies 1 to count-2."""
    return _Unroller(timeline, start, size, count).run(optimizer_bytes)


class CopyTags:
    """Which planned copy made each storage: ``tag[s] = (copy, local node, ordinal)`` (None outside the
    stack), and ``by_tag`` back; the ordinal tells apart the storages one node makes, so that storage
    ``(0, t, k)`` of copy 0 and ``(1, t, k)`` of copy 1 are the same tensor of two copies."""

    def __init__(self, timeline: Timeline, start: int, size: int) -> None:
        self.tag: List[Optional[Tuple[int, int, int]]] = [None] * len(timeline.storages.owner)
        self.by_tag: Dict[Tuple[int, int, int], int] = {}
        seen: Dict[int, int] = {}
        end = start + PLANNED * size
        for storage, owner in enumerate(timeline.storages.owner):
            if start <= owner < end:
                copy, local = divmod(owner - start, size)
                ordinal = seen.get(owner, 0)
                seen[owner] = ordinal + 1
                self.tag[storage] = (copy, local, ordinal)
                self.by_tag[(copy, local, ordinal)] = storage

    def of_copy(self, folded: int, storage: int) -> int:
        """The storage of planned copy ``folded`` that corresponds to ``storage``."""
        tag = self.tag[storage]
        found = self.by_tag.get((folded, tag[1], tag[2])) if tag is not None else storage
        if found is None:
            raise NotPeriodic("copies make different storages")
        return found


class _Unroller:
    def __init__(self, timeline: Timeline, start: int, size: int, count: int) -> None:
        self.timeline = timeline
        self.start, self.size, self.count = start, size, count
        self.shift = (count - PLANNED) * size
        tags = CopyTags(timeline, start, size)
        self.tag, self.by_tag = tags.tag, tags.by_tag
        self.middle = [s for s, tag in enumerate(self.tag) if tag is not None and tag[0] == 1]
        self.rank = {s: i for i, s in enumerate(self.middle)}
        self.first_new = len(timeline.storages.owner)

    # -- storages --------------------------------------------------------------------

    def replica(self, storage: int, index: int) -> int:
        """Copy 1's ``storage`` in middle copy ``index`` (0: copy 1 itself)."""
        return storage if index == 0 else self.first_new + (index - 1) * len(self.middle) + self.rank[storage]

    def in_copy(self, copy: int, local: int, ordinal: int) -> int:
        """The storage of full copy ``copy`` that (local node, ordinal) names."""
        if copy < 0 or copy >= self.count:
            raise NotPeriodic(f"a reference to copy {copy}")
        folded = 0 if copy == 0 else PLANNED - 1 if copy == self.count - 1 else 1
        storage = self.by_tag.get((folded, local, ordinal))
        if storage is None:
            raise NotPeriodic("copies make different storages")
        return self.replica(storage, copy - 1) if folded == 1 else storage

    def seen_from(self, storage: int, folded: int, copy: int) -> int:
        """``storage`` as a step of folded copy ``folded``, written as full copy ``copy``, names it."""
        tag = self.tag[storage]
        if tag is None:
            return storage
        return self.in_copy(copy - (folded - tag[0]), tag[1], tag[2])

    def global_refs(self, storages: Sequence[int]) -> List[int]:
        """Storages a step outside the copies names: copy 1's stand for every middle copy's, copy by copy."""
        out: List[int] = []
        run: List[int] = []
        for storage in storages:
            tag = self.tag[storage]
            if tag is not None and tag[0] == 1:
                run.append(storage)
                continue
            self._flush(run, out)
            out.append(storage)
        self._flush(run, out)
        return out

    def _flush(self, run: List[int], out: List[int]) -> None:
        for index in range(self.count - 2):
            out.extend(self.replica(s, index) for s in run)
        run.clear()

    # -- layers and steps ---------------------------------------------------------------

    def where(self, layer: int) -> Tuple[int, int]:
        """(folded copy, local index) of a layer; (-1, layer) outside the stack."""
        if layer < self.start:
            return -1, layer
        copy, local = divmod(layer - self.start, self.size)
        if copy < PLANNED:
            return copy, local
        return -1, layer + self.shift

    def full_layer(self, folded: int, local: int, copy: int) -> int:
        return self.start + copy * self.size + local

    def run(self, optimizer_bytes: Optional[OptimizerBytes]) -> Timeline:
        timeline, storages = self.timeline, self.timeline.storages
        middle = self.middle
        per_sample, fixed = list(storages.per_sample), list(storages.fixed)
        category, copies, owner = list(storages.category), list(storages.copies), list(storages.owner)
        for index in range(1, self.count - 2):
            per_sample += [storages.per_sample[s] for s in middle]
            fixed += [storages.fixed[s] for s in middle]
            category += [storages.category[s] for s in middle]
            copies += [storages.copies[s] for s in middle]
            owner += [storages.owner[s] + index * self.size for s in middle]
        steps: List[Step] = []
        last_copy = -1  # the folded copy of the latest step inside the stack (0 or 2), for copy 1's order
        pending: List[Tuple[Step, int]] = []
        for step in timeline.steps:
            layer = step[4]
            folded, local = self.where(layer) if layer >= 0 else (-1, layer)
            if folded == 1:
                pending.append((step, local))
                continue
            self._emit_middle(pending, last_copy, steps)
            if folded == -1:
                steps.append((tuple(self.global_refs(step[0])), tuple(self.global_refs(step[1])),
                               tuple(self.global_refs(step[2])), step[3], local))
                continue
            last_copy = folded
            copy = 0 if folded == 0 else self.count - 1
            steps.append(self._step(step, folded, local, copy))
        self._emit_middle(pending, last_copy, steps)
        saved: Dict[int, List[int]] = {}
        for layer, kept in timeline.layer_saved.items():
            folded, local = self.where(layer)
            if folded == -1:
                saved[local] = self.global_refs(kept)
            elif folded == 1:
                for index in range(self.count - 2):
                    saved[self.full_layer(1, local, 1 + index)] = [self.seen_from(s, 1, 1 + index) for s in kept]
            else:
                copy = 0 if folded == 0 else self.count - 1
                saved[self.full_layer(folded, local, copy)] = [self.seen_from(s, folded, copy) for s in kept]
        grads = self.global_refs(timeline.grads)
        unrolled = storages.replace(per_sample=per_sample, fixed=fixed, category=category, copies=copies,
                                    owner=owner)
        if optimizer_bytes is not None:
            for step in steps:
                if step[3] == "optimizer" and step[1]:
                    fixed[step[1][0]] = optimizer_bytes([fixed[g] for g in grads])
        return Timeline(unrolled, steps, self.global_refs(timeline.persistent), saved, grads)

    def _emit_middle(self, pending: List[Tuple[Step, int]], last_copy: int, steps: List[Step]) -> None:
        """Copy 1's run of steps once per middle copy: ascending after copy 0, descending after copy 2.

        In middle copies away from both ends every storage a step names is a fixed id or
        ``base + copy * len(copy 1's storages)``: those are written from a template, the few copies
        next to the ends one name at a time."""
        if not pending:
            return
        if last_copy == -1:
            raise NotPeriodic("copy 1 runs before copies 0 and 2")
        order = range(1, self.count - 1) if last_copy == 0 else range(self.count - 2, 0, -1)
        templates = [self._template(step) for step, _ in pending]
        stride = len(self.middle)
        for copy in order:
            if 3 <= copy <= self.count - 4:
                offset = copy * stride
                for (_, local), (before, allocs, frees, phase) in zip(pending, templates):
                    steps.append((tuple(i + offset if moves else i for i, moves in before),
                                  tuple(i + offset if moves else i for i, moves in allocs),
                                  tuple(i + offset if moves else i for i, moves in frees), phase,
                                  self.start + copy * self.size + local))
            else:
                steps.extend(self._step(step, 1, local, copy) for step, local in pending)
        pending.clear()

    def _template(self, step: Step) -> Tuple[Tuple[Tuple[int, bool], ...], ...]:
        """A copy-1 step as (id, moves) pairs: the id is fixed, or ``id + copy * stride`` names it."""
        stride = len(self.middle)
        base = self.first_new - 2 * stride

        def pair(storage: int) -> Tuple[int, bool]:
            tag = self.tag[storage]
            if tag is None:
                return storage, False
            source = self.by_tag.get((1, tag[1], tag[2]))
            if source is None:
                raise NotPeriodic("copies make different storages")
            return base + (tag[0] - 1) * stride + self.rank[source], True

        return tuple(tuple(pair(s) for s in part) for part in step[:3]) + (step[3],)  # type: ignore[return-value]

    def _step(self, step: Step, folded: int, local: int, copy: int) -> Step:
        before, allocs, frees, phase, _ = step
        return (tuple(self.seen_from(s, folded, copy) for s in before),
                tuple(self.seen_from(s, folded, copy) for s in allocs),
                tuple(self.seen_from(s, folded, copy) for s in frees), phase,
                self.full_layer(folded, local, copy))


def canonical(timeline: Timeline) -> Tuple[object, ...]:
    """The timeline up to the names of its storages: what the simulation reads."""
    ids: Dict[int, int] = {}

    def name(storage: int) -> int:
        found = ids.get(storage)
        if found is None:
            found = ids[storage] = len(ids)
        return found

    steps = tuple((tuple(map(name, b)), tuple(map(name, a)), tuple(map(name, f)), phase, layer)
                  for b, a, f, phase, layer in timeline.steps)
    saved = tuple((layer, tuple(map(name, kept))) for layer, kept in sorted(timeline.layer_saved.items()))
    grads = tuple(sorted(map(name, timeline.grads)))  # the optimizer reads their sizes, in any order
    storages = timeline.storages

    def facts(storage: int) -> Tuple[int, int, int, int]:
        return (storages.per_sample[storage], storages.fixed[storage], storages.category[storage],
                storages.copies[storage])

    named = tuple(facts(s) for s in sorted(ids, key=ids.__getitem__))
    persistent = (tuple(ids[s] for s in timeline.persistent if s in ids),
                  tuple(sorted(facts(s) for s in timeline.persistent if s not in ids)))
    return steps, saved, grads, named, persistent
