"""The copies of a ``repeat:``, analysed once.

A Llama-3-70B graph is 80 copies of one decoder layer.  From the third copy
on, a layer that is its counterpart in the copy before again (same type,
arguments, trainability, checkpointing, wiring relative to its copy) and
receives the same input shapes gets the same result: ``infer`` is a pure
function of the arguments and the inputs.  ``analysis.analyze_shapes`` then
reuses the counterpart's result (shared, never changed after analysis)
instead of inferring it again; by induction every copy from 2 on is copy 1.  A repeat whose copies 2 and on were all reused is
listed in ``ShapeAnalysis.equal_copies``: memory.folding plans such a stack
as three copies.
"""
from __future__ import annotations

from typing import Dict, Sequence, Tuple

from .graph import Node, Repeat, Source

Reference = Tuple[int, int, int, Repeat]  # (counterpart, this copy's first node, the counterpart copy's first, repeat)


def copy_references(repeats: Sequence[Repeat], total: int) -> Dict[int, Reference]:
    """Node -> its counterpart in the copy before, for copies 2 and on of the largest non-overlapping
    repeats (copy 1's once reused: a reused copy's inputs are then the very objects its predecessor had)."""
    references: Dict[int, Reference] = {}
    taken = []
    for repeat in sorted(repeats, key=lambda r: -(r.size * r.count)):
        start, end = repeat.start, repeat.start + repeat.size * repeat.count
        if repeat.count < 3 or end > total or any(start < e and s < end for s, e in taken):
            continue
        taken.append((start, end))
        for copy in range(2, repeat.count):
            base = start + copy * repeat.size
            before = base - repeat.size
            for local in range(repeat.size):
                references[base + local] = (before + local, base, before, repeat)
    return references


def same_layer(node: Node, theirs: Node, reference: Reference) -> bool:
    """``node`` is ``theirs`` again (see :func:`_same_layer`); a copy the graph builder cloned from the
    copy before is that copy again by construction."""
    _, base, _, repeat = reference
    return (repeat.cloned and base >= repeat.start + repeat.cloned * repeat.size) or _same_layer(node, theirs,
                                                                                                 reference)


def _same_layer(node: Node, theirs: Node, reference: Reference) -> bool:
    """``node`` is ``theirs`` (its counterpart one copy before) again, its wiring read relative to its copy.

    A source inside the stack must lie in the node's own copy or the one before (a decoder layer's
    residual, its predecessor's output); one before the stack must be the very same."""
    _, base, their_base, repeat = reference
    if node.type != theirs.type or node.trainable != theirs.trainable or node.checkpoint != theirs.checkpoint \
            or (node.args is not theirs.args and node.args != theirs.args) or len(node.sources) != len(theirs.sources) \
            or len(node.frames) != len(theirs.frames) or (node.shares is None) != (theirs.shares is None):
        return False
    for ours, other in zip(node.sources, theirs.sources):
        if not _same_source(ours, other, base, their_base, repeat):
            return False
    if node.shares is not None and not _same_source(Source(node.shares), Source(theirs.shares), base, their_base,
                                                    repeat):
        return False
    return all(f.checkpoint == g.checkpoint for f, g in zip(node.frames, theirs.frames))


def _same_source(ours: Source, other: Source, base: int, their_base: int, repeat: Repeat) -> bool:
    if ours.output != other.output or ours.input_name != other.input_name:
        return False
    if ours.node is None or ours.node < repeat.start:
        return ours.node == other.node
    if other.node is None:
        return False
    offset = ours.node - base
    return -repeat.size <= offset < repeat.size and offset == other.node - their_base


def equal_copies(repeats: Sequence[Repeat], references: Dict[int, Reference],
                 reused: Dict[int, bool]) -> Tuple[Repeat, ...]:
    """The repeats whose every node in copies 2 and on was reused."""
    out = []
    for repeat in repeats:
        first = repeat.start + 2 * repeat.size
        end = repeat.start + repeat.count * repeat.size
        if repeat.count >= 3 and first in references and references[first][3] is repeat \
                and all(reused.get(index, False) for index in range(first, end)):
            out.append(repeat)
    return tuple(out)
