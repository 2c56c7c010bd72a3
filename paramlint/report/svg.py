"""Inline SVG charts: the memory timeline, the breakdown at the peak, and the
parameters per top-level layer; and ``--format svg``, one standalone SVG
document with a model's three charts (several models are stacked in one
document, each under its own heading).

Pure string building: every text that comes from a config is escaped, ids are
unique per chart (several charts share one HTML page), and every chart has a
``<title>`` and a ``<desc>`` for screen readers.  No scripts, no fonts from
anywhere: the page stays one self-contained file.
"""
from __future__ import annotations

from html import escape as _escape
from typing import Dict, List, Optional, Sequence, Tuple

from ..core.units import format_bytes
from ..lint import FileReport
from .escape import printable
from .charts import LABELS, STACK, ParamGroup, Timeline, breakdown, parameter_groups, serving_timeline, timeline

COLORS: Dict[str, str] = {
    "overhead": "#8c959f", "parameters": "#0969da", "buffers": "#54aeff", "optimizer_state": "#8250df",
    "gradients": "#bf3989", "inputs": "#bc4c00", "activations": "#1a7f37", "transient": "#d4a72c",
}
def escape(text: str) -> str:
    """Escaped for XML text and attributes; control characters (which XML cannot hold) written as escapes."""
    return _escape(printable(text))


FONT = 'font-family="system-ui,-apple-system,Segoe UI,sans-serif"'
WIDTH = 760


def _text(x: float, y: float, body: str, *, size: int = 12, anchor: str = "start", weight: str = "normal",
          fill: str = "#1f2328", extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" font-weight="{weight}" '
            f'fill="{fill}"{extra}>{escape(body)}</text>')


def _open(width: int, height: int, key: str, title: str, desc: str, *, standalone: bool, extra: str = "") -> str:
    namespace = ' xmlns="http://www.w3.org/2000/svg"' if standalone else ""
    return (f'<svg{namespace} width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-labelledby="{key}-title {key}-desc" {FONT}{extra}>'
            f'<title id="{key}-title">{escape(title)}</title><desc id="{key}-desc">{escape(desc)}</desc>')


def _ticks(top: int) -> List[int]:
    """Round byte values for the y axis: 1, 2 or 5 times a power of 1024 or of ten of them."""
    if top <= 0:
        return [0]
    raw = top / 4
    unit = 1
    while unit * 1024 <= raw:
        unit *= 1024
    step = unit
    for factor in (1, 2, 5, 10, 20, 50, 100, 200, 500):
        step = unit * factor
        if step * 6 >= top:
            break
    return list(range(0, top + 1, step))


