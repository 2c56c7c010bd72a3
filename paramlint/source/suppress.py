"""Inline suppressions in YAML: ``# paramlint: ignore[PL401]``.

A comment ``# paramlint: ignore[CODE, ...]`` (codes comma-separated; a code
prefix such as ``PL45`` works too; ``ignore`` alone means every code)
suppresses the diagnostics reported on its line.  On the line where a layer
entry starts (``layers[i]``, in the network or in a block) it suppresses
every diagnostic inside that layer, wherever that diagnostic is reported.

A suppression that suppresses nothing is PL601, judged only when the whole
analysis ran: after a schema or shape error the later checks did not run, so
what a suppression is for cannot be told.  A code that names no rule is
PL604.  JSON has no comments, so this is YAML only.
"""
from __future__ import annotations

import re
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Set, Tuple

from ..core.diagnostics import WARNING, ConfigPath, Diagnostic, Finding
from ..core.record import Record
from .document import Document

MAX_CODES = 100  # codes read from one comment; more is PL604 (a comment of a million codes stays cheap)
_DIRECTIVE = re.compile(r"paramlint\s*:\s*ignore(?![\w-])(?:\s*\[([^\]]*)\])?")
_COMMENT_DIRECTIVE = re.compile(r"#.*?(paramlint\s*:\s*ignore)")


class Suppression(Record):
    """One ``# paramlint: ignore`` comment; ``codes`` empty means every code."""

    __slots__ = ("line", "codes", "used", "truncated")

    # truncated: the comment listed more than MAX_CODES codes; the rest were not read
    def __init__(self, line: int, codes: Tuple[str, ...], used: Optional[Set[str]] = None,
                 truncated: bool = False) -> None:
        self.line = line
        self.codes = codes
        self.used: Set[str] = set() if used is None else used
        self.truncated = truncated

    def covers(self, code: str) -> bool:
        """Whether this comment suppresses ``code``; marks what was used."""
        if not self.codes:
            self.used.add("")
            return True
        matched = [c for c in self.codes if code.startswith(c)]
        self.used.update(matched)
        return bool(matched)


def parse_suppressions(comments: Mapping[int, str]) -> Dict[int, Suppression]:
    """The suppression comments of a document, by line."""
    found = {}
    for line, text in comments.items():
        match = _DIRECTIVE.search(text)
        if match is None:
            continue
        pieces = (match.group(1) or "").split(",", MAX_CODES)  # at most MAX_CODES + 1 pieces, the rest unsplit
        codes = tuple(dict.fromkeys(c.strip() for c in pieces[:MAX_CODES] if c.strip()))  # repeats read once
        found[line] = Suppression(line, codes, truncated=len(pieces) > MAX_CODES)
    return found


def _layer_lines(config_path: ConfigPath, document: Document) -> Iterable[int]:
    """The first lines of the layer entries that contain ``config_path``."""
    for index in range(1, len(config_path)):
        if config_path[index - 1] == "layers" and isinstance(config_path[index], int):
            position = document.positions.get(tuple(config_path[:index + 1]))
            if position is not None:
                yield position[0]


def apply_suppressions(findings: Iterable[Finding], document: Document, line_of: Callable[[Finding], int], *,
                       path: str, complete: bool, source: bytes = b"") -> Tuple[List[Finding], List[Diagnostic]]:
    """The findings that no comment suppresses, and the diagnostics about the comments themselves
    (PL601 unused, PL604 unknown code).  ``complete``: the whole analysis ran."""
    findings = list(findings)
    suppressions = parse_suppressions(document.comments)
    if not suppressions:
        return findings, []
    kept = []
    for finding in findings:
        lines = [line_of(finding), *_layer_lines(finding.config_path, document)]
        # every comment that covers it is used, so none of them is reported as unused
        covering = [suppressions[line].covers(finding.code) for line in lines if line in suppressions]
        if not any(covering):
            kept.append(finding)
    return kept, _comment_diagnostics(suppressions.values(), path=path, complete=complete, source=source)


def _comment_diagnostics(suppressions: Iterable[Suppression], *, path: str, complete: bool,
                         source: bytes) -> List[Diagnostic]:
    from ..rules import RULES

    source_lines = source.decode("utf-8", "replace").splitlines()
    diagnostics = []
    for suppression in suppressions:
        column = _column(source_lines, suppression.line)
        if suppression.truncated:
            diagnostics.append(Diagnostic(path, suppression.line, column, "PL604",
                                          f"more than {MAX_CODES} codes in one suppression: only the first "
                                          f"{MAX_CODES} are read", WARNING))
        for code in suppression.codes:
            if not any(known.startswith(code) for known in RULES):
                diagnostics.append(Diagnostic(path, suppression.line, column, "PL604",
                                              f"suppression of `{code}`, which matches no rule", WARNING))
            elif complete and code not in suppression.used:
                diagnostics.append(Diagnostic(path, suppression.line, column, "PL601",
                                              f"unused suppression: no {code} is reported on this line or layer",
                                              WARNING))
        if complete and not suppression.codes and not suppression.used:
            diagnostics.append(Diagnostic(path, suppression.line, column, "PL601",
                                          "unused suppression: nothing is reported on this line or layer", WARNING))
    return diagnostics


def _column(source_lines: List[str], line: int) -> int:
    if 0 < line <= len(source_lines):
        match = _COMMENT_DIRECTIVE.search(source_lines[line - 1])
        if match is not None:
            return match.start(1) + 1
    return 1

