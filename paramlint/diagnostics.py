"""Diagnostics are values: one immutable record per problem found."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Tuple, Union

ConfigPath = Tuple[Union[str, int], ...]

ERROR = "error"
WARNING = "warning"
SEVERITIES = (ERROR, WARNING)


def format_config_path(config_path: ConfigPath) -> str:
    """Render ``("layers", 7, "in_features")`` as ``layers[7].in_features``."""
    text = ""
    for part in config_path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


@dataclass(frozen=True)
class Finding:
    """A problem found by a check, located by its path in the config.

    Checks yield findings; the engine turns them into diagnostics by looking
    the path up in the document's position map.  ``at_key`` points at the
    mapping key rather than at its value (for unknown keys).
    """

    code: str
    message: str
    config_path: ConfigPath = ()
    at_key: bool = False
    severity: str | None = None  # None: the rule's default severity


@dataclass(frozen=True, order=True)
class Diagnostic:
    """A located problem in one file, as reporters print it."""

    path: str
    line: int
    column: int
    code: str
    message: str = field(compare=False)
    severity: str = field(default=ERROR, compare=False)
    config_path: str = field(default="", compare=False)

    def to_dict(self) -> dict:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "line": self.line,
            "column": self.column,
            "config_path": self.config_path,
        }
