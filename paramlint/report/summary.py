"""The per-layer table people know from torchinfo, with blocks as a tree."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

from ..core.units import format_bytes
from ..lint import FileReport
from ..model.analysis import LayerInfo
from ..model.graph import Frame
from ..model.training import OPTIMIZERS
from .finetune import finetune_lines

HEADER = ("Layer", "Type", "Output shape", "Params", "FLOPs")


def _shape(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _subtotals(layers: Sequence[LayerInfo]) -> Dict[Tuple[Frame, ...], Tuple[int, int]]:
    totals: Dict[Tuple[Frame, ...], Tuple[int, int]] = {}
    for info in layers:
        frames = info.node.frames
        for depth in range(1, len(frames) + 1):
            params, flops = totals.get(frames[:depth], (0, 0))
            totals[frames[:depth]] = (params + info.params, flops + info.result.flops)
    return totals


def layer_rows(layers: Sequence[LayerInfo], inputs: Dict[str, Sequence[int]],
               activations: Optional[Sequence[int]] = None) -> List[Tuple[str, ...]]:
    """The table's rows; with ``activations`` (bytes each layer keeps alive for
    backward) a last column shows them, summed for blocks."""
    rows = _layer_rows(layers, inputs)
    if activations is None:
        return rows
    kept: Dict[Tuple[Frame, ...], int] = {}
    for info in layers:
        frames = info.node.frames
        for depth in range(1, len(frames) + 1):
            kept[frames[:depth]] = kept.get(frames[:depth], 0) + activations[info.node.index]
    cells = ["-"] * len(inputs)
    open_frames: Tuple[Frame, ...] = ()
    for info in layers:
        frames = info.node.frames
        common = _shared_depth(frames, open_frames)
        cells += [_bytes_cell(kept[frames[:depth + 1]]) for depth in range(common, len(frames))]
        open_frames = frames
        cells.append(_bytes_cell(activations[info.node.index]))
    return [row + (cell,) for row, cell in zip(rows, cells)]


def _shared_depth(frames: Tuple[Frame, ...], open_frames: Tuple[Frame, ...]) -> int:
    """How many block uses a layer shares with the rows above it; the rest open new block rows."""
    common = 0
    while common < min(len(frames), len(open_frames)) and frames[common] == open_frames[common]:
        common += 1
    return common


def _bytes_cell(value: int) -> str:
    return format_bytes(value) if value else "-"


def _layer_rows(layers: Sequence[LayerInfo], inputs: Dict[str, Sequence[int]]) -> List[Tuple[str, ...]]:
    rows: List[Tuple[str, ...]] = [(name, "input", _shape(shape), "-", "-") for name, shape in inputs.items()]
    subtotals = _subtotals(layers)
    open_frames: Tuple[Frame, ...] = ()
    for info in layers:
        frames = info.node.frames
        common = _shared_depth(frames, open_frames)
        for depth in range(common, len(frames)):
            params, flops = subtotals[frames[:depth + 1]]
            frame = frames[depth]
            rows.append(("  " * depth + frame.label.rsplit(" ", 2 if "#" in frame.label else 1)[0],
                         frame.label.split(" ", 1)[1], "", f"{params:,}", f"{flops:,}"))
        open_frames = frames
        indent = "  " * len(frames)
        params = f"{info.params:,}" + ("" if info.node.trainable or not info.params else " (frozen)")
        if info.node.shares is not None:
            params += " (tied)"
        rows.append((indent + info.node.label, info.node.type, _shape(info.output.shape), params,
                     f"{info.result.flops:,}"))
    return rows


def _table(rows: Sequence[Tuple[str, ...]]) -> List[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = {3, 4, 5}
    lines = []
    for index, row in enumerate(rows):
        cells = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("-" * len(lines[0]))
    return lines


def render_summary(report: FileReport) -> str:
    analysis = report.analysis
    assert analysis is not None
    shapes = analysis.shapes
    memory = analysis.memory
    rows = [HEADER + ("Activations",)] + layer_rows(shapes.layers, {n: t.shape for n, t in shapes.inputs.items()},
                                                    memory.layer_activations or None)
    lines = [f"{report.name or report.path}"] + _table(rows)
    rule = "=" * max(len(line) for line in lines[1:3])
    setup = analysis.training
    per = analysis.optimizer_state / analysis.trainable_params if analysis.trainable_params else 0
    lines += [
        rule,
        f"Total params:          {analysis.params:,}",
        f"Trainable params:      {analysis.trainable_params:,}",
        f"Non-trainable params:  {analysis.params - analysis.trainable_params:,}",
        f"Buffers:               {shapes.buffers:,} values",
        f"Output shape:          {_shape(shapes.output.shape)}",
        f"Forward FLOPs/sample:  {shapes.flops:,}",
        f"Optimizer state:       {analysis.optimizer_state:,} values ({setup.optimizer}: {per:g} per trainable "
        f"parameter; {OPTIMIZERS[setup.optimizer].doc})",
    ] + finetune_lines(analysis) + [
        f"Training step FLOPs:   {memory.forward_flops + memory.backward_flops:,} (forward "
        f"{memory.forward_flops:,} + backward {memory.backward_flops:,}, batch {setup.batch_size})",
        f"Memory per device at batch {setup.batch_size} ({setup.precision}"
        + (f", {setup.sharding} over {setup.devices} devices" if setup.sharding != "none" else "") + "):",
        f"  peak {format_bytes(memory.peak)} (in {memory.phase}); inference (eval) "
        f"{format_bytes(memory.inference_peak)}; saved by the forward pass {format_bytes(memory.forward_activations)}",
    ] + _breakdown(memory)
    for use in analysis.budgets:
        value = format_bytes(use.value) if use.is_bytes else f"{use.value:,}"
        limit = format_bytes(use.limit) if use.is_bytes else f"{use.limit:,}"
        mark = "EXCEEDED" if use.exceeded else "ok"
        lines.append(f"Budget {use.name}: {value} of {limit} ({100 * use.fraction:.1f}%) {mark}")
    lines.append(rule)
    return "\n".join(lines)


def _breakdown(memory) -> List[str]:
    """The peak's parts, largest first, with their shares."""
    parts = sorted(((v, k) for k, v in memory.parts().items() if v), reverse=True)
    return [f"  {name.replace('_', ' '):16s} {format_bytes(value):>10s}  {100 * value / memory.peak:5.1f}%"
            for value, name in parts]
