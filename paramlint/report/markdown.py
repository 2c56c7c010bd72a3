"""A Markdown summary for ``$GITHUB_STEP_SUMMARY`` or a pull-request comment.

The overall verdict, then per config: its diagnostics, the budget usage
table and the largest layers by parameters (``--summary`` adds the whole
per-layer table, folded).
"""
from __future__ import annotations

from typing import List, Sequence

from ..core.diagnostics import ERROR
from ..core.units import format_bytes
from ..lint import Analysis, FileReport
from ..rules import RULES
from .escape import markdown_code, markdown_text, printable
from .summary import render_summary

LARGEST_LAYERS = 5
OK, FAILED, WARNED = "\u2705", "\u274c", "\u26a0\ufe0f"


def cell(text: str) -> str:
    """Text that stays inside one table cell (HTML shown as text)."""
    return markdown_text(text)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _mark(report: FileReport) -> str:
    return FAILED if report.failed else WARNED if report.warnings else OK


def _overview(reports: Sequence[FileReport]) -> List[str]:
    linted = [r for r in reports if not r.skipped]
    failed = sum(1 for r in linted if r.failed)
    errors, warnings = sum(r.errors for r in linted), sum(r.warnings for r in linted)
    verdict = "failed" if failed else "passed"
    counts = f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}"
    lines = [f"## {FAILED if failed else OK} paramlint: {verdict}", ""]
    if not linted:
        return lines + ["No model configs found (files need a top-level `paramlint: 1`).", ""]
    lines.append(f"{failed} of {_plural(len(linted), 'file')} failed; {counts}."
                 + (f" {_plural(len(reports) - len(linted), 'file')} without `paramlint: 1` skipped."
                    if len(linted) < len(reports) else ""))
    lines.append("")
    if len(linted) > 1:
        lines += ["| | File | Params | FLOPs/sample | Peak memory | Errors | Warnings |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for r in linted:
            a = r.analysis
            figures = (f"{a.params:,} | {a.flops:,} | {format_bytes(a.memory.peak)}" if a is not None
                       else "- | - | -")
            lines.append(f"| {_mark(r)} | {markdown_code(r.path)} | {figures} | {r.errors} | {r.warnings} |")
        lines.append("")
    return lines


def _diagnostics(report: FileReport) -> List[str]:
    if not report.diagnostics:
        return []
    lines = ["| | Location | Rule | Message |", "|---|---|---|---|"]
    for d in report.diagnostics:
        mark = FAILED if d.severity == ERROR else WARNED
        name = f" {RULES[d.code].name}" if d.code in RULES else ""
        where = markdown_code(f"{d.path}:{d.line}:{d.column}")
        lines.append(f"| {mark} | {where} | {d.code}{name} | {cell(d.message)} |")
    return lines + [""]


def _budgets(analysis: Analysis) -> List[str]:
    if not analysis.budgets:
        return []
    lines = ["**Budgets**", "", "| | Budget | Value | Limit | Used |", "|---|---|---:|---:|---:|"]
    for use in analysis.budgets:
        show = format_bytes if use.is_bytes else (lambda v: f"{v:,}")
        used = f"{100 * use.fraction:.1f}%" if use.limit else "-"
        lines.append(f"| {FAILED if use.exceeded else OK} | {use.name} | {show(use.value)} | {show(use.limit)} "
                     f"| {used} |")
    return lines + [""]


def _largest_layers(analysis: Analysis) -> List[str]:
    layers = sorted((i for i in analysis.shapes.layers if i.params), key=lambda i: -i.params)[:LARGEST_LAYERS]
    if not layers:
        return []
    total = analysis.params or 1
    lines = [f"**Largest layers** (by parameters, of {analysis.params:,})", "",
             "| Layer | Type | Output shape | Params | Share | FLOPs/sample |", "|---|---|---|---:|---:|---:|"]
    for info in layers:
        shape = "[" + ", ".join(str(s) for s in info.output.shape) + "]"
        line = analysis.lines.get(info.node.index)
        where = f" (line {line})" if line else ""
        lines.append(f"| {markdown_code(info.node.trace)}{where} | {info.node.type} | {shape} | {info.params:,} "
                     f"| {100 * info.params / total:.1f}% | {info.result.flops:,} |")
    return lines + [""]


def _file(report: FileReport, summary: bool) -> List[str]:
    title = f"### {_mark(report)} {markdown_code(report.path)}" + (f" ({cell(report.name)})" if report.name else "")
    lines = [title, ""]
    analysis = report.analysis
    if analysis is not None:
        setup = analysis.training
        lines += [f"{analysis.params:,} parameters ({analysis.trainable_params:,} trainable), "
                  f"{analysis.flops:,} forward FLOPs per sample, {setup.optimizer} state "
                  f"{analysis.optimizer_state:,} values, peak training memory {format_bytes(analysis.memory.peak)} "
                  f"per device at batch size {setup.batch_size} ({setup.precision}).", ""]
    lines += _diagnostics(report)
    if analysis is not None:
        lines += _budgets(analysis) + _largest_layers(analysis)
        if summary:
            table = printable(render_summary(report), keep_newlines=True)
            lines += ["<details><summary>Per-layer table</summary>", "", "```text", table, "```",
                      "", "</details>", ""]
    return lines


def render(reports: Sequence[FileReport], *, summary: bool = False, **_: object) -> str:
    lines = _overview(reports)
    for report in reports:
        if not report.skipped:
            lines += _file(report, summary)
    return "\n".join(lines).rstrip("\n") + "\n"
