"""YAML to plain data plus node positions, built from PyYAML's event stream.

Why events rather than ``compose``: PyYAML's composer recurses once per
nesting level (a RecursionError in Python, unchecked C recursion in the
libyaml binding) and builds the whole node graph before any limit could
apply.  Both parsers, libyaml's and the pure-Python one, keep explicit state
stacks, so one loop that reads events and builds the data on its own stack is
bounded everywhere: depth, node count and alias expansion are checked as each
event arrives, and a deep or exploding input stops after a short prefix.

Positions are collected as ``(path, (line, column))`` entries in two lists
(values, keys).  An anchor remembers the slice of entries its subtree wrote.
An alias writes its own position and a deferred entry ``(path, slice)``; the
slices are expanded under their alias paths only once the whole document is
read within the limits, so an alias bomb stops at its node count in a few
milliseconds and copies nothing.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from yaml.nodes import ScalarNode

from ..core.diagnostics import ConfigPath
from .document import Limits, LoadError, Position

_Y = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL = _Y + "str", _Y + "int", _Y + "float", _Y + "bool", _Y + "null"
TIMESTAMP, MERGE, VALUE, SEQ, MAP = _Y + "timestamp", _Y + "merge", _Y + "value", _Y + "seq", _Y + "map"

_INT_BOUND = 10 ** 4300  # Python's limit on the decimal digits of an int, applied to every base
_CONSTRUCTORS = {INT: "construct_yaml_int", FLOAT: "construct_yaml_float", BOOL: "construct_yaml_bool"}
_NO_KEY = object()  # a mapping frame waiting for its next key
_IN_SEQ = object()  # the key of a sequence frame: it never waits for one
_MISS = object()  # a cache miss
_MERGE = object()  # a mapping frame reading the value of "<<"; also its path element

Entry = Tuple[ConfigPath, Position]
Span = Tuple[Tuple[int, int], Tuple[int, int]]  # 0-based (line, column) start and end of a scalar


class _Range:
    """Entries written below one node: ``vstore[vi:vj]``, ``kstore[ki:kj]``, paths rooted at depth ``base``."""

    __slots__ = ("vstore", "vi", "vj", "kstore", "ki", "kj", "base")

    def __init__(self, vstore: list, vi: int, vj: int, kstore: list, ki: int, kj: int, base: int) -> None:
        self.vstore, self.vi, self.vj, self.kstore, self.ki, self.kj, self.base = vstore, vi, vj, kstore, ki, kj, base


class _Anchor:
    __slots__ = ("value", "line", "range", "size", "height", "done")

    def __init__(self, line: int, rng: _Range) -> None:
        self.value: Any = None
        self.line, self.range = line, rng
        self.size, self.height, self.done = 1, 0, False


class _Frame:
    __slots__ = ("container", "path", "is_map", "key", "height", "anchor", "nodes_at_start", "merges",
                 "merge_line", "zone", "pos")

    def __init__(self, container: Any, path: ConfigPath, pos: Position) -> None:
        self.container, self.path, self.pos = container, path, pos
        self.is_map = isinstance(container, dict)
        self.key: Any = _NO_KEY if self.is_map else _IN_SEQ
        self.height = 1
        self.anchor: Optional[_Anchor] = None
        self.nodes_at_start = 0
        self.merges: Optional[list] = None  # [(source dict, _Range)] once "<<" was read
        self.merge_line = 0
        self.zone: Optional[Tuple[list, list]] = None  # the outer entry lists while this is a "<<" value


def _tag_text(tag: str) -> str:
    return "!!" + tag[len(_Y):] if tag.startswith(_Y) else tag


def _limit(message: str, pos: Position) -> LoadError:
    return LoadError("PL103", message, *pos)


def _syntax(message: str, pos: Position) -> LoadError:
    return LoadError("PL101", message, *pos)


class EventBuilder:
    """Reads one YAML stream from a PyYAML loader instance (C or pure Python)."""

    def __init__(self, loader: Any, limits: Limits, want_spans: bool) -> None:
        self.loader = loader
        self.limits = limits
        self.anchors: dict = {}
        self.cache: dict = {}  # plain scalar text -> value: configs repeat the same keys and values
        self.spans: Optional[List[Span]] = [] if want_spans else None
        self.deferred = False  # whether an alias wrote a deferred entry

    def build(self) -> Tuple[Any, Dict[ConfigPath, Position], Dict[ConfigPath, Position]]:
        """Return (data, positions, key positions); raise LoadError."""
        get_event = self.loader.get_event
        get_event()  # StreamStart
        event = get_event()
        if event.__class__ is not DocumentStartEvent:  # StreamEnd: no document at all
            return None, {(): (1, 1)}, {}
        data, vals, keys = self._document(get_event)
        event = get_event()
        if event.__class__ is DocumentStartEvent:
            mark = event.start_mark
            raise _syntax("expected a single document in the stream, but found another document",
                          (mark.line + 1, mark.column + 1))
        if not self.deferred:
            return data, dict(vals), dict(keys)
        positions: Dict[ConfigPath, Position] = {}
        key_positions = dict(keys)
        for path, pos in vals:
            if pos.__class__ is _Range:
                _expand(path, pos, positions, key_positions)
            else:
                positions[path] = pos
        return data, positions, key_positions

    def _document(self, get_event: Any) -> Tuple[Any, List[Entry], List[Entry]]:
        limits = self.limits
        max_nodes, max_depth = limits.max_nodes, limits.max_depth
        cache, scalar = self.cache, self._scalar
        vals: List[Entry] = []
        keys: List[Entry] = []
        stack: List[_Frame] = []
        frame: Optional[_Frame] = None
        root: Any = None
        nodes = 0
        while True:
            event = get_event()
            cls = event.__class__
            if cls is ScalarEvent:
                mark = event.start_mark
                pos = (mark.line + 1, mark.column + 1)
                nodes += 1
                if nodes > max_nodes:
                    raise _limit(f"more than {max_nodes} nodes", pos)
                special = None  # MERGE or VALUE: tags that only mean something as a key
                value = cache.get(event.value, _MISS) if event.tag is None and event.implicit[0] else _MISS
                if value is _MISS:
                    special, value = scalar(event, pos)
                if (special is not None or event.anchor is not None) and self._rare_scalar(
                        event, special, value, frame, pos, vals, keys):
                    continue
                if frame is None:
                    vals.append(((), pos))
                    root = value
                    continue
                key = frame.key
                if key is _NO_KEY:
                    if value in frame.container:
                        raise self._duplicate(frame, value, pos, keys)
                    frame.key = value
                    keys.append((frame.path + (value,), pos))
                elif key is _IN_SEQ:
                    vals.append((frame.path + (len(frame.container),), pos))
                    frame.container.append(value)
                elif key is _MERGE:
                    raise _syntax("expected a mapping or list of mappings for merging, but found a scalar", pos)
                else:
                    vals.append((frame.path + (key,), pos))
                    frame.container[key] = value
                    frame.key = _NO_KEY
                continue
            mark = event.start_mark
            pos = (mark.line + 1, mark.column + 1)
            if cls is MappingStartEvent or cls is SequenceStartEvent:
                if frame is not None and frame.key is _NO_KEY:
                    raise _syntax("found unhashable key: a mapping or sequence cannot be a key", pos)
                if len(stack) >= max_depth:
                    raise _limit(f"nesting deeper than {max_depth} levels", pos)
                self._check_collection_tag(event, cls is MappingStartEvent, pos)
                nodes += 1
                if nodes > max_nodes:
                    raise _limit(f"more than {max_nodes} nodes", pos)
                zone = None
                if frame is None:
                    path: ConfigPath = ()
                elif frame.key is _MERGE:  # the value of "<<": collect its entries apart, merge them at the end
                    zone = (vals, keys)
                    vals, keys = [], []
                    path = frame.path + (_MERGE,)
                else:
                    path = frame.path + ((frame.key,) if frame.is_map else (len(frame.container),))
                vals.append((path, pos))
                frame = _Frame({} if cls is MappingStartEvent else [], path, pos)
                frame.zone = zone
                if event.anchor is not None:
                    frame.anchor = self._define(event.anchor, pos,
                                                _Range(vals, len(vals), 0, keys, len(keys), 0, len(path)))
                    frame.nodes_at_start = nodes - 1
                stack.append(frame)
                continue
            if cls is MappingEndEvent or cls is SequenceEndEvent:
                done = stack.pop()
                if done.merges:
                    # copying merged entries is work the node count must bound too (nested merges copy again)
                    nodes += self._flatten(done, vals, keys, max_nodes - nodes)
                value, height = done.container, done.height
                anchor = done.anchor
                if anchor is not None:
                    anchor.value, anchor.height, anchor.done = value, height, True
                    anchor.size = nodes - done.nodes_at_start
                    anchor.range.vj, anchor.range.kj = len(vals), len(keys)
                frame = stack[-1] if stack else None
                if done.zone is not None:
                    rng = _Range(vals, 1, len(vals), keys, 0, len(keys), len(done.path))
                    vals, keys = done.zone
                    self._add_merge(frame, value, height, rng, done.pos, len(stack))
                    continue
            elif cls is AliasEvent:
                anchor = self.anchors.get(event.anchor)
                if anchor is None:
                    raise _syntax(f"found undefined alias {event.anchor!r}", pos)
                if not anchor.done:
                    raise _limit(f"recursive alias *{event.anchor}: the node contains itself, "
                                 f"so its expansion is infinite", pos)
                nodes += anchor.size
                if nodes > max_nodes:
                    raise _limit(f"more than {max_nodes} nodes after expanding aliases (*{event.anchor} "
                                 f"stands for {anchor.size} nodes)", pos)
                value, height = anchor.value, anchor.height
                if frame is not None and frame.key is _NO_KEY:
                    if isinstance(value, (dict, list)):
                        raise _syntax("found unhashable key: a mapping or sequence cannot be a key", pos)
                    if value in frame.container:
                        raise self._duplicate(frame, value, pos, keys)
                    frame.key = value
                    keys.append((frame.path + (value,), pos))
                    continue
                if len(stack) + height > max_depth:
                    raise _limit(f"nesting deeper than {max_depth} levels after expanding *{event.anchor}", pos)
                if frame is not None and frame.key is _MERGE:
                    self._add_merge(frame, value, height, anchor.range, pos, len(stack))
                    continue
                path = () if frame is None else frame.path + (
                    (frame.key,) if frame.is_map else (len(frame.container),))
                vals.append((path, pos))
                rng = anchor.range
                if rng.vj > rng.vi or rng.kj > rng.ki:
                    vals.append((path, rng))
                    self.deferred = True
            elif cls is DocumentEndEvent:
                return root, vals, keys
            else:  # pragma: no cover - the parser emits nothing else inside a document
                raise _syntax(f"unexpected {cls.__name__}", pos)
            # attach a finished collection or an alias to its parent
            if frame is None:
                root = value
            else:
                if frame.height <= height:
                    frame.height = height + 1
                if frame.is_map:
                    frame.container[frame.key] = value
                    frame.key = _NO_KEY
                else:
                    frame.container.append(value)

    # --- scalars and tags ----------------------------------------------------
    def _rare_scalar(self, event: Any, special: Optional[str], value: Any, frame: Optional[_Frame],
                     pos: Position, vals: List[Entry], keys: List[Entry]) -> bool:
        """Define a scalar's anchor and check a special tag; True when the scalar was a merge key."""
        if event.anchor is not None:
            if special == MERGE:
                raise _syntax("an anchor on a merge key '<<' is not supported", pos)
            anchor = self._define(event.anchor, pos, _Range(vals, 0, 0, keys, 0, 0, 0))
            anchor.value, anchor.done = value, True
        if special is None:
            return False
        if frame is None or frame.key is not _NO_KEY:
            raise self._unconstructible(special, pos)
        if special == MERGE:
            self._merge_key(frame, pos)
            return True
        return False  # a "=" key: SafeLoader reads it as the string "="

    def _scalar(self, event: Any, pos: Position) -> Tuple[Optional[str], Any]:
        """(special tag or None, value) of a scalar event, as SafeLoader resolves and constructs it.

        The special tags are MERGE (a plain ``<<``) and VALUE (a plain ``=``): SafeLoader
        reads them as a key only.
        """
        text, tag = event.value, event.tag
        implicit = event.implicit
        plain = tag is None and implicit[0]
        if self.spans is not None and "#" in text:
            self._add_span(event)
        if tag is None or tag == "!":
            tag = self.loader.resolve(ScalarNode, text, implicit) if implicit[0] else STR
        if tag == STR or tag == TIMESTAMP:  # timestamps stay the text written: configs hold plain data
            value: Any = text
        elif tag == NULL:
            value = None
        elif tag == MERGE or tag == VALUE:
            return tag, text
        elif tag in _CONSTRUCTORS:
            node = ScalarNode(tag, text, event.start_mark, event.end_mark, event.style)
            try:
                value = getattr(self.loader, _CONSTRUCTORS[tag])(node)
            except (ValueError, KeyError, ArithmeticError) as error:
                if "limit" in str(error):  # Python's cap on the digits of an int (3.11+)
                    raise _limit(f"integer with {len(text)} digits is over Python's limit", pos) from None
                raise _syntax(f"cannot read {text!r} as {_tag_text(tag)}", pos) from None
            if tag == INT and not -_INT_BOUND < value < _INT_BOUND:  # hex, octal, binary, base 60: no digit cap
                raise _limit(f"integer {text[:20]}... is over Python's limit of 4300 decimal digits", pos)
        elif tag in (SEQ, MAP):
            raise LoadError("PL104", f"tag {_tag_text(tag)} cannot be used on a scalar", *pos)
        else:
            raise LoadError("PL104", f"tag {_tag_text(tag)} is not allowed: paramlint loads plain data only "
                            f"(strings, numbers, booleans, null, lists and mappings)", *pos)
        if plain and "#" not in text:  # a '#' needs its span recorded each time (comments)
            self.cache[text] = value
        return None, value

    @staticmethod
    def _check_collection_tag(event: Any, is_map: bool, pos: Position) -> None:
        tag = event.tag
        if tag is None or tag == "!" or tag == (MAP if is_map else SEQ):
            return
        kind = "mapping" if is_map else "sequence"
        if tag in (STR, INT, FLOAT, BOOL, NULL, TIMESTAMP, MAP, SEQ):
            raise LoadError("PL104", f"tag {_tag_text(tag)} cannot be used on a {kind}", *pos)
        raise LoadError("PL104", f"tag {_tag_text(tag)} is not allowed: paramlint loads plain data only "
                        f"(strings, numbers, booleans, null, lists and mappings)", *pos)

    @staticmethod
    def _unconstructible(tag: str, pos: Position) -> LoadError:
        text = "<<" if tag == MERGE else "="
        return _syntax(f"a plain {text!r} is not a value YAML's safe loader can read (it resolves to "
                       f"{_tag_text(tag)}); quote it", pos)

    def _add_span(self, event: Any) -> None:
        start, end = event.start_mark, event.end_mark
        first = (start.line + 1, 0) if event.style in ("|", ">") else (start.line, start.column)
        self.spans.append((first, (end.line, end.column)))

    # --- anchors, keys, merges ---------------------------------------------
    def _define(self, name: str, pos: Position, rng: _Range) -> _Anchor:
        first = self.anchors.get(name)
        if first is not None:
            raise _syntax(f"found duplicate anchor {name!r}; first occurrence at line {first.line}", pos)
        anchor = self.anchors[name] = _Anchor(pos[0], rng)
        return anchor

    @staticmethod
    def _duplicate(frame: _Frame, key: Any, pos: Position, keys: List[Entry]) -> LoadError:
        path = frame.path + (key,)
        first = next((p for entry_path, p in reversed(keys) if entry_path == path), None)
        where = f" (first at line {first[0]})" if first else ""
        return LoadError("PL102", f"duplicate key {key!r}{where}", *pos)

    @staticmethod
    def _merge_key(frame: _Frame, pos: Position) -> None:
        if frame.merges is not None:
            raise LoadError("PL102", f"duplicate key '<<' (first at line {frame.merge_line}); "
                            f"merge several mappings with one key: `<<: [*a, *b]`", *pos)
        frame.merges, frame.merge_line, frame.key = [], pos[0], _MERGE

    def _add_merge(self, frame: _Frame, value: Any, height: int, rng: _Range, pos: Position, depth: int) -> None:
        """Record the value of ``<<`` (a mapping or a list of mappings) as merge sources of ``frame``."""
        frame.key = _NO_KEY
        if isinstance(value, dict):
            sources = [(value, rng)]
        elif isinstance(value, list):
            sources = list(zip(value, _split(rng, len(value))))
            height -= 1
            for item, item_range in sources:
                if not isinstance(item, dict):
                    raise _syntax("expected a mapping for merging, but found "
                                  f"{'a sequence' if isinstance(item, list) else 'a scalar'}",
                                  item_range.vstore[item_range.vi][1])
        else:
            raise _syntax("expected a mapping or list of mappings for merging, but found a scalar", pos)
        if depth + height - 1 > self.limits.max_depth:
            raise _limit(f"nesting deeper than {self.limits.max_depth} levels after merging", pos)
        frame.merges.extend(sources)
        if frame.height < height:
            frame.height = height

    def _flatten(self, frame: _Frame, vals: List[Entry], keys: List[Entry], budget: int) -> int:
        """Apply the merges: earlier sources win over later ones, explicit keys over all (the YAML merge spec).

        Returns the number of entries read to copy the merged positions, refused over ``budget``.
        """
        explicit = frame.container
        merged: dict = {}
        winner: dict = {}
        for source in frame.merges:
            for key, value in source[0].items():
                if key not in merged:
                    merged[key] = value
                    if key not in explicit:
                        winner[key] = source
        merged.update(explicit)
        frame.container = merged
        path = frame.path
        read = 0

        def copy(rng: _Range, source: tuple) -> None:
            nonlocal read
            read += rng.vj - rng.vi + rng.kj - rng.ki
            if read > budget:
                raise _limit(f"more than {self.limits.max_nodes} nodes after merging", frame.pos)
            base = rng.base
            for entry_path, pos in rng.vstore[rng.vi:rng.vj]:
                rel = entry_path[base:]
                if rel:
                    if winner.get(rel[0]) is source:
                        vals.append((path + rel, pos))
                elif pos.__class__ is _Range:  # the source is an alias: read what its anchor wrote
                    copy(pos, source)
            for entry_path, pos in rng.kstore[rng.ki:rng.kj]:
                rel = entry_path[base:]
                if winner.get(rel[0]) is source:
                    keys.append((path + rel, pos))

        for source in {id(s): s for s in winner.values()}.values():
            copy(source[1], source)
        return read


