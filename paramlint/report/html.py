"""A self-contained HTML report: one page, inline CSS, no scripts, nothing fetched.

Per config: the verdict, the diagnostics, the budgets as bars, the charts
(memory over one training step, the breakdown at the peak, where the
parameters live: inline SVG from ``svg.py``) and the per-layer table, whose
blocks fold open and shut with ``<details>`` (no script needed), for a CI
artifact or a browser.
"""
from __future__ import annotations

from html import escape as _html_escape
from typing import List, Optional, Sequence

from .. import __version__
from ..core.diagnostics import ERROR
from ..core.units import format_bytes
from ..lint import Analysis, FileReport
from ..rules import RULES
from .charts import parameter_groups
from .escape import printable
from .summary import HEADER, layer_rows
from .svg import chart_kind, model_charts

# Nothing runs and nothing is fetched, whatever a config's names contain: the page works with scripts off.
CSP = ('<meta http-equiv="Content-Security-Policy" '
       'content="default-src \'none\'; style-src \'unsafe-inline\'; img-src data:">')
STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:72rem;color:#1f2328;
padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2.2rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
h3{font-size:1rem}code{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace}
table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #d0d7de;padding:.25rem .5rem;
text-align:left;vertical-align:top}th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
.failed{color:#cf222e}.passed{color:#1a7f37}.warned{color:#9a6700}
td.code{white-space:nowrap}tr.error td.code{color:#cf222e;font-weight:600}tr.warning td.code{color:#9a6700;font-weight:600}
.bar{width:12rem;height:.8rem;background:#eaeef2;border-radius:.4rem;overflow:hidden}
.bar span{display:block;height:100%;background:#1a7f37}.bar.over span{background:#cf222e}
td.tree{white-space:pre}footer{margin-top:3rem;color:#656d76;font-size:12px}
figure{margin:1rem 0}figure svg{max-width:100%;height:auto}figcaption{color:#656d76;font-size:12px}
.params{display:grid;grid-template-columns:16rem 1fr 9rem;gap:.15rem .5rem;align-items:center}
.params .pbar{height:.7rem;background:#0969da;border-radius:.2rem}
details.group>summary{cursor:pointer;display:grid;grid-template-columns:16rem 1fr 9rem;gap:.5rem;
align-items:center}details.group{grid-column:1/-1}details.group>summary>span:first-child::before{content:"▸ "}
details.group[open]>summary>span:first-child::before{content:"▾ "}
details.group .params{margin:.2rem 0 .4rem 1.2rem}
table.layers{table-layout:fixed;width:100%}table.layers td:first-child,table.layers th:first-child{width:30%}
details.rows>summary{cursor:pointer;padding:.2rem .5rem;border:1px solid #d0d7de;border-top:0}
details.rows table{margin:0}
@media print{details>*{display:block}figure{break-inside:avoid}}
"""


def escape(text: str) -> str:
    """HTML text with control characters written as escapes (``\\e``, ``\\x07``): nothing raw reaches the page."""
    return _html_escape(printable(text))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _state(report: FileReport) -> str:
    return "failed" if report.failed else "warned" if report.warnings else "passed"


def _diagnostics(report: FileReport) -> List[str]:
    if not report.diagnostics:
        return ["<p>No diagnostics.</p>"]
    rows = ["<table class=\"diagnostics\"><thead><tr><th>Line:col</th><th>Rule</th><th>Severity</th>"
            "<th>Message</th><th>Where</th></tr></thead><tbody>"]
    for d in report.diagnostics:
        rule = RULES.get(d.code)
        title = f' title="{escape(rule.summary)}"' if rule else ""
        name = f" {escape(rule.name)}" if rule else ""
        severity = "error" if d.severity == ERROR else "warning"
        rows.append(f'<tr class="{severity}"><td class="num">{d.line}:{d.column}</td>'
                    f'<td class="code"><abbr{title}>{escape(d.code)}</abbr>{name}</td><td>{severity}</td>'
                    f"<td>{escape(d.message)}</td><td><code>{escape(d.config_path)}</code></td></tr>")
    return rows + ["</tbody></table>"]


def _budgets(analysis: Analysis) -> List[str]:
    if not analysis.budgets:
        return []
    rows = ["<h3>Budgets</h3>", "<table class=\"budgets\"><thead><tr><th>Budget</th><th>Value</th><th>Limit</th>"
            "<th>Used</th><th></th></tr></thead><tbody>"]
    for use in analysis.budgets:
        show = format_bytes if use.is_bytes else (lambda v: f"{v:,}")
        used = 100 * use.fraction if use.limit else 100.0
        over = " over" if use.exceeded else ""
        rows.append(f"<tr><td>{escape(use.name)}</td><td class=\"num\">{show(use.value)}</td>"
                    f"<td class=\"num\">{show(use.limit)}</td><td class=\"num\">{used:.1f}%</td>"
                    f"<td><div class=\"bar{over}\"><span style=\"width:{min(used, 100.0):.1f}%\"></span></div></td></tr>")
    return rows + ["</tbody></table>"]


def _row(cells: Sequence[str]) -> str:
    label, kind, shape, params, flops = cells
    return (f"<tr><td class=\"tree\">{escape(label)}</td><td>{escape(kind)}</td><td>{escape(shape)}</td>"
            f"<td class=\"num\">{escape(params)}</td><td class=\"num\">{escape(flops)}</td></tr>")


def _layers(analysis: Analysis) -> List[str]:
    """The layer table; each top-level block use folds: its row is the summary of a ``<details>``."""
    shapes = analysis.shapes
    table = layer_rows(shapes.layers, {name: t.shape for name, t in shapes.inputs.items()})
    head = "".join(f"<th>{escape(h)}</th>" for h in HEADER)
    opening = "<table class=\"layers\"><tbody>"
    rows = ["<h3>Layers</h3>", f"<table class=\"layers\"><thead><tr>{head}</tr></thead><tbody>"]
    folded = False
    for cells in table:
        top_level_block = not cells[0].startswith(" ") and cells[2] == "" and cells[1] != "input"
        if top_level_block or (folded and not cells[0].startswith(" ")):
            rows.append("</tbody></table>" + ("</details>" if folded else ""))
            folded = False
        if top_level_block:
            summary = (f"{cells[0]} {cells[1]}: {cells[3]} params, {cells[4]} FLOPs")
            rows.append(f"<details class=\"rows\"><summary>{escape(summary)}</summary>{opening}")
            folded = True
        elif rows[-1].endswith("</table>") or rows[-1].endswith("</details>"):
            rows.append(opening)
        rows.append(_row(cells))
    return rows + ["</tbody></table>" + ("</details>" if folded else "")]


def _parameters(analysis: Analysis) -> List[str]:
    """Where the parameters live, as bars; a block use opens to its layers."""
    groups = parameter_groups(analysis)
    total = sum(g.params for g in groups) or 1
    largest = max((g.params for g in groups), default=0) or 1

    def line(label: str, params: int, scale: int) -> str:
        return (f"<span>{escape(label)}</span><div><div class=\"pbar\" style=\"width:{100 * params / scale:.1f}%\">"
                f"</div></div><span class=\"num\">{params:,} ({100 * params / total:.1f}%)</span>")

    out = ["<h3>Where the parameters live</h3>", "<div class=\"params\">"]
    for group in groups:
        if not group.members:
            out.append(line(f"{group.label} {group.kind}", group.params, largest))
            continue
        inner = max((m[2] for m in group.members), default=0) or 1
        out.append(f"<details class=\"group\"><summary>{line(f'{group.label} {group.kind}', group.params, largest)}"
                   f"</summary>"
                   f"<div class=\"params\">" + "".join(line(f"{m[0]} {m[1]}", m[2], inner) for m in group.members)
                   + "</div></details>")
    return out + ["</div>"]


CAPTIONS = {
    "timeline": "Memory over one training step, by kind; the peak is marked.",
    "serving": "Memory while serving: the prefill, then one decode step; the peak is marked.",
    "breakdown": "The training step's peak, by kind.",
}


def _charts(index: int, report: FileReport, gpu: Optional[str]) -> List[str]:
    """The memory charts (the parameters are drawn below, with folding blocks)."""
    out = ["<h3>Memory</h3>"]
    for chart in model_charts(report, key=f"f{index}", gpu=gpu):
        kind = chart_kind(chart)
        if kind in CAPTIONS:
            out.append(f"<figure>{chart}<figcaption>{escape(CAPTIONS[kind])}</figcaption></figure>")
    return out


def _file(index: int, report: FileReport, gpu: Optional[str]) -> List[str]:
    state = _state(report)
    title = escape(report.path) + (f" ({escape(report.name)})" if report.name else "")
    lines = [f'<section class="file" id="file-{index}">', f'<h2 class="{state}">{title}: {state}</h2>']
    analysis = report.analysis
    if analysis is not None:
        setup = analysis.training
        lines.append(f"<p>{analysis.params:,} parameters ({analysis.trainable_params:,} trainable), "
                     f"{analysis.flops:,} forward FLOPs per sample, {escape(setup.optimizer)} state "
                     f"{analysis.optimizer_state:,} values, peak training memory "
                     f"{format_bytes(analysis.memory.peak)} per device at batch size {setup.batch_size} "
                     f"({escape(setup.precision)}).</p>")
    lines += _diagnostics(report)
    if analysis is not None:
        lines += _budgets(analysis) + _charts(index, report, gpu) + _parameters(analysis) + _layers(analysis)
    return lines + ["</section>"]


def render(reports: Sequence[FileReport], *, gpu: Optional[str] = None, **_: object) -> str:
    """``gpu``: a GPU whose memory the timelines draw as a line (else a memory budget, if any)."""
    linted = [r for r in reports if not r.skipped]
    failed = sum(1 for r in linted if r.failed)
    verdict = "failed" if failed else "passed"
    summary = (f"{failed} of {_plural(len(linted), 'file')} failed; {_plural(sum(r.errors for r in linted), 'error')}, "
               f"{_plural(sum(r.warnings for r in linted), 'warning')}." if linted
               else "No model configs found (files need a top-level <code>paramlint: 1</code>).")
    lines = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">', CSP,
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>paramlint report</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
             f'<h1 class="{verdict}">paramlint: {verdict}</h1>', f'<p class="summary">{summary}</p>']
    for index, report in enumerate(linted, 1):
        lines += _file(index, report, gpu)
    lines += [f"<footer>paramlint {escape(__version__)}</footer>", "</body>", "</html>"]
    return "\n".join(lines) + "\n"
