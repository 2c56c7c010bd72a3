"""``paramlint diff --format html``: the two models side by side.

The totals with their changes highlighted, each side's memory timeline and
breakdown at the peak (the charts of ``svg.py``), and the layers that were
added, removed or changed.  One self-contained page, like the lint report.
"""
from __future__ import annotations

from html import escape
from typing import Sequence, Tuple

from .. import __version__
from ..lint import FileReport
from .html import CSP, STYLE
from .svg import chart_kind, model_charts

DIFF_STYLE = """
.sides{display:grid;grid-template-columns:1fr 1fr;gap:1.5rem}.sides figure{margin:0}
tr.changed td{background:#fff8c5}tr.changed td.up{color:#cf222e;font-weight:600}
tr.changed td.down{color:#1a7f37;font-weight:600}
li.added{color:#1a7f37}li.removed{color:#cf222e}li.changed{color:#9a6700}
@media print{.sides{grid-template-columns:1fr}}
"""

# (label, old, new, change, direction): direction > 0 grew, < 0 shrank, 0 unchanged
TotalRow = Tuple[str, str, str, str, int]


def render(names: Tuple[str, str], reports: Sequence[FileReport], totals: Sequence[TotalRow],
           layers: Sequence[Tuple[str, str]]) -> str:
    """``layers``: (kind, text) per changed layer, kind ``added``, ``removed`` or ``changed``."""
    lines = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">', CSP,
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>paramlint diff {escape(names[0])} → {escape(names[1])}</title>",
             f"<style>{STYLE}{DIFF_STYLE}</style>", "</head>", "<body>",
             f"<h1>paramlint diff: <code>{escape(names[0])}</code> → <code>{escape(names[1])}</code></h1>",
             "<table class=\"totals\"><thead><tr><th></th><th>Old</th><th>New</th><th>Change</th></tr></thead><tbody>"]
    for label, old, new, change, direction in totals:
        css = " class=\"changed\"" if direction else ""
        arrow = " up" if direction > 0 else " down" if direction < 0 else ""
        lines.append(f"<tr{css}><td>{escape(label)}</td><td class=\"num\">{escape(old)}</td>"
                     f"<td class=\"num\">{escape(new)}</td><td class=\"num{arrow}\">{escape(change)}</td></tr>")
    lines += ["</tbody></table>", "<h2>Memory</h2>", "<div class=\"sides\">"]
    scale = max(report.analysis.memory.peak for report in reports if report.analysis is not None)
    for side, (name, report) in enumerate(zip(names, reports)):
        charts = [chart for chart in model_charts(report, key=f"side{side}", scale=scale)  # one y scale for both
                  if chart_kind(chart) in ("timeline", "breakdown")]
        lines.append(f"<section><h3>{'Old' if side == 0 else 'New'}: <code>{escape(name)}</code></h3>"
                     + "".join(f"<figure>{chart}</figure>" for chart in charts) + "</section>")
    lines += ["</div>", "<h2>Layers</h2>"]
    if layers:
        lines.append("<ul class=\"layers\">" + "".join(f"<li class=\"{escape(kind)}\"><code>{escape(text)}</code></li>"
                                                      for kind, text in layers) + "</ul>")
    else:
        lines.append("<p>No layer changed.</p>")
    lines += [f"<footer>paramlint {escape(__version__)}</footer>", "</body>", "</html>"]
    return "\n".join(lines) + "\n"
