"""The per-layer table people know from torchinfo, with blocks as a tree."""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ..core.units import format_bytes
from .charts import low_point, sparkline, timeline
from ..lint import FileReport
from ..model.analysis import LayerInfo
from ..model.graph import Frame
from ..model.layers.language import idle_expert_params
from ..model.training import OPTIMIZERS
from .finetune import finetune_lines

HEADER = ("Layer", "Type", "Output shape", "Params", "FLOPs")
# The last column: the bytes each layer's forward leaves saved for backward at the batch size (docs/memory.md).
SAVED_HEADER = "Saved for backward"
NOT_COUNTED = "not counted"  # a layer whose work FlopCounterMode does not see (LayerResult.uncounted)


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


def _block_outputs(layers: Sequence[LayerInfo]) -> Dict[Tuple[Frame, ...], Sequence[int]]:
    """The output shape of each block use: the layer read from outside the block, else its last layer."""
    by_index = {info.node.index: info for info in layers}
    outputs: Dict[Tuple[Frame, ...], Sequence[int]] = {}
    for info in layers:
        frames = info.node.frames
        for depth in range(1, len(frames) + 1):
            outputs[frames[:depth]] = info.output.shape
    for info in layers:
        for source in info.node.sources:
            producer = by_index.get(source.node) if source.node is not None else None
            if producer is None:
                continue
            theirs = producer.node.frames
            for depth in range(1, len(theirs) + 1):
                if info.node.frames[:depth] != theirs[:depth]:
                    outputs[theirs[:depth]] = producer.result.outputs[source.output].shape
    return outputs


def _layer_rows(layers: Sequence[LayerInfo], inputs: Dict[str, Sequence[int]]) -> List[Tuple[str, ...]]:
    rows: List[Tuple[str, ...]] = [(name, "input", _shape(shape), "-", "-") for name, shape in inputs.items()]
    subtotals = _subtotals(layers)
    block_outputs = _block_outputs(layers)
    open_frames: Tuple[Frame, ...] = ()
    for info in layers:
        frames = info.node.frames
        common = _shared_depth(frames, open_frames)
        for depth in range(common, len(frames)):
            params, flops = subtotals[frames[:depth + 1]]
            frame = frames[depth]
            rows.append(("  " * depth + frame.label.rsplit(" ", 2 if "#" in frame.label else 1)[0],
                         frame.label.split(" ", 1)[1], _shape(block_outputs[frames[:depth + 1]]), f"{params:,}",
                         f"{flops:,}"))
        open_frames = frames
        indent = "  " * len(frames)
        params = f"{info.params:,}" + ("" if info.node.trainable or not info.params else " (frozen)")
        if info.node.shares is not None:
            params += " (tied)"
        flops = NOT_COUNTED if info.result.uncounted and not info.result.flops else f"{info.result.flops:,}"
        rows.append((indent + info.node.label, info.node.type, _shape(info.output.shape), params, flops))
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


def render_summary(report: FileReport, *, unicode: bool = True) -> str:
    analysis = report.analysis
    assert analysis is not None
    shapes = analysis.shapes
    memory = analysis.memory
    rows = [HEADER + (SAVED_HEADER,)] + layer_rows(shapes.layers, {n: t.shape for n, t in shapes.inputs.items()},
                                                   memory.layer_activations or None)
    lines = [f"{report.name or report.path}"] + _table(rows)
    rule = "=" * max(len(line) for line in lines[1:3])
    setup = analysis.training
    per = analysis.optimizer_state / analysis.trainable_params if analysis.trainable_params else 0
    defaults = setup.defaults_note()
    lines += [rule, *_uncounted(shapes.layers)]
    lines += [
        f"Total params:          {analysis.params:,}",
        f"Trainable params:      {analysis.trainable_params:,}",
        f"Non-trainable params:  {analysis.params - analysis.trainable_params:,}",
        *_active_line(shapes),
        f"Buffers:               {shapes.buffers:,} values",
        f"Output shape:          {_shape(shapes.output.shape)}",
        f"Forward FLOPs/sample:  {shapes.flops:,}",
    ]
    if defaults:
        lines.append(f"Training:              {defaults}: not set in the config's `training:`")
    lines += [
        f"Optimizer state:       {analysis.optimizer_state:,} values ({setup.optimizer}, {per:g} per trainable "
        f"parameter: {OPTIMIZERS[setup.optimizer].doc})",
    ] + finetune_lines(analysis) + [
        f"Training step FLOPs:   {memory.forward_flops + memory.backward_flops:,} (forward "
        f"{memory.forward_flops:,} + backward {memory.backward_flops:,}, batch {setup.batch_size})",
        f"Memory per device at batch {setup.batch_size} ({setup.precision}"
        + (f", {setup.sharding} over {setup.devices} devices" if setup.sharding != "none" else "") + "):",
        f"  peak {format_bytes(memory.peak)} (in {memory.phase}); inference (eval) "
        f"{format_bytes(memory.inference_peak)}",
        _saved_line(memory),
    ] + _sparkline(analysis, unicode) + _breakdown(memory) + _serving(analysis.inference) + _front_lines(analysis.front, shapes)
    for use in analysis.budgets:
        value = format_bytes(use.value) if use.is_bytes else f"{use.value:,}"
        limit = format_bytes(use.limit) if use.is_bytes else f"{use.limit:,}"
        mark = "EXCEEDED" if use.exceeded else "ok"
        lines.append(f"Budget {use.name}: {value} of {limit} ({100 * use.fraction:.1f}%) {mark}")
    lines.append(rule)
    return "\n".join(lines)


