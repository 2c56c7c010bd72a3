"""Diagnostics are values: one immutable record per problem found."""
from __future__ import annotations

from typing import Optional, Tuple, Union

from .record import Record

ConfigPath = Tuple[Union[str, int], ...]

ERROR = "error"
WARNING = "warning"
SEVERITIES = (ERROR, WARNING)
MAX_DIAGNOSTICS = 1000  # per file: past it, one PL103 says how many more there were (see docs/limits.md)


def format_config_path(config_path: ConfigPath) -> str:
    """Render ``("layers", 7, "in_features")`` as ``layers[7].in_features``."""
    text = ""
    for part in config_path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


class Finding(Record):
    """A problem found by a check, located by its path in the config.

    Checks yield findings; the engine turns them into diagnostics by looking
    the path up in the document's position map.  ``at_key`` points at the
    mapping key rather than at its value (for unknown keys).  ``severity``
    None: the rule's default severity.
    """

    __slots__ = ("code", "message", "config_path", "at_key", "severity")

    def __init__(self, code: str, message: str, config_path: ConfigPath = (), at_key: bool = False,
                 severity: Optional[str] = None) -> None:
        self.code = code
        self.message = message
        self.config_path = config_path
        self.at_key = at_key
        self.severity = severity


class Diagnostic(Record):
    """A located problem in one file, as reporters print it; compared and
    sorted by place and code (path, line, column, code)."""

    __slots__ = ("path", "line", "column", "code", "message", "severity", "config_path")

    def __init__(self, path: str, line: int, column: int, code: str, message: str, severity: str = ERROR,
                 config_path: str = "") -> None:
        self.path = path
        self.line = line
        self.column = column
        self.code = code
        self.message = message
        self.severity = severity
        self.config_path = config_path

    def _values(self) -> Tuple[str, int, int, str]:
        return self.path, self.line, self.column, self.code

    def __lt__(self, other: "Diagnostic") -> bool:
        return self._values() < other._values()

    def to_dict(self) -> dict:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "line": self.line,
            "column": self.column,
            "config_path": self.config_path,
        }
