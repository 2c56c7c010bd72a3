"""JSON to plain data plus node positions: a small iterative parser.

Values are what ``json.loads`` gives (strings through ``json.decoder.scanstring``,
a number without fraction or exponent is an int of any size, others are
floats), except that ``NaN`` and ``Infinity``, which ``json.loads`` accepts
but JSON does not, are syntax errors.  The parser keeps its own stack, so
nesting is bounded by ``Limits.max_depth`` and never by Python's recursion.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from json.decoder import JSONDecodeError, scanstring
from typing import Any, Dict, List, Tuple

from ..core.diagnostics import ConfigPath
from .document import Limits, LoadError, Position

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_NEWLINE = re.compile("\n")
_NUMBER = re.compile(r"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_LITERALS = (("true", True), ("false", False), ("null", None))
_NOT_JSON = ("NaN", "Infinity", "-Infinity")


class _Frame:
    __slots__ = ("container", "path", "is_map", "key")

    def __init__(self, container: Any, path: ConfigPath) -> None:
        self.container, self.path, self.is_map = container, path, isinstance(container, dict)
        self.key: Any = None


def parse_json(text: str, limits: Limits) -> Tuple[Any, Dict[ConfigPath, Position], Dict[ConfigPath, Position]]:
    """Return (data, positions, key positions) for a JSON text; raise LoadError.

    Entries record character offsets while parsing; they become (line, column)
    in one pass at the end.
    """
    end = len(text)
    skip, number = _WHITESPACE.match, _NUMBER.match
    max_nodes, max_depth = limits.max_nodes, limits.max_depth
    vals: List[Tuple[ConfigPath, int]] = []
    keys: List[Tuple[ConfigPath, int]] = []
    stack: List[_Frame] = []
    nodes = 0
    index = skip(text, 0).end()
    if index == end:
        return None, {(): (1, 1)}, {}
    path: ConfigPath = ()
    while True:
        # a value starts at index
        nodes += 1
        if nodes > max_nodes:
            raise _error(text, f"more than {max_nodes} nodes", index, "PL103")
        vals.append((path, index))
        char = text[index] if index < end else ""
        if char == '"':
            value, index = _string(text, index)
        elif char == "{" or char == "[":
            if len(stack) >= max_depth:
                raise _error(text, f"nesting deeper than {max_depth} levels", index, "PL103")
            index = skip(text, index + 1).end()
            frame = _Frame({} if char == "{" else [], path)
            if text.startswith("}" if char == "{" else "]", index):
                value, index = frame.container, index + 1
            else:
                stack.append(frame)
                if frame.is_map:
                    nodes += 1
                    path, index = _key(text, index, frame, keys)
                else:
                    path = path + (0,)
                continue
        elif char == "-" or "0" <= char <= "9":
            match = number(text, index)
            if match is None:
                raise _error(text, "-Infinity is not valid JSON" if text.startswith("-Infinity", index)
                             else f"expected a value, but found {_describe(text, index)}", index)
            integer, fraction, exponent = match.groups()
            if fraction or exponent:
                value = float(match.group())
            else:
                try:
                    value = int(integer)
                except ValueError:  # Python's cap on the digits of an int (3.11+)
                    raise _error(text, f"integer with {len(integer)} digits is over Python's limit", index,
                                 "PL103") from None
            index = match.end()
        else:
            value, index = _literal(text, index)
        # the value is complete: attach it, then find the next one
        while True:
            if not stack:
                index = skip(text, index).end()
                if index != end:
                    raise _error(text, f"extra data after the JSON value: {_describe(text, index)}", index)
                return value, _positions(text, vals), _positions(text, keys)
            frame = stack[-1]
            if frame.is_map:
                frame.container[frame.key] = value
            else:
                frame.container.append(value)
            index = skip(text, index).end()
            char = text[index] if index < end else ""
            if char == ",":
                index = skip(text, index + 1).end()
                if frame.is_map:
                    nodes += 1
                    path, index = _key(text, index, frame, keys)
                elif text.startswith("]", index):
                    raise _error(text, "expected a value, but found a trailing comma", index)
                else:
                    path = frame.path + (len(frame.container),)
                break
            if char == ("}" if frame.is_map else "]"):
                stack.pop()
                value, index = frame.container, index + 1
                continue
            raise _error(text, f"expected ',' or '{'}' if frame.is_map else ']'}', but found "
                         f"{_describe(text, index)}", index)


def _key(text: str, index: int, frame: _Frame, keys: List[Tuple[ConfigPath, int]]) -> Tuple[ConfigPath, int]:
    """Read ``"key":`` at ``index``; return the path of its value and where the value starts."""
    if not text.startswith('"', index):
        ahead = "a trailing comma" if text.startswith("}", index) else _describe(text, index)
        raise _error(text, f"expected a key in double quotes, but found {ahead}", index)
    key, after = _string(text, index)
    path = frame.path + (key,)
    if key in frame.container:
        first = next(offset for entry_path, offset in reversed(keys) if entry_path == path)
        raise _error(text, f"duplicate key {key!r} (first at line {_position(text, first)[0]})", index, "PL102")
    keys.append((path, index))
    after = _WHITESPACE.match(text, after).end()
    if not text.startswith(":", after):
        raise _error(text, f"expected ':' after a key, but found {_describe(text, after)}", after)
    frame.key = key
    return path, _WHITESPACE.match(text, after + 1).end()


def _string(text: str, index: int) -> Tuple[str, int]:
    try:
        return scanstring(text, index + 1, True)
    except JSONDecodeError as error:
        raise _error(text, error.msg, error.pos) from None


def _literal(text: str, index: int) -> Tuple[Any, int]:
    for word, value in _LITERALS:
        if text.startswith(word, index):
            return value, index + len(word)
    for word in _NOT_JSON:
        if text.startswith(word, index):
            raise _error(text, f"{word} is not valid JSON", index)
    raise _error(text, f"expected a value, but found {_describe(text, index)}", index)


def _describe(text: str, index: int) -> str:
    return repr(text[index]) if index < len(text) else "the end of the file"


def _position(text: str, index: int) -> Position:
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _error(text: str, message: str, index: int, code: str = "PL101") -> LoadError:
    return LoadError(code, message, *_position(text, index))


def _positions(text: str, entries: List[Tuple[ConfigPath, int]]) -> Dict[ConfigPath, Position]:
    """Offsets to (line, column); the entries come in text order (a JSON string holds no raw newline)."""
    line_starts = [0]
    line_starts.extend(match.end() for match in _NEWLINE.finditer(text))
    line_starts.append(len(text) + 1)  # a sentinel: no offset reaches it
    positions: Dict[ConfigPath, Position] = {}
    line, start, next_start = 0, 0, line_starts[1]
    for path, offset in entries:
        if offset >= next_start:
            line += 1
            if offset >= line_starts[line + 1]:  # more than one line further
                line = bisect_right(line_starts, offset) - 1
            start, next_start = line_starts[line], line_starts[line + 1]
        positions[path] = (line + 1, offset - start + 1)
    return positions
