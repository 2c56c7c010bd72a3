"""How long values live when the graph runs as nested module calls.

The memory plan frees a value after its last consumer, as straight-line
eager code does.  A model written as ``nn.Module``s (every transformers
model) holds some values longer, because a Python frame keeps a reference:

- **A block use is a module call.**  The caller holds the arguments until
  the call returns, so a block's inputs live until its last layer has run
  (``hidden_states = self.mlp(hidden_states)``: the MLP's input survives
  the whole MLP).
- **A run of block uses is the parent's layer loop.**  What the parent
  computed before the loop and hands to the loop stays in its locals until
  the loop ends (``inputs_embeds`` and ``position_embeddings`` in every
  transformers decoder's ``Model.forward``).  A run is a maximal sequence of
  top-level layers that each belong to a block use.
- **A value two readers of its own block use read is a local.**  It lives
  until the block returns (Phi-3's packed ``qkv``, read through three
  slices; its ``gate_up_proj`` output), where a value read once is a
  temporary of one expression.  A nested block use counts as one reader.
- **What a module returns lives in its caller** (``caller_end``): eager
  attention's weights, ``hidden_states, _ = self.self_attn(...)``, until the
  decoder layer returns.

Measured against transformers 5.25 decoders on the CPU (tests/test_inference.py);
the serving timelines (paramlint/memory/inference.py) apply it.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

from ..model.analysis import ShapeAnalysis
from .plan import ForwardPlan
from .steps import Timeline

ValueKey = Tuple[int, int]


def held_until(shapes: ShapeAnalysis) -> Dict[ValueKey, int]:
    """Value (producer layer, output) -> the last layer during which a module call or a layer loop holds it
    (only values held past their last consumer's own position are listed)."""
    nodes = [info.node for info in shapes.layers]
    last_of: Dict[Tuple, int] = {}
    for node in nodes:
        for depth in range(1, len(node.frames) + 1):
            last_of[tuple(node.frames[:depth])] = node.index
    run_end = _run_ends(nodes)
    held: Dict[ValueKey, int] = {}
    for key, readers in _readers(nodes).items():
        frames = tuple(nodes[key[0]].frames)
        if len(readers) > 1 and frames:  # a local of the block's forward, read twice
            held[key] = last_of[frames]
    for node in nodes:
        for source in node.sources:
            if source.node is None:
                continue  # a graph input lives for the whole pass anyway
            producer = nodes[source.node].frames
            until = node.index
            for depth in range(1, len(node.frames) + 1):
                scope = tuple(node.frames[:depth])
                if tuple(producer[:depth]) != scope:  # the value enters this block use as an argument
                    until = max(until, last_of[scope])
                    break  # the outermost block use it enters holds it longest
            run = run_end.get(node.index)
            if run is not None and not producer and source.node < run[0]:
                until = max(until, run[1])
            if until > node.index:
                key = (source.node, source.output)
                held[key] = max(held.get(key, 0), until)
    return held


def _readers(nodes: List) -> Dict[ValueKey, set]:
    """Value -> what reads it in the block use that made it: its layers, and nested block uses as one each
    (a module call takes the value as one argument)."""
    readers: Dict[ValueKey, set] = {}
    for node in nodes:
        for source in node.sources:
            if source.node is None:
                continue
            frames = nodes[source.node].frames
            if tuple(node.frames[:len(frames)]) == tuple(frames):
                reader = tuple(node.frames[:len(frames) + 1]) if len(node.frames) > len(frames) else node.index
                readers.setdefault((source.node, source.output), set()).add(reader)
    return readers


def _run_ends(nodes: List) -> Dict[int, Tuple[int, int]]:
    """Layer -> (first, last) layer of the run of top-level block uses it belongs to."""
    runs: Dict[int, Tuple[int, int]] = {}
    start = None
    for index in range(len(nodes) + 1):
        inside = index < len(nodes) and bool(nodes[index].frames)
        if inside and start is None:
            start = index
        elif not inside and start is not None:
            for member in range(start, index):
                runs[member] = (start, index - 1)
            start = None
    return runs


def hold_values(timeline: Timeline, plan: ForwardPlan, held: Dict[ValueKey, int]) -> Timeline:
    """The one-step-per-layer inference timeline with each held value's storage freed after the layer that
    holds it last (views share their base's storage: the latest holder wins)."""
    until: Dict[int, int] = {}
    for key, last in held.items():
        value = plan.values.get(key)
        if value is not None:
            until[value.storage] = max(until.get(value.storage, -1), last)
    freed_at = {storage: index for index, step in enumerate(timeline.steps) for storage in step[2]}
    moved = {storage: last for storage, last in until.items() if storage in freed_at and last > freed_at[storage]}
    if not moved:
        return timeline
    steps = []
    for index, (before, allocs, frees, phase, layer) in enumerate(timeline.steps):
        frees = tuple(s for s in frees if s not in moved) + tuple(s for s, last in moved.items() if last == index)
        steps.append((before, allocs, frees, phase, layer))
    return Timeline(timeline.storages, steps, timeline.persistent)


def caller_end(shapes: ShapeAnalysis, index: int) -> int:
    """The last layer of the block use that called the innermost block use around layer ``index``: what
    a module returns lives there until its caller returns (``hidden_states, _ = self.self_attn(...)``)."""
    frames = tuple(shapes.layers[index].node.frames)
    scope = frames[:-1] if len(frames) > 1 else frames
    if not scope:
        return index
    last = index
    for info in shapes.layers[index:]:
        if tuple(info.node.frames[:len(scope)]) != scope:
            break
        last = info.node.index
    return last
