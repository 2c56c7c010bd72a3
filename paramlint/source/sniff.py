"""Is this file ours?  Decided cheaply from the bytes, before any full load.

The pre-commit hook and folder searches hand paramlint every YAML and JSON
file of a repository: Kubernetes manifests (several documents), CloudFormation
(``!Ref`` tags), tsconfig (JSON with comments), a 14 MB package-lock.json.
Those are not ours and must be skipped even when they would not load, so the
decision is taken on the raw bytes: no decoding, no parser, no recursion, one
pass at most, nothing allocated per byte.  Only a file a front door claims is
loaded, and only such a file gets load errors (PL101..PL105).

``claim(data, path)`` returns the name of the first front door whose marker
test accepts the file, or ``None`` (skip it).  A marker test is a function
``(data: bytes, is_json: bool) -> bool``; it must be cheap and must never
raise.  Format 1 is claimed by a top-level ``paramlint`` key.

**Hook for importers.**  An importer registers its own marker test with
``register``; ``has_top_level_key`` is the safe building block, e.g.::

    register("huggingface", lambda data, is_json: is_json and has_top_level_key(data, "model_type", is_json=True))
    register("ultralytics", lambda data, is_json: not is_json and all(
        has_top_level_key(data, key, is_json=False) for key in ("backbone", "head")))

and the pipeline (``lint.Linter``) dispatches on the returned name.  Format 1
is tried first: a file with a top-level ``paramlint`` key is always ours.

For a file over the size limit the marker tests see its first
``HEAD_BYTES`` bytes (``source.reader.read_head``): a claimed one is PL103,
any other is skipped.  The tests are conservative the safe way: a text that
only looks like the key (inside a multi-line string, say) may claim a file,
which is then loaded and, without a real top-level key, skipped after all.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable, List, Optional, Tuple

__all__ = ["FORMAT_1", "HEAD_BYTES", "Marker", "claim", "has_top_level_key", "register"]

FORMAT_1 = "format-1"
HEAD_BYTES = 1 << 20  # what the marker tests see of a file over the size limit

Marker = Callable[[bytes, bool], bool]

_WIDE_MARKS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"),
               (b"\xfe\xff", "utf-16"))

# The first content line of a YAML document: not blank, not a comment, a directive or a document marker.
_FIRST_CONTENT = re.compile(rb"^(?![ \t]*(?:#|%|(?:---|\.\.\.)(?:[ \t\r]|$)|\r?$))([ \t]*)(\S)", re.MULTILINE)


def _format_1(data: bytes, is_json: bool) -> bool:
    return has_top_level_key(data, "paramlint", is_json=is_json)


FRONT_DOORS: List[Tuple[str, Marker]] = [(FORMAT_1, _format_1)]


def register(name: str, marker: Marker) -> None:
    """Add a front door (an importer) after those registered before it."""
    if all(existing != name for existing, _ in FRONT_DOORS):
        FRONT_DOORS.append((name, marker))


def claim(data: bytes, path: str) -> Optional[str]:
    """The front door that claims the file (``FORMAT_1``, an importer's name), or ``None``: skip it."""
    is_json = path.lower().endswith(".json")
    for mark, encoding in _WIDE_MARKS:  # a UTF-16/32 config is ours, to be told to save it as UTF-8 (PL105)
        if data.startswith(mark):
            data = data[:4 * HEAD_BYTES].decode(encoding, "replace").encode("utf-8")
            break
    for name, marker in FRONT_DOORS:
        if marker(data, is_json):
            return name
    return None


def has_top_level_key(data: bytes, key: str, *, is_json: bool) -> bool:
    """Whether ``key`` is written as a key of the top-level mapping.

    JSON, and YAML whose first content is ``{``: one regex pass over strings,
    comments (``//``, ``/* */``, ``#``) and brackets, counting depth.  Block
    YAML: a line ``key:`` at the indentation of the document's first content
    line.  Nothing is decoded; the key must be plain ASCII.
    """
    encoded = key.encode("ascii")
    if encoded not in data:  # the common case, at C speed
        return False
    if not is_json:
        first = _FIRST_CONTENT.search(data)
        if first is None:
            return False
        if first.group(2) != b"{":
            return _block_key(data, encoded, len(first.group(1)))
    return _flow_key(data, encoded)


@lru_cache(maxsize=16)
def _block_pattern(key: bytes) -> "re.Pattern[bytes]":
    name = re.escape(key)
    return re.compile(rb"^([ \t]*)(?:" + name + rb"|\"" + name + rb"\"|'" + name + rb"')[ \t]*:(?:[ \t\r\n]|$)",
                      re.MULTILINE)


def _block_key(data: bytes, key: bytes, indent: int) -> bool:
    return any(len(match.group(1)) == indent for match in _block_pattern(key).finditer(data))


@lru_cache(maxsize=16)
def _flow_pattern(key: bytes) -> "re.Pattern[bytes]":
    return re.compile(rb"\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\n]|'')*'|//[^\n]*|/\*.*?(?:\*/|\Z)|#[^\n]*|[{}\[\]]|"
                      rb"(?<![\w-])" + re.escape(key) + rb"(?![\w-])", re.DOTALL)


_COLON = re.compile(rb"[ \t\r\n]*:")


@lru_cache(maxsize=16)
def _candidate_pattern(key: bytes) -> "re.Pattern[bytes]":
    name = re.escape(key)
    return re.compile(rb"(?:\"" + name + rb"\"|'" + name + rb"'|(?<![\w-])" + name + rb"(?![\w-]))[ \t\r\n]*:")


def _flow_key(data: bytes, key: bytes) -> bool:
    if _candidate_pattern(key).search(data) is None:  # no `key:` anywhere: no depth to count (C speed)
        return False
    quoted = (b'"' + key + b'"', b"'" + key + b"'", key)
    stack: List[int] = []
    for match in _flow_pattern(key).finditer(data):
        token = match.group()
        first = token[0]
        if first in b"{[":
            stack.append(first)
        elif first in b"}]":
            if stack:
                stack.pop()
        elif token in quoted and stack == [ord("{")] and _COLON.match(data, match.end()):
            return True
    return False