def _sparkline(analysis, unicode: bool) -> List[str]:
    """The step's memory over time in one line (``--format html`` and ``svg`` draw it)."""
    chart = timeline(analysis, max_columns=480)
    if chart is None:
        return []
    return [f"  over the step: {sparkline(chart, unicode=unicode)} ({format_bytes(low_point(chart))} to "
            f"{format_bytes(chart.peak)}; forward, backward, optimizer)"]


def _serving(serving) -> List[str]:
    """The inference section's figures (none without one)."""
    if serving is None:
        return []
    return [
        f"Serving at batch {serving.batch_size} ({serving.prompt_tokens:,}-token prompt, {serving.cached_tokens:,} "
        f"tokens cached):",
        f"  weights {format_bytes(serving.weights)}; KV cache {format_bytes(serving.kv_cache)} "
        f"({serving.kv_per_token:,} bytes per token per sequence)",
        f"  prefill peak {format_bytes(serving.prefill_peak)}; decode peak {format_bytes(serving.decode_peak)}",
        f"  FLOPs: prefill {serving.prefill_flops:,}; one decode step {serving.decode_flops:,}",
    ]


def _front_lines(front: Mapping[str, Any], shapes: Any) -> List[str]:
    """model.info()'s line for an Ultralytics import, and why its GFLOPs differ from the FLOPs above."""
    if front.get("convention") != "ultralytics":
        return []
    return [
        f"Ultralytics model.info() (scale {front['scale'] or '-'}, imgsz {front['imgsz']}): {front['layers']:,} layers, "
        f"{shapes.params:,} parameters, {shapes.trainable_params:,} gradients, {front['gflops']:.1f} GFLOPs",
        f"  GFLOPs {front['gflops']:.4f} by thop's rules (BatchNorm 4 per element, no conv bias; get_flops) "
        f"vs {shapes.flops / 1e9:.4f} by FlopCounterMode (convolutions, linears and matmuls only, bias included)",
    ]


def _active_line(shapes) -> List[str]:
    """Mixtures of experts: the parameters one token uses."""
    idle = idle_expert_params((info.node.type, info.result.args) for info in shapes.layers)
    return [f"Active params/token:   {shapes.params - idle:,} (each token's top-k experts)"] if idle else []


def _breakdown(memory) -> List[str]:
    """The peak's parts, largest first, with their shares."""
    parts = sorted(((v, k) for k, v in memory.parts().items() if v), reverse=True)
    return [f"  {name.replace('_', ' '):16s} {format_bytes(value):>10s}  {100 * value / memory.peak:5.1f}%"
            for value, name in parts]


def _uncounted(layers: Sequence[LayerInfo]) -> List[str]:
    """A note under the table for each kind of work FlopCounterMode does not see."""
    reasons = dict.fromkeys(info.result.uncounted for info in layers if info.result.uncounted and not info.result.flops)
    return [f"FLOPs {NOT_COUNTED}: {reason} (0 in the totals, as FlopCounterMode reports)" for reason in reasons]


def _saved_line(memory) -> str:
    """How the table's last column adds up, and how it relates to the breakdown's activations."""
    layers = sum(memory.layer_activations)
    rest = memory.forward_activations - layers
    return (f"  saved by the forward pass {format_bytes(memory.forward_activations)} ({SAVED_HEADER!r} column "
            f"{format_bytes(layers)}" + (f" + output and loss {format_bytes(rest)}" if rest else "")
            + f"); {format_bytes(memory.activations)} of it held at the peak ('activations' below)")
