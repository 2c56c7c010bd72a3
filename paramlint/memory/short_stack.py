"""A fine-tuning run on a long stack of equal copies, adapted with four copies.

peft's branches triple a decoder layer's nodes: a 70B model's 1,763 nodes
become 5,123 in the adapted graph, and writing that graph out and analysing
its shapes was most of a QLoRA lint.  The memory model needs only three and
four copies of a stack (memory.folding) and the step's FLOPs repeat per
copy (step_flops.stacked_step_flops), so when every copy of a stack is
adapted alike the adapted graph is written with the stack cut to
:data:`KEPT` copies, and the memory model is told the true count
(``Fold.stored`` < ``Fold.count``).  What cannot be read from four copies
(a timeline that does not unroll exactly, middle copies whose FLOPs differ)
falls back to the whole adapted graph, which the run writes out on demand.

The stack qualifies when the base model's copies are equal
(``ShapeAnalysis.equal_copies``: same layers, shapes and wiring, checked by
the shape analysis), the graph builder wrote copies from the third on as
the copy before (``Repeat.cloned``), every copy from there on is adapted,
trained and quantized as the copy before it, no parameter is shared with
or within the stack (a head tied to the embedding, both outside it, is
fine), and the layers after the stack read it through its last copy.
Parameter counts, trainable counts and the quantized storage totals are
never read from the cut graph: they come from the whole model's tensors.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from ..core.record import Record
from ..model.analysis import ShapeAnalysis
from ..model.finetune import FineTune
from ..model.graph import Graph, Repeat, Source
from .adapters import cloned_copies_alike
from .folding import MIN_COPIES, Fold, folded_shapes, read_through_last_copy

KEPT = 4  # copies written: the memory model plans three and checks against four


class ShortStack(Record):
    """The base graph with ``repeat`` cut to :data:`KEPT` copies (``graph``, ``shapes``), and the map from
    its node indices to the whole graph's (``full_index``)."""

    __slots__ = ("repeat", "graph", "shapes", "shift")

    def __init__(self, repeat: Repeat, graph: Graph, shapes: ShapeAnalysis, shift: int) -> None:
        self.repeat = repeat
        self.graph = graph
        self.shapes = shapes
        self.shift = shift  # nodes dropped: (count - KEPT) x size

    def full_index(self, node: int) -> int:
        return node if node < self.repeat.start + KEPT * self.repeat.size else node + self.shift

    def restricted(self, finetune: FineTune) -> FineTune:
        """``finetune`` with its per-layer tables keyed by the cut graph's indices (the same tensors)."""
        def keyed(table: Dict[int, Any]) -> Dict[int, Any]:
            return {index: table[self.full_index(index)] for index in range(len(self.graph.nodes))
                    if self.full_index(index) in table}

        return finetune.replace(layer_tensors=keyed(finetune.layer_tensors), adapted=keyed(finetune.adapted),
                                copies=keyed(finetune.copies), wrapped={})

    def fold(self, position: Dict[int, int]) -> Fold:
        """The fold of the adapted cut graph (``position``: cut base index -> adapted index)."""
        start = position[self.repeat.start]
        size = position[self.repeat.start + self.repeat.size] - start
        return Fold(start, size, self.repeat.count, KEPT)


def short_stack(graph: Graph, shapes: ShapeAnalysis, finetune: FineTune, quantized: Set[int],
                output: Source) -> Optional[ShortStack]:
    """The largest stack the run can be adapted with four copies of (see the module docstring), or None."""
    if finetune.wrapped:
        return None
    equal = {(r.start, r.size, r.count) for r in shapes.equal_copies}
    for repeat in sorted(graph.repeats, key=lambda r: -(r.count * r.size)):
        if repeat.count < MIN_COPIES or not 2 <= repeat.cloned < repeat.count - 1 or \
                (repeat.start, repeat.size, repeat.count) not in equal:
            continue
        if _adapted_alike(repeat, finetune, quantized) and read_through_last_copy(shapes.layers, output, repeat) \
                and not _tied_to(repeat, shapes):
            fold = Fold(repeat.start, repeat.size, repeat.count)
            cut, cut_output = folded_shapes(shapes, output, fold, KEPT)
            repeats = tuple(_cut_repeats(graph.repeats, repeat))
            cut_graph = graph.replace(nodes=tuple(info.node for info in cut.layers), output=cut_output,
                                      repeats=repeats)
            return ShortStack(repeat, cut_graph, cut, (repeat.count - KEPT) * repeat.size)
    return None


def _tied_to(repeat: Repeat, shapes: ShapeAnalysis) -> bool:
    """A layer of the stack shares a parameter, or one shares a parameter of the stack (a head tied to the
    embedding, both outside it, is neither)."""
    start, end = repeat.start, repeat.start + repeat.count * repeat.size
    return any(node.shares is not None and (start <= node.index < end or start <= node.shares < end)
               for node in (info.node for info in shapes.layers))


def _adapted_alike(repeat: Repeat, finetune: FineTune, quantized: Set[int]) -> bool:
    """Every copy from the first cloned one on is adapted, trained and quantized as the copy before."""
    def kind(node: int) -> Tuple[bool, bool, Tuple[bool, ...], bool]:
        tensors = finetune.layer_tensors.get(node, ())
        return (node in finetune.adapted, node in finetune.copies, tuple(t.trainable for t in tensors),
                node in quantized)

    return cloned_copies_alike(repeat, kind)


def _cut_repeats(repeats: Tuple[Repeat, ...], cut: Repeat) -> List[Repeat]:
    """The graph's repeats once ``cut`` keeps :data:`KEPT` copies: those inside a dropped copy go, those
    after the stack move along."""
    end, kept_end = cut.start + cut.count * cut.size, cut.start + KEPT * cut.size
    shift = end - kept_end
    out = []
    for repeat in repeats:
        if repeat is cut:
            out.append(repeat.replace(count=KEPT, cloned=min(repeat.cloned, KEPT - 1)))
        elif repeat.start >= end:
            out.append(repeat.replace(start=repeat.start - shift))
        elif repeat.start + repeat.count * repeat.size <= kept_end or repeat.start + repeat.count * repeat.size \
                <= cut.start:
            out.append(repeat)
    return out


def composed(position: Dict[int, int], stack: ShortStack) -> Callable[[int], Optional[int]]:
    """Whole base graph index -> adapted cut graph index (None for a node of a dropped copy)."""
    kept_end = stack.repeat.start + KEPT * stack.repeat.size
    end = stack.repeat.start + stack.repeat.count * stack.repeat.size

    def index(node: int) -> Optional[int]:
        if node < kept_end:
            return position[node]
        if node < end:
            return None
        return position[node - stack.shift]

    return index
