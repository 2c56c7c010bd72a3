"""Layers whose output nothing reads (PL455).

A layer is read when another layer takes it in ``from`` (or as the next layer
in sequence), or when it is the model's output.  An unread layer still counts
its parameters and its memory, and it usually means a wrong ``from`` or a
branch that was never merged back.
"""
from __future__ import annotations

from typing import List, Set

from ..core.diagnostics import Finding
from .analysis import ShapeAnalysis
from .graph import Graph


def unread_layers(graph: Graph, shapes: ShapeAnalysis) -> List[Finding]:
    """One PL455 warning per layer that is neither read by a layer nor the model's output."""
    read: Set[int] = {source.node for node in graph.nodes for source in node.sources if source.node is not None}
    if graph.output.node is not None:
        read.add(graph.output.node)
    findings = []
    for info in shapes.layers:
        node = info.node
        if node.index in read:
            continue
        if info.params:
            what = (f"its {info.params:,} parameters are counted in the totals and kept in memory but never "
                    f"influence the output (and get no gradient)")
        else:
            what = "it computes nothing that influences the output"
        findings.append(Finding("PL455", f"{node.type} `{node.trace}` is never read: it is not the model's output "
                                         f"and no layer takes it in `from`; {what}",
                                node.config_path))
    return findings
