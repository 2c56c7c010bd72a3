"""GitHub Actions workflow commands: one annotation per diagnostic.

``::error file=PATH,line=L,col=C,title=CODE::message`` (``::warning`` for
warnings) makes GitHub show each diagnostic on the changed line of a pull
request.  Chosen automatically when ``GITHUB_ACTIONS`` is set and no
``--format`` is given.  After the annotations, the text verdicts go to the
log as plain lines.
"""
from __future__ import annotations

from typing import List, Sequence

from ..core.diagnostics import ERROR
from ..importers import NO_CONFIGS
from ..lint import FileReport
from .escape import log_line, printable
from .text import verdict


def escape_data(text: str) -> str:
    """The message part of a workflow command (GitHub's escaping rules)."""
    return printable(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))  # then ESC, BEL...


def escape_property(text: str) -> str:
    """A ``key=value`` property of a workflow command: also ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render(reports: Sequence[FileReport], **_: object) -> str:
    lines: List[str] = []
    for report in reports:
        for d in report.diagnostics:
            command = "error" if d.severity == ERROR else "warning"
            properties = ",".join(f"{key}={escape_property(str(value))}" for key, value in
                                  (("file", d.path), ("line", d.line), ("col", d.column), ("title", d.code)))
            lines.append(f"::{command} {properties}::{escape_data(d.message)}")
    lines += [log_line(verdict(r)) for r in reports if not r.skipped]
    if not any(not r.skipped for r in reports):
        lines.append(NO_CONFIGS)
    return "\n".join(lines) + "\n"
