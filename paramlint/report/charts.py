"""Chart data from an analysis: the memory timeline, the breakdown at the
peak, and where the parameters live.  Pure values, no drawing: ``svg.py``
draws them, ``html.py`` and the text sparkline read them too.

The timeline's points are the memory simulation's own moments
(``paramlint.memory.simulation.TracePoint``): a chart cannot drift from the
numbers.  Long timelines are thinned to at most ``max_columns`` points,
keeping the highest point of each run of neighbours and always the peak.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from ..core.record import Record
from ..lint import Analysis
from ..memory.plan import CATEGORIES
from ..memory.simulation import MemoryTrace, TracePoint

# Drawn bottom to top: what is there all step long first, what comes and goes last.
STACK = ("overhead", "parameters", "buffers", "optimizer_state", "gradients", "inputs", "activations", "transient")
LABELS = {
    "overhead": "fixed overhead", "parameters": "parameters", "buffers": "buffers",
    "optimizer_state": "optimizer state", "gradients": "gradients", "inputs": "inputs",
    "activations": "saved activations", "transient": "transient buffers",
}


class Column(Record):
    """One drawn point of the timeline: bytes per kind in ``STACK`` order."""

    __slots__ = ("point", "values")

    def __init__(self, point: TracePoint, values: Tuple[int, ...]) -> None:
        self.point = point
        self.values = values

    @property
    def total(self) -> int:
        return sum(self.values)


class Timeline(Record):
    """A timeline ready to draw: columns, the peak and where it happens."""

    __slots__ = ("columns", "peak", "peak_column", "peak_label", "phases", "thinned_from")

    # phases: (phase, first column, last column) in order
    def __init__(self, columns: Tuple[Column, ...], peak: int, peak_column: int, peak_label: str,
                 phases: Tuple[Tuple[str, int, int], ...], thinned_from: int) -> None:
        self.columns = columns
        self.peak = peak
        self.peak_column = peak_column
        self.peak_label = peak_label
        self.phases = phases
        self.thinned_from = thinned_from


def stacked(point: TracePoint, overhead: int) -> Tuple[int, ...]:
    by_name = dict(zip(CATEGORIES, point.live), overhead=overhead)
    return tuple(by_name[name] for name in STACK)


def timeline(analysis: Analysis, *, max_columns: int = 600) -> Optional[Timeline]:
    """The training step's timeline, or None when the estimate has no trace."""
    if analysis.memory.trace is None:
        return None
    trace: MemoryTrace = analysis.memory.trace()
    return _chart(trace.points, trace.overhead, trace.peak, _where(analysis, trace), max_columns)


def serving_timeline(analysis: Analysis, *, max_columns: int = 600) -> Optional[Timeline]:
    """The prefill then one decode step of the ``inference:`` section, or None without one."""
    serving = analysis.inference
    if serving is None or serving.trace is None:
        return None
    prefill, decode = serving.trace()
    points = tuple(p.replace(phase="prefill") for p in prefill.points) + \
        tuple(p.replace(phase="decode") for p in decode.points)
    where = "prefill" if prefill.peak >= decode.peak else "decode"
    return _chart(points, prefill.overhead, max(prefill.peak, decode.peak),
                  f"{where} (batch {serving.batch_size}, {serving.prompt_tokens:,}-token prompt)", max_columns)


def _chart(points: Tuple[TracePoint, ...], overhead: int, peak: int, where: str, max_columns: int) -> Timeline:
    peak_index = _peak_index(points, peak - overhead)
    kept = _thin(points, peak_index, max_columns)
    columns = tuple(Column(points[i], stacked(points[i], overhead)) for i in kept)
    phases: List[Tuple[str, int, int]] = []
    for index, column in enumerate(columns):
        phase = column.point.phase
        if phases and phases[-1][0] == phase:
            phases[-1] = (phase, phases[-1][1], index)
        else:
            phases.append((phase, index, index))
    return Timeline(columns, peak, kept.index(peak_index), where, tuple(phases), len(points))


