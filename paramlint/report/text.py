"""``path:line:col: CODE message`` lines and a one-line verdict per file."""
from __future__ import annotations

from typing import List, Sequence

from ..core.diagnostics import ERROR
from ..core.units import format_bytes
from ..importers import NO_CONFIGS
from ..lint import FileReport
from .escape import printable
from .summary import render_summary

_COLORS = {"error": "\033[31m", "warning": "\033[33m", "ok": "\033[32m", "bold": "\033[1m", "reset": "\033[0m"}


def _paint(text: str, color: str, enabled: bool) -> str:
    return f"{_COLORS[color]}{text}{_COLORS['reset']}" if enabled else text


def verdict(report: FileReport) -> str:
    """``examples/x.yaml: ok: 26,926 params ...`` or ``... 2 errors, 1 warning``."""
    counts = []
    if report.errors:
        counts.append(f"{report.errors} error{'s' if report.errors != 1 else ''}")
    if report.warnings:
        counts.append(f"{report.warnings} warning{'s' if report.warnings != 1 else ''}")
    status = "failed" if report.failed else "ok"
    text = f"{printable(report.path)}: {status}" + (f" ({', '.join(counts)})" if counts else "")
    analysis = report.analysis
    if analysis is not None:
        setup = analysis.training
        text += (f": {analysis.params:,} params ({analysis.trainable_params:,} trainable), "
                 f"{analysis.flops:,} FLOPs/sample, {setup.optimizer} state {analysis.optimizer_state:,}, "
                 f"memory {format_bytes(analysis.memory.peak)} at batch {setup.batch_size}")
        defaults = setup.defaults_note()
        if defaults:
            text += f" ({defaults})"
    return text


def render(reports: Sequence[FileReport], *, summary: bool = False, color: bool = False, unicode: bool = True,
           **_: object) -> str:
    """``unicode``: the summary's sparkline may use block characters (else ASCII)."""
    lines: List[str] = []
    for report in reports:
        if report.skipped:
            if report.note:
                lines.append(f"{report.path}: {report.note}")
            continue
        for d in report.diagnostics:
            tag = _paint(d.code, "error" if d.severity == ERROR else "warning", color)
            where = _paint(f"{printable(d.path)}:{d.line}:{d.column}:", "bold", color)
            lines.append(f"{where} {tag} {printable(d.message)}")
        if summary and report.analysis is not None:
            lines.append(printable(render_summary(report, unicode=unicode), keep_newlines=True))
        state = "error" if report.failed else "ok"
        lines.append(_paint(verdict(report), state, color))
    if not lines:
        lines.append(NO_CONFIGS)
    return "\n".join(lines) + "\n"
