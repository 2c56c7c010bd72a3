"""Read a config file: bytes to plain data plus a map of where each node was written.

The first step of the pipeline.  ``load_document`` never runs code from the
file, never recurses per nesting level and stops early on anything over
``Limits``: a pre-commit hook must stay fast on any input.  YAML goes through
PyYAML's C parser when it is built (pure Python otherwise), read as events
(see ``yaml_events``); JSON through a small position-tracking parser.

Decisions (PL codes are in ``rules.py``):
- YAML values are what ``yaml.safe_load`` gives, except that timestamps stay
  the text written and ``!!binary``, ``!!set``, ``!!omap``, ``!!pairs`` and any
  non-standard tag are PL104: configs hold plain data only.
- Merge keys (``<<``) work as the YAML merge spec says: explicit keys win, and
  in ``<<: [*a, *b]`` the earlier mapping wins.  A second ``<<`` in one mapping
  is PL102.  Aliases share the anchored object, as in ``yaml.safe_load``.
- A recursive alias is PL103 (its expansion is infinite); an empty or
  comments-only file loads as ``None``; several YAML documents are PL101.
- JSON ``NaN``/``Infinity`` are PL101; a UTF-8 byte-order mark is skipped;
  UTF-16/32, invalid UTF-8, NUL and other control characters are PL105.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from typing import Dict, List, Optional, Union

import yaml

from .document import LIMITS, Document, Limits, LoadError, Position
from .yaml_events import EventBuilder, Span

__all__ = ["Document", "LoadError", "Limits", "LIMITS", "YAML_LOADER", "load_document"]

# The loader class used for YAML; tests swap it to cover both the C and the pure-Python parser.
YAML_LOADER = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader

_BYTE_ORDER_MARKS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
                     (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))
# What YAML (and PyYAML's reader) refuses; JSON refuses the C0 controls outside strings and inside them.
_YAML_UNPRINTABLE = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")
_JSON_UNPRINTABLE = re.compile("[\x00-\x08\x0B\x0C\x0E-\x1F]")
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # YAML's line breaks, as PyYAML counts lines
_COMMENT_START = re.compile("(?<![^ \t\r\n\x85\u2028\u2029])#")  # a '#' at a line start or after a space


def load_document(text: Union[bytes, str], *, path: str, limits: Limits = LIMITS) -> Document:
    """Load a YAML or JSON config (JSON when ``path`` ends in ``.json``).

    Returns the data with the positions of its nodes; raises ``LoadError``
    (PL101 syntax, PL102 duplicate key, PL103 over a limit, PL104 tag,
    PL105 encoding) with a 1-based line and column.
    """
    source = _decode(text, limits)
    is_json = path.lower().endswith(".json")
    unprintable = (_JSON_UNPRINTABLE if is_json else _YAML_UNPRINTABLE).search(source)
    if unprintable is not None:
        char, index = unprintable.group(), unprintable.start()
        what = "a NUL character (is this a binary file?)" if char == "\x00" \
            else f"the control character U+{ord(char):04X}"
        position = (source.count("\n", 0, index) + 1, index - source.rfind("\n", 0, index)) if is_json \
            else _char_position(source, index)
        raise LoadError("PL105", f"the file contains {what}", *position)
    if is_json:
        from .json_positions import parse_json  # only here: YAML files, the common case, do not need it

        data, positions, key_positions = parse_json(source, limits)
        return Document(data, positions, key_positions, {})
    return _load_yaml(source, limits)


def _decode(text: Union[bytes, str], limits: Limits) -> str:
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    if len(raw) > limits.max_bytes:
        raise LoadError("PL103", f"the file has {len(raw)} bytes, over the limit of {limits.max_bytes}")
    for mark, encoding in _BYTE_ORDER_MARKS:
        if raw.startswith(mark):
            raise LoadError("PL105", f"the file is {encoding} (it starts with a {encoding} byte-order mark); "
                            "save it as UTF-8")
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        line_start = raw.rfind(b"\n", 0, error.start) + 1
        column = len(raw[line_start:error.start].decode("utf-8", "replace")) + 1
        raise LoadError("PL105", f"the file is not UTF-8: byte 0x{raw[error.start]:02x} at offset {error.start} "
                        f"({error.reason})", line, column) from None
    return source[1:] if source.startswith("\ufeff") else source


def _char_position(source: str, index: int) -> Position:
    """(line, column) of a character, counting lines as YAML does."""
    line, line_start = 1, 0
    for match in _LINE_BREAK.finditer(source, 0, index):
        line, line_start = line + 1, match.end()
    return line, index - line_start + 1


def _load_yaml(source: str, limits: Limits) -> Document:
    loader = YAML_LOADER(source)
    try:
        builder = EventBuilder(loader, limits, want_spans="#" in source)
        data, positions, key_positions = builder.build()
    except yaml.MarkedYAMLError as error:
        raise _syntax_error(error, limits) from None
    except yaml.YAMLError as error:  # pragma: no cover - the reader's errors are caught before parsing
        raise LoadError("PL101", str(error)) from None
    finally:
        loader.dispose()
    comments = _comments(source, builder.spans) if builder.spans is not None else {}
    return Document(data, positions, key_positions, comments)


def _syntax_error(error: yaml.MarkedYAMLError, limits: Limits) -> LoadError:
    """PL101 at PyYAML's problem mark: its problem text, then its context."""
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    if "maximum nesting depth" in str(error.problem):  # libyaml's own cap (1000), met while looking ahead
        return LoadError("PL103", f"nesting deeper than {limits.max_depth} levels", line, column)
    message = error.problem or error.context or "invalid YAML"
    if error.problem and error.context:
        context_mark = error.context_mark
        where = ""
        if context_mark is not None and (context_mark.line, context_mark.column) != (line - 1, column - 1):
            where = f" at line {context_mark.line + 1}, column {context_mark.column + 1}"
        message += f" ({error.context}{where})"
    return LoadError("PL101", message, line, column)


def _comments(source: str, spans: Optional[List[Span]]) -> Dict[int, str]:
    """Line -> text of the ``#`` comment on it; a ``#`` inside a scalar (``spans``) is not one."""
    line_starts = [0] + [match.end() for match in _LINE_BREAK.finditer(source)]
    span_starts = [span[0] for span in spans or ()]
    comments: Dict[int, str] = {}
    for match in _COMMENT_START.finditer(source):
        index = match.start()
        line = bisect_right(line_starts, index) - 1
        if line + 1 in comments:
            continue  # the rest of a comment
        here = (line, index - line_starts[line])
        inside = bisect_right(span_starts, here) - 1
        if inside >= 0 and here < spans[inside][1]:
            continue
        end = _LINE_BREAK.search(source, index)
        comments[line + 1] = source[index + 1:end.start() if end else len(source)].strip()
    return comments