def _peak_index(points: Sequence[TracePoint], peak: int) -> int:
    """The first point at the simulated peak (the simulator keeps the first one too)."""
    for index, point in enumerate(points):
        if point.total == peak:
            return index
    raise ValueError("the trace does not reach the simulated peak")  # pragma: no cover - a simulator bug


def _thin(points: Sequence[TracePoint], peak_index: int, max_columns: int) -> List[int]:
    if len(points) <= max_columns:
        return list(range(len(points)))
    size = -(-len(points) // max_columns)
    kept = []
    for start in range(0, len(points), size):
        run = range(start, min(start + size, len(points)))
        kept.append(peak_index if peak_index in run else max(run, key=lambda i: points[i].total))
    return kept


def _where(analysis: Analysis, trace: MemoryTrace) -> str:
    if 0 <= trace.layer < len(analysis.shapes.layers):
        node = analysis.shapes.layers[trace.layer].node
        return f"{node.trace} {node.type} ({trace.phase})"
    return trace.phase


def breakdown(analysis: Analysis) -> List[Tuple[str, int]]:
    """What the peak is made of, in ``STACK`` order, without empty parts."""
    parts = dict(analysis.memory.parts())
    parts["parameters"] = parts.pop("params", 0)
    return [(name, parts[name]) for name in STACK if parts.get(name)]


class ParamGroup(Record):
    """A top-level layer, or a top-level block use with its layers."""

    __slots__ = ("label", "kind", "params", "members")

    def __init__(self, label: str, kind: str, params: int, members: Tuple[Tuple[str, str, int], ...] = ()) -> None:
        self.label = label
        self.kind = kind
        self.params = params
        self.members = members  # (label inside the block, type, params)


def parameter_groups(analysis: Analysis) -> List[ParamGroup]:
    """Parameters per top-level entry, in the model's order (shared weights at their owner)."""
    groups: List[ParamGroup] = []
    open_use = None
    members: List[Tuple[str, str, int]] = []
    for info in analysis.shapes.layers:
        frames = info.node.frames
        if frames and frames[0] == open_use:
            members.append((" > ".join([f.label for f in frames[1:]] + [info.node.label]), info.node.type, info.params))
            continue
        if open_use is not None:
            groups.append(_block_group(open_use, members))
            open_use, members = None, []
        if frames:
            open_use = frames[0]
            members = [(" > ".join([f.label for f in frames[1:]] + [info.node.label]), info.node.type, info.params)]
        else:
            groups.append(ParamGroup(info.node.label, info.node.type, info.params))
    if open_use is not None:
        groups.append(_block_group(open_use, members))
    return groups


def _block_group(frame, members: List[Tuple[str, str, int]]) -> ParamGroup:
    label, _, block = frame.label.partition(" ")
    return ParamGroup(label, block, sum(m[2] for m in members), tuple(members))


SPARK_UNICODE = "▁▂▃▄▅▆▇█"
SPARK_ASCII = "_.-:=+*#"


def sparkline(chart: Timeline, *, width: int = 60, unicode: bool = True) -> str:
    """The timeline's totals as one line of at most ``width`` characters (the
    highest point of each stretch), scaled from the step's lowest point
    (:func:`low_point`) to its peak."""
    levels = SPARK_UNICODE if unicode else SPARK_ASCII
    totals = [column.total for column in chart.columns]
    low = low_point(chart)
    span = chart.peak - low + 1
    size = -(-len(totals) // width) if totals else 1
    marks = []
    for start in range(0, len(totals), size):
        value = max(totals[start:start + size]) - low
        marks.append(levels[min(len(levels) - 1, value * len(levels) // span)])
    return "".join(marks)


def low_point(chart: Timeline) -> int:
    return min((column.total for column in chart.columns), default=0)