def timeline_svg(chart: Timeline, *, key: str, title: str, capacity: Optional[Tuple[str, int]] = None,
                 standalone: bool = False, scale: int = 0, kind: str = "timeline",
                 caption: str = "forward, loss, backward and optimizer step, in the order they run") -> str:
    """Stacked areas of live bytes by kind over the step's moments, the phases
    as bands, the peak marked with its value and layer, and ``capacity``
    (label, bytes) as a dashed line when it is on the chart's scale.
    ``scale``: the y axis reaches at least this many bytes (charts compared
    side by side share one scale)."""
    left, right, top, bottom = 78, 18, 34, 64
    height = 318
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    columns = chart.columns
    shown_capacity = capacity if capacity and capacity[1] <= 4 * chart.peak else None
    y_max = max(chart.peak, scale, shown_capacity[1] if shown_capacity else 0) * 1.08 or 1
    count = max(len(columns) - 1, 1)

    def x(i: int) -> float:
        return left + plot_w * i / count

    def y(v: float) -> float:
        return top + plot_h * (1 - v / y_max)

    desc = (f"{title}: peak {format_bytes(chart.peak)} at {chart.peak_label}. "
            f"{len(columns)} points" + (f" (of {chart.thinned_from})" if chart.thinned_from > len(columns) else "")
            + "; kinds: " + ", ".join(LABELS[n] for n in STACK) + ".")
    parts = [_open(WIDTH, height, key, title, desc, standalone=standalone,
                   extra=f' class="{kind}" data-peak="{chart.peak}"'),
             f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>']
    for phase, first, last in chart.phases:  # bands
        x0, x1 = x(first), x(last) if last > first else x(first) + 1
        shade = "#f6f8fa" if phase in ("forward", "optimizer") else "#ffffff"
        parts.append(f'<rect x="{x0:.1f}" y="{top}" width="{max(x1 - x0, 1):.1f}" height="{plot_h}" fill="{shade}"/>')
        if x1 - x0 > 40:
            parts.append(_text((x0 + x1) / 2, top - 8, phase, size=11, anchor="middle", fill="#656d76"))
    for tick in _ticks(int(y_max)):
        parts.append(f'<line x1="{left}" x2="{WIDTH - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                     f'stroke="#d0d7de" stroke-width="0.5"/>')
        parts.append(_text(left - 6, y(tick) + 4, format_bytes(tick), size=10, anchor="end", fill="#656d76"))
    below = [0] * len(columns)
    for kind_index, kind in enumerate(STACK):
        above = [b + c.values[kind_index] for b, c in zip(below, columns)]
        if any(a != b for a, b in zip(above, below)):
            upper = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(above))
            lower = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in reversed(list(enumerate(below))))
            parts.append(f'<polygon class="kind-{kind}" points="{upper} {lower}" fill="{COLORS[kind]}" '
                         f'fill-opacity="0.85"><title>{escape(LABELS[kind])}</title></polygon>')
        below = above
    if shown_capacity:
        label, value = shown_capacity
        parts.append(f'<line class="capacity" x1="{left}" x2="{WIDTH - right}" y1="{y(value):.1f}" '
                     f'y2="{y(value):.1f}" stroke="#cf222e" stroke-width="1.5" stroke-dasharray="6 4"/>')
        parts.append(_text(WIDTH - right - 4, y(value) - 5, f"{label}: {format_bytes(value)}", size=11,
                           anchor="end", fill="#cf222e"))
    elif capacity:
        parts.append(_text(WIDTH - right - 4, top + 12, f"{capacity[0]}: {format_bytes(capacity[1])} (off scale)",
                           size=11, anchor="end", fill="#cf222e"))
    px, py = x(chart.peak_column), y(chart.peak)
    label = _fit(f"peak {format_bytes(chart.peak)}: {chart.peak_label}", plot_w * 0.7, 12)
    room_right = WIDTH - right - px
    anchor = "start" if _width(label, 12) + 8 <= room_right else "end" if _width(label, 12) + 8 <= px - left \
        else "middle"
    offset = {"start": 8, "end": -8, "middle": 0}[anchor]
    if anchor == "middle":
        px_label = min(max(px, left + _width(label, 12) / 2), WIDTH - right - _width(label, 12) / 2)
    else:
        px_label = px + offset
    parts += [f'<line class="peak" x1="{px:.1f}" x2="{px:.1f}" y1="{py:.1f}" y2="{top + plot_h}" stroke="#1f2328" '
              f'stroke-width="1" stroke-dasharray="2 2"/>',
              f'<circle class="peak-marker" cx="{px:.1f}" cy="{py:.1f}" r="4" fill="#cf222e" '
              f'data-peak="{chart.peak}"/>',
              _text(px_label, max(py - 8, top + 10), label, size=12, anchor=anchor,
                    weight="600", extra=' class="peak-label"'),
              f'<line x1="{left}" x2="{WIDTH - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#57606a"/>',
              _text(left, height - 44, caption, size=10, fill="#656d76")]
    parts.append(_legend(left, height - 26, [k for k in STACK if any(c.values[STACK.index(k)] for c in columns)]))
    parts.append("</svg>")
    return "".join(parts)


def _width(text: str, size: int) -> float:
    """A text's width, roughly (0.58 em a character): enough to keep labels inside the chart."""
    return 0.58 * size * len(text)


