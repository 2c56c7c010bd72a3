"""Reporters: each turns a list of FileReports into the text that is printed.

``REPORTERS`` feeds both the ``--format`` choices and the dispatch; a
reporter module is imported only when its format is used.
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Dict, Sequence

if TYPE_CHECKING:  # the command reads REPORTERS for --format before anything heavy is imported
    from ..lint import FileReport

# format name -> module in this package; each module has ``render(reports, **options) -> str``
REPORTERS: Dict[str, str] = {
    "text": "text",
    "json": "json_format",
    "github": "github",
    "sarif": "sarif",
    "markdown": "markdown",
    "html": "html",
    "svg": "svg",
}


def render(format_name: str, reports: "Sequence[FileReport]", **options: object) -> str:
    module = import_module(f".{REPORTERS[format_name]}", __name__)
    return module.render(reports, **options)
