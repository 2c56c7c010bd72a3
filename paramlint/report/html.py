"""A self-contained HTML report: one page, inline CSS, no scripts, nothing fetched.

Per config: the verdict, the diagnostics, the budgets as bars and the
per-layer table (blocks indented as a tree), for a CI artifact or a browser.
"""
from __future__ import annotations

from html import escape as _html_escape
from typing import List, Sequence

from .. import __version__
from ..core.diagnostics import ERROR
from ..core.units import format_bytes
from ..lint import Analysis, FileReport
from ..rules import RULES
from .escape import printable
from .summary import HEADER, layer_rows

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


def _layers(analysis: Analysis) -> List[str]:
    shapes = analysis.shapes
    table = layer_rows(shapes.layers, {name: t.shape for name, t in shapes.inputs.items()})
    head = "".join(f"<th>{escape(h)}</th>" for h in HEADER)
    rows = ["<h3>Layers</h3>", f"<table class=\"layers\"><thead><tr>{head}</tr></thead><tbody>"]
    for label, kind, shape, params, flops in table:
        rows.append(f"<tr><td class=\"tree\">{escape(label)}</td><td>{escape(kind)}</td><td>{escape(shape)}</td>"
                    f"<td class=\"num\">{escape(params)}</td><td class=\"num\">{escape(flops)}</td></tr>")
    return rows + ["</tbody></table>"]


def _file(index: int, report: FileReport) -> List[str]:
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
        lines += _budgets(analysis) + _layers(analysis)
    return lines + ["</section>"]


def render(reports: Sequence[FileReport], **_: object) -> str:
    linted = [r for r in reports if not r.skipped]
    failed = sum(1 for r in linted if r.failed)
    verdict = "failed" if failed else "passed"
    summary = (f"{failed} of {_plural(len(linted), 'file')} failed; {_plural(sum(r.errors for r in linted), 'error')}, "
               f"{_plural(sum(r.warnings for r in linted), 'warning')}." if linted
               else "No model configs found (files need a top-level <code>paramlint: 1</code>).")
    lines = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>paramlint report</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
             f'<h1 class="{verdict}">paramlint: {verdict}</h1>', f'<p class="summary">{summary}</p>']
    for index, report in enumerate(linted, 1):
        lines += _file(index, report)
    lines += [f"<footer>paramlint {escape(__version__)}</footer>", "</body>", "</html>"]
    return "\n".join(lines) + "\n"