def _expand(path: ConfigPath, rng: _Range, positions: dict, key_positions: dict) -> None:
    """Write the entries below an anchored node under ``path`` (an alias use), nested aliases included."""
    todo = [(path, rng)]
    while todo:
        path, rng = todo.pop()
        base = rng.base
        for entry_path, pos in rng.vstore[rng.vi:rng.vj]:
            if pos.__class__ is _Range:
                todo.append((path + entry_path[base:], pos))
            else:
                positions[path + entry_path[base:]] = pos
        for entry_path, pos in rng.kstore[rng.ki:rng.kj]:
            key_positions[path + entry_path[base:]] = pos


def _split(rng: _Range, count: int) -> List[_Range]:
    """The ranges of each element of a sequence whose entries are ``rng`` (document order)."""
    def starts(store: list, lo: int, hi: int) -> List[int]:
        first = [hi] * (count + 1)
        for index in range(hi - 1, lo - 1, -1):
            first[store[index][0][rng.base]] = index
        for element in range(count - 1, -1, -1):  # an element without entries starts where the next does
            first[element] = min(first[element], first[element + 1])
        return first

    vs, ks = starts(rng.vstore, rng.vi, rng.vj), starts(rng.kstore, rng.ki, rng.kj)
    return [_Range(rng.vstore, vs[e], vs[e + 1], rng.kstore, ks[e], ks[e + 1], rng.base + 1) for e in range(count)]