def _fit(text: str, room: float, size: int) -> str:
    most = max(int(room / (0.58 * size)), 4)
    return text if len(text) <= most else text[:most - 1] + "…"


def _legend(x0: float, y0: float, kinds: Sequence[str]) -> str:
    """Swatches and names, wrapped onto a second row when they do not fit one."""
    parts, x, y = [], x0, y0
    for kind in kinds:
        width = 22 + _width(LABELS[kind], 10)
        if x + width > WIDTH - 10 and x > x0:
            x, y = x0, y + 16
        parts.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{COLORS[kind]}"/>')
        parts.append(_text(x + 14, y, LABELS[kind], size=10))
        x += width
    return "".join(parts)


def breakdown_svg(parts: Sequence[Tuple[str, int]], *, key: str, title: str, standalone: bool = False) -> str:
    """One stacked bar of the peak's parts, each labelled with its value and share."""
    total = sum(value for _, value in parts) or 1
    left, bar_w, height = 10, WIDTH - 20, 64 + 18 * ((len(parts) + 2) // 3)
    desc = "At the peak: " + "; ".join(f"{LABELS[k]} {format_bytes(v)} ({100 * v / total:.1f}%)" for k, v in parts)
    out = [_open(WIDTH, height, key, title, desc, standalone=standalone, extra=' class="breakdown"'),
           f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>']
    x = float(left)
    for kind, value in parts:
        width = bar_w * value / total
        out.append(f'<rect class="part-{kind}" x="{x:.1f}" y="8" width="{max(width, 0.5):.1f}" height="26" '
                   f'fill="{COLORS[kind]}"><title>{escape(LABELS[kind])}: {format_bytes(value)}</title></rect>')
        if width > 70:
            out.append(_text(x + width / 2, 25, f"{100 * value / total:.0f}%", size=11, anchor="middle",
                             fill="#ffffff", weight="600"))
        x += width
    for index, (kind, value) in enumerate(parts):
        column, row = index % 3, index // 3
        lx, ly = left + column * (bar_w / 3), 54 + row * 18
        out.append(f'<rect x="{lx:.1f}" y="{ly - 9:.1f}" width="10" height="10" fill="{COLORS[kind]}"/>')
        out.append(_text(lx + 14, ly, f"{LABELS[kind]}: {format_bytes(value)} ({100 * value / total:.1f}%)", size=11))
    out.append("</svg>")
    return "".join(out)


def parameters_svg(groups: Sequence[ParamGroup], *, key: str, title: str, standalone: bool = False,
                   max_rows: int = 60) -> str:
    """A bar per top-level layer or block use, in the model's order, with its count and share."""
    total = sum(g.params for g in groups) or 1
    shown = list(groups[:max_rows])
    row_h, label_w, right = 18, 230, 150
    height = 16 + row_h * len(shown) + (18 if len(groups) > max_rows else 0)
    bar_w = WIDTH - label_w - right
    largest = max((g.params for g in shown), default=0) or 1
    desc = f"{total:,} parameters in {len(groups)} top-level entries; " + "; ".join(
        f"{g.label} {g.kind} {g.params:,}" for g in shown[:20]) + ("; ..." if len(groups) > 20 else "")
    out = [_open(WIDTH, height, key, title, desc, standalone=standalone, extra=' class="parameters"'),
           f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>']
    for index, group in enumerate(shown):
        y = 8 + row_h * index
        name = f"{group.label} {group.kind}"
        out.append(_text(label_w - 8, y + 12, _fit(name, label_w - 12, 11), size=11, anchor="end"))
        width = bar_w * group.params / largest
        out.append(f'<rect x="{label_w}" y="{y + 2}" width="{max(width, 0.5 if group.params else 0):.1f}" '
                   f'height="{row_h - 5}" fill="#0969da"><title>{escape(name)}: {group.params:,}</title></rect>')
        out.append(_text(label_w + width + 6, y + 12, f"{group.params:,} ({100 * group.params / total:.1f}%)",
                         size=11, fill="#57606a"))
    if len(groups) > max_rows:
        out.append(_text(label_w, height - 6, f"... and {len(groups) - max_rows} more entries", size=11,
                         fill="#656d76"))
    out.append("</svg>")
    return "".join(out)


def chart_kind(chart: str) -> str:
    """A chart's kind, from its class: ``timeline``, ``serving``, ``breakdown`` or ``parameters``."""
    head = chart[:chart.index(">")]
    return head.split(' class="', 1)[1].split('"', 1)[0] if ' class="' in head else ""


def capacity_of(report: FileReport, gpu: Optional[str]) -> Optional[Tuple[str, int]]:
    """The line drawn across the timeline: the named GPU's memory, else the config's memory budget."""
    if gpu:
        from ..memory.search import GPUS

        return gpu, GPUS[gpu]
    analysis = report.analysis
    for use in analysis.budgets if analysis is not None else ():
        if use.name == "memory":
            return "memory budget", use.limit
    return None


def model_charts(report: FileReport, *, key: str, standalone: bool = False, gpu: Optional[str] = None,
                 scale: int = 0) -> List[str]:
    """The three charts of one model (nothing when it has no analysis); ``gpu``: a name of
    ``paramlint.memory.search.GPUS`` whose memory is drawn as a line."""
    analysis = report.analysis
    if analysis is None:
        return []
    capacity = capacity_of(report, gpu)
    name = report.name or report.path
    setup = analysis.training
    charts = []
    chart = timeline(analysis)
    if chart is not None:
        charts.append(timeline_svg(chart, key=f"{key}-timeline", standalone=standalone, capacity=capacity, scale=scale,
                                   title=f"{name}: memory over one training step (batch {setup.batch_size}, "
                                         f"{setup.precision})"))
    serving = serving_timeline(analysis)
    if serving is not None:
        charts.append(timeline_svg(serving, key=f"{key}-serving", standalone=standalone, capacity=capacity, kind="serving",
                                   title=f"{name}: memory while serving (prefill, then one decode step)",
                                   caption="prefill over the whole prompt, then one decode step; the KV cache "
                                           "is among the saved activations"))
    parts = breakdown(analysis)
    if parts:
        charts.append(breakdown_svg(parts, key=f"{key}-breakdown", standalone=standalone,
                                    title=f"{name}: the peak, {format_bytes(analysis.memory.peak)}, by kind"))
    charts.append(parameters_svg(parameter_groups(analysis), key=f"{key}-params", standalone=standalone,
                                 title=f"{name}: where the {analysis.params:,} parameters live"))
    return charts


def render(reports: Sequence[FileReport], *, gpu: Optional[str] = None, **_: object) -> str:
    """``--format svg``: one SVG document, each model's charts under its name."""
    blocks: List[Tuple[str, List[str], int]] = []
    for index, report in enumerate(r for r in reports if r.analysis is not None):
        charts = model_charts(report, key=f"m{index}", gpu=gpu)
        heights = [int(chart.split('height="', 1)[1].split('"', 1)[0]) for chart in charts]
        blocks.append((report.name or report.path, charts, sum(heights) + 12 * len(charts) + 30))
    total = sum(height for _, _, height in blocks) or 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{total}" '
           f'viewBox="0 0 {WIDTH} {total}" role="img" aria-labelledby="doc-title" {FONT}>',
           '<title id="doc-title">paramlint: memory and parameters</title>',
           f'<rect x="0" y="0" width="{WIDTH}" height="{total}" fill="#ffffff"/>']
    y = 0
    if not blocks:
        out.append(_text(10, 24, "No model configs were analysed.", size=13))
    for name, charts, height in blocks:
        out.append(_text(10, y + 20, name, size=15, weight="600"))
        inner = y + 30
        for chart in charts:
            chart_height = int(chart.split('height="', 1)[1].split('"', 1)[0])
            out.append(f'<svg x="0" y="{inner}"' + chart[len("<svg"):])
            inner += chart_height + 12
        y += height
    out.append("</svg>")
    return "".join(out) + "\n"
