"""The loader's values: a loaded document, its limits and its one error type."""
from __future__ import annotations

from typing import Any, Dict, Tuple

from ..core.diagnostics import ConfigPath
from ..core.record import Record

Position = Tuple[int, int]  # (line, column), both 1-based; columns count characters


class Document(Record):
    """A config file read into plain data, with where each node was written.

    ``positions`` maps every path of ``data`` (``()`` for the root) to the
    position of its value; ``key_positions`` maps the path of every mapping
    entry to the position of its key.  Nodes reached through a YAML alias or
    merge key (``<<``) point at the text they were copied from, except the
    alias itself, which points at the ``*name``.  ``comments`` maps a line
    number to the text of the ``#`` comment on that line, without the ``#``
    and stripped (YAML only; ``{}`` for JSON).
    """

    __slots__ = ("data", "positions", "key_positions", "comments")

    def __init__(self, data: Any, positions: Dict[ConfigPath, Position], key_positions: Dict[ConfigPath, Position],
                 comments: Dict[int, str]) -> None:
        self.data = data
        self.positions = positions
        self.key_positions = key_positions
        self.comments = comments


class LoadError(Exception):
    """A file that cannot be loaded: ``code`` is one of PL101..PL105."""

    def __init__(self, code: str, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line
        self.column = column

    def __repr__(self) -> str:
        return f"LoadError({self.code!r}, {self.message!r}, line={self.line}, column={self.column})"


class Limits(Record):
    """Bounds that keep loading fast on any input (alias bombs, generated files)."""

    __slots__ = ("max_bytes", "max_nodes", "max_depth")

    # max_nodes: nodes (keys included) after alias expansion
    # max_depth: nesting depth of collections; the root collection is depth 1
    def __init__(self, max_bytes: int = 10 * 2**20, max_nodes: int = 1_000_000, max_depth: int = 200) -> None:
        self.max_bytes = max_bytes
        self.max_nodes = max_nodes
        self.max_depth = max_depth


LIMITS = Limits()
