"""The loader: YAML and JSON text to plain data plus node positions, safe and bounded.

YAML tests run on both parsers (libyaml through CSafeLoader, and the
pure-Python SafeLoader); errors are asserted as (code, line, column).
"""
from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from typing import Any, Iterator, Set, Tuple

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from paramlint.source import loader as loader_module
from paramlint.core.diagnostics import ConfigPath
from paramlint.source.loader import LIMITS, Document, Limits, LoadError, load_document

YAML_LOADERS = [pytest.param(yaml.SafeLoader, id="python")]
if getattr(yaml, "CSafeLoader", None) is not None:
    YAML_LOADERS.insert(0, pytest.param(yaml.CSafeLoader, id="libyaml"))
# The name of the parser that produced a result, for the few syntax errors whose column differs.
C_PARSER = "libyaml"

# Generous bounds: the real times are milliseconds (see the report); these only catch a blow-up.
FAST_SECONDS = 5.0


@contextlib.contextmanager
def parser(loader_class: Any) -> Iterator[None]:
    saved = loader_module.YAML_LOADER
    loader_module.YAML_LOADER = loader_class
    try:
        yield
    finally:
        loader_module.YAML_LOADER = saved


@pytest.fixture(params=YAML_LOADERS)
def yaml_parser(request: Any) -> Iterator[str]:
    with parser(request.param):
        yield C_PARSER if request.param is getattr(yaml, "CSafeLoader", None) else "python"


def load(text: str | bytes, path: str = "model.yaml", limits: Limits = LIMITS) -> Document:
    return load_document(text.encode() if isinstance(text, str) else text, path=path, limits=limits)


def error_of(text: str | bytes, path: str = "model.yaml", limits: Limits = LIMITS) -> Tuple[str, int, int]:
    with pytest.raises(LoadError) as info:
        load(text, path, limits)
    return info.value.code, info.value.line, info.value.column


def value_paths(data: Any) -> Tuple[Set[ConfigPath], Set[ConfigPath]]:
    """All paths of ``data`` (values) and the paths of its mapping entries (keys)."""
    values: Set[ConfigPath] = set()
    keys: Set[ConfigPath] = set()
    todo = [((), data)]
    while todo:
        path, node = todo.pop()
        values.add(path)
        if isinstance(node, dict):
            keys.update(path + (key,) for key in node)
            todo.extend((path + (key,), item) for key, item in node.items())
        elif isinstance(node, list):
            todo.extend((path + (index,), item) for index, item in enumerate(node))
    return values, keys


def assert_positions_cover(document: Document) -> None:
    values, keys = value_paths(document.data)
    assert set(document.positions) == values
    assert set(document.key_positions) == keys


def strict(data: Any) -> Any:
    """``data`` with the type of every scalar made part of its value (1, 1.0 and True differ)."""
    if isinstance(data, dict):
        return {strict(key): strict(value) for key, value in data.items()}
    if isinstance(data, list):
        return [strict(item) for item in data]
    return type(data).__name__, data


# --- positions ----------------------------------------------------------------
BLOCK = """\
paramlint: 1
input: [3, 32, 32]
layers:
  - type: Conv2d
    out_channels: 5
  - {type: ReLU, inplace: true}
training:
  optimizer:
    type: SGD
"""


def test_block_and_flow_yaml_positions(yaml_parser):
    document = load(BLOCK)
    assert document.data == yaml.safe_load(BLOCK)
    assert document.positions[()] == (1, 1)
    assert document.positions[("paramlint",)] == (1, 12)
    assert document.positions[("input",)] == (2, 8)
    assert document.positions[("input", 2)] == (2, 16)
    assert document.positions[("layers",)] == (4, 3)
    assert document.positions[("layers", 0)] == (4, 5)
    assert document.positions[("layers", 0, "out_channels")] == (5, 19)
    assert document.positions[("layers", 1)] == (6, 5)
    assert document.positions[("layers", 1, "inplace")] == (6, 27)
    assert document.positions[("training", "optimizer", "type")] == (9, 11)
    assert document.key_positions[("layers",)] == (3, 1)
    assert document.key_positions[("layers", 0, "out_channels")] == (5, 5)
    assert document.key_positions[("layers", 1, "inplace")] == (6, 18)
    assert document.key_positions[("training", "optimizer")] == (8, 3)
    assert document.comments == {}
    assert_positions_cover(document)


def test_flow_yaml_positions_across_lines(yaml_parser):
    document = load("{a: [1,\n  {b: x}], c: {}}\n")
    assert document.data == {"a": [1, {"b": "x"}], "c": {}}
    assert document.positions == {(): (1, 1), ("a",): (1, 5), ("a", 0): (1, 6), ("a", 1): (2, 3),
                                  ("a", 1, "b"): (2, 7), ("c",): (2, 15)}
    assert document.key_positions == {("a",): (1, 2), ("a", 1, "b"): (2, 4), ("c",): (2, 12)}


def test_columns_count_characters_and_a_bom_is_skipped(yaml_parser):
    document = load("\ufeffnom: 'é'\nété: [ü, x]\n")
    assert document.data == {"nom": "é", "été": ["ü", "x"]}
    assert document.key_positions[("nom",)] == (1, 1)
    assert document.positions[("été", 1)] == (2, 10)


def test_json_positions():
    text = '{"paramlint": 1,\n  "layers": [{"type": "Linear", "out_features": 10},\n\n    {"type": "ReLU"}],' \
           ' "x": [true, null, -2.5e3]}'
    document = load(text, "model.json")
    assert document.data == json.loads(text)
    assert document.positions[()] == (1, 1)
    assert document.positions[("paramlint",)] == (1, 15)
    assert document.positions[("layers",)] == (2, 13)
    assert document.positions[("layers", 0, "out_features")] == (2, 49)
    assert document.positions[("layers", 1)] == (4, 5)
    assert document.positions[("x", 2)] == (4, 42)
    assert document.key_positions[("layers",)] == (2, 3)
    assert document.key_positions[("layers", 1, "type")] == (4, 6)
    assert document.comments == {}
    assert_positions_cover(document)


def test_non_string_keys_keep_their_values_and_positions(yaml_parser):
    document = load("1: x\nnull: y\nfalse: z\n1.5: [w]\n")
    assert document.data == {1: "x", None: "y", False: "z", 1.5: ["w"]}
    assert document.key_positions[(None,)] == (2, 1)
    assert document.positions[(1.5, 0)] == (4, 7)
    assert_positions_cover(document)


def test_aliases_point_at_the_alias_and_inside_at_the_anchor(yaml_parser):
    document = load("conv: &c {type: Conv2d, k: [3, 3]}\nlayers: [*c, *c]\n")
    assert document.data["layers"] == [document.data["conv"]] * 2
    assert document.positions[("layers", 1)] == (2, 14)
    assert document.positions[("layers", 1, "k", 1)] == (1, 32)
    assert document.key_positions[("layers", 0, "type")] == (1, 11)
    assert_positions_cover(document)


# --- comments ----------------------------------------------------------------------
COMMENTED = """\
a: 1 # paramlint: ignore[PL401]
# a full line
b: "x # not a comment" # two
c: x#y
d: |  # header
  # inside a literal
  text
# after the block
e: [1, # in flow
  2]
f: 'q # no'  #three
"""


def test_comments_map(yaml_parser):
    document = load(COMMENTED)
    assert document.data == yaml.safe_load(COMMENTED)
    assert document.comments == {1: "paramlint: ignore[PL401]", 2: "a full line", 3: "two", 5: "header",
                                 8: "after the block", 9: "in flow", 11: "three"}


def test_no_comments_in_json():
    document = load('{"a": "# x"}', "M.JSON")  # the syntax follows the extension, in any case
    assert document.data == {"a": "# x"}
    assert document.comments == {}


# --- values -----------------------------------------------------------------------
SCALARS = ["010", "0x1F", "1_000", "1:30", "190:20:30", ".inf", "-.Inf", "yes", "No", "on", "OFF", "~", "null",
           "", "1e5", "1.5e+3", "685.230_15e+03", "'010'", '"yes"', "!!str 12", "!!float 1", "!!int '7'", "! 12",
           "+12", "-0", "0b1010", "0o17", "3.", "Y", "!!bool yes", "!!null ''", "123456789012345678901234567890"]


@pytest.mark.parametrize("text", SCALARS)
def test_scalars_resolve_as_safe_load_does(yaml_parser, text):
    assert strict(load(f"v: {text}\n").data) == strict(yaml.safe_load(f"v: {text}\n"))


def test_nan_and_timestamps(yaml_parser):
    data = load("nan: .NaN\nday: 2024-01-01\nwhen: !!timestamp 2001-12-14t21:59:43.10-05:00\n").data
    assert math.isnan(data["nan"])
    assert data["day"] == "2024-01-01"  # timestamps stay the text written: configs are plain data
    assert data["when"] == "2001-12-14t21:59:43.10-05:00"


def test_json_values_follow_the_json_module():
    text = '[1e5, -0, 1.0, 123456789012345678901234567890, "\\u00e9\\n", true, false, null, {}]'
    assert strict(load(text, "m.json").data) == strict(json.loads(text))


@pytest.mark.parametrize("path", ["empty.yaml", "empty.json"])
@pytest.mark.parametrize("text", ["", "   \n\n", "\ufeff"])
def test_empty_file_is_none(text, path):
    document = load(text, path)
    assert document.data is None
    assert document.positions == {(): (1, 1)}


def test_comments_only_file_is_none(yaml_parser):
    document = load("# nothing here\n\n  # really\n")
    assert document.data is None
    assert document.comments == {1: "nothing here", 3: "really"}


def test_str_input_is_accepted():
    assert load_document("a: 1", path="m.yaml").data == {"a": 1}


# --- merge keys -----------------------------------------------------------------------
MERGES = """\
base: &b {x: 1, y: [1, 2]}
other: &o {y: 9, z: 3}
explicit: {<<: *b, x: 5}
listed: {<<: [*b, *o]}
reversed: {<<: [*o, *b], w: 0}
inline: {<<: {p: 1}, q: 2}
"""


def test_merge_keys(yaml_parser):
    document = load(MERGES)
    assert document.data["explicit"] == {"x": 5, "y": [1, 2]}
    assert document.data["listed"] == {"x": 1, "y": [1, 2], "z": 3}  # the earlier mapping wins
    assert document.data["reversed"] == {"y": 9, "z": 3, "x": 1, "w": 0}
    assert document.data["inline"] == {"p": 1, "q": 2}
    assert document.positions[("explicit", "x")] == (3, 23)
    assert document.positions[("explicit", "y", 1)] == (1, 24)
    assert document.positions[("listed", "y")] == (1, 20)
    assert document.positions[("reversed", "y")] == (2, 15)
    assert document.key_positions[("inline", "p")] == (6, 15)
    assert_positions_cover(document)


def test_merge_key_uses_inside_aliases_and_anchors_inside_merges(yaml_parser):
    text = "m: {<<: [{a: 1}, &k {b: [2]}], c: 3}\nn: *k\nlist: &l [{a: 1}, {b: [1]}]\nz: {<<: *l}\n"
    document = load(text)
    assert document.data == {"m": {"a": 1, "b": [2], "c": 3}, "n": {"b": [2]},
                             "list": [{"a": 1}, {"b": [1]}], "z": {"a": 1, "b": [1]}}
    assert document.positions[("n", "b", 0)] == (1, 26)
    assert document.positions[("z", "b", 0)] == (3, 24)
    assert_positions_cover(document)


def test_nested_and_empty_merges_and_special_keys(yaml_parser):
    text = "a: &a {x: 1}\nb: {<<: {<<: *a, y: 2}, z: 3}\nc: {<<: [], w: 1}\nd: {= : 1, '<<': 2}\n"
    document = load(text)
    assert document.data == {"a": {"x": 1}, "b": {"x": 1, "y": 2, "z": 3}, "c": {"w": 1}, "d": {"=": 1, "<<": 2}}
    assert document.positions[("b", "x")] == (1, 11)
    assert document.positions[("b", "y")] == (2, 21)
    assert_positions_cover(document)


# --- errors: (code, line, column) -------------------------------------------------------
YAML_ERRORS = [
    # syntax (PL101): PyYAML's problem mark
    ("layers:\n  - {type: Conv2d, kernel_size: 3\n", ("PL101", 3, 1)),
    ("a: 1\n b: 2\n", ("PL101", 2, 3)),
    ("a: b: c\n", ("PL101", 1, 5)),
    ('key: "unterminated\n', ("PL101", 2, 1)),
    ("---\na: 1\n---\nb: 2\n", ("PL101", 3, 1)),
    ("a: *nope\n", ("PL101", 1, 4)),
    ("a: &x 1\nb: &x 2\n", ("PL101", 2, 4)),
    ("[1, 2]: x\n", ("PL101", 1, 1)),
    ("a: <<\n", ("PL101", 1, 4)),
    ("a: =\n", ("PL101", 1, 4)),
    ("a: !!int abc\n", ("PL101", 1, 4)),
    ("a: {<<: 1}\n", ("PL101", 1, 9)),
    ("a: {<<: [{x: 1}, 2]}\n", ("PL101", 1, 18)),
    # duplicate keys (PL102): at the second key
    ("a: 1\nb: 2\na: 3\n", ("PL102", 3, 1)),
    ("- {type: Linear, out_features: 10, out_features: 20}\n", ("PL102", 1, 36)),
    ("x:\n  y: 1\n  z: 2\n  y: 3\n", ("PL102", 4, 3)),
    ("a: {<<: {x: 1}, <<: {y: 2}}\n", ("PL102", 1, 17)),
    ("1: a\n1: b\n", ("PL102", 2, 1)),
    # limits (PL103)
    ("a: &a [1, *a]\n", ("PL103", 1, 11)),
    ("a: &a {b: [*a]}\n", ("PL103", 1, 12)),
    # tags (PL104)
    ("layers: !!python/object/apply:os.system [echo hi]\n", ("PL104", 1, 9)),
    ("a: !!python/name:os.system\n", ("PL104", 1, 4)),
    ("a: !local 1\n", ("PL104", 1, 4)),
    ("a: !!binary aGVsbG8=\n", ("PL104", 1, 4)),
    ("a:\n  - !!set {x, y}\n", ("PL104", 2, 5)),
    ("a: !!map x\n", ("PL104", 1, 4)),
    ("%TAG !e! tag:example.com,2000:\n---\na: !e!foo 1\n", ("PL104", 3, 4)),
    # encoding (PL105)
    ('a: "\x07"\n', ("PL105", 1, 5)),
    ("a: 1\nb: x\x00y\n", ("PL105", 2, 5)),
]


@pytest.mark.parametrize("text,expected", YAML_ERRORS, ids=[repr(case[0])[:40] for case in YAML_ERRORS])
def test_yaml_errors(yaml_parser, text, expected):
    assert error_of(text) == expected


def test_syntax_error_message_has_problem_and_context(yaml_parser):
    with pytest.raises(LoadError) as info:
        load("a: [1, 2")
    error = info.value
    assert error.code == "PL101"
    assert "',' or ']'" in error.message and "while parsing a flow sequence at line 1, column 4" in error.message
    # at the end of the stream, libyaml reports the next line, PyYAML the end of the last token
    assert (error.line, error.column) == ((2, 1) if yaml_parser == C_PARSER else (1, 9))


def test_duplicate_key_message_names_the_first_line(yaml_parser):
    with pytest.raises(LoadError) as info:
        load("a: 1\nb: 2\na: 3\n")
    assert "line 1" in info.value.message


JSON_ERRORS = [
    ('{"a": 1,\n "b": [1,]}', ("PL101", 2, 10)),
    ('{"a": 1,}', ("PL101", 1, 9)),
    ('{"a" 1}', ("PL101", 1, 6)),
    ("[1, 2", ("PL101", 1, 6)),
    ("[1] 2", ("PL101", 1, 5)),
    ('{"a": "b\nc"}', ("PL101", 1, 9)),
    ("{'a': 1}", ("PL101", 1, 2)),
    ('{"a": NaN}', ("PL101", 1, 7)),
    ("[Infinity]", ("PL101", 1, 2)),
    ("[1, -Infinity]", ("PL101", 1, 5)),
    ('{"a": 1,\n "a": 2}', ("PL102", 2, 2)),
    ('[{"x": {"y": 1, "y": 1}}]', ("PL102", 1, 17)),
    ('{"a": "\x07"}', ("PL105", 1, 8)),
    ('{"a":\n\x00}', ("PL105", 2, 1)),
]


@pytest.mark.parametrize("text,expected", JSON_ERRORS, ids=[repr(case[0])[:40] for case in JSON_ERRORS])
def test_json_errors(text, expected):
    assert error_of(text, "model.json") == expected


@pytest.mark.parametrize("path", ["m.yaml", "m.json"])
def test_encoding_errors(yaml_parser, path):
    assert error_of("a: 1".encode("utf-16"), path) == ("PL105", 1, 1)  # byte-order mark
    assert error_of('{"a": 1}'.encode("utf-16-le"), path) == ("PL105", 1, 2)  # NUL bytes
    assert error_of(b"a: 1\nb: caf\xe9\n", path) == ("PL105", 2, 7)  # Latin-1, not UTF-8
    assert error_of(bytes(range(256)) * 4, path)[0] == "PL105"


def test_max_bytes_is_checked_before_decoding():
    assert error_of(b"\xff" * 11, limits=Limits(max_bytes=10)) == ("PL103", 1, 1)


@pytest.mark.parametrize("path", ["m.yaml", "m.json"])
def test_node_and_depth_limits(yaml_parser, path):
    assert error_of("[1, 2, 3, 4, 5]", path, Limits(max_nodes=5)) == ("PL103", 1, 14)
    assert load("[[[1]]]", path, Limits(max_depth=3)).data == [[[1]]]
    assert error_of("[[[[1]]]]", path, Limits(max_depth=3)) == ("PL103", 1, 4)


def test_alias_expansion_counts_against_the_limits(yaml_parser):
    assert error_of("a: &a [[1]]\nb: [[*a]]\n", limits=Limits(max_depth=4)) == ("PL103", 2, 6)
    assert error_of("a: &a [1, 2, 3]\nb: [*a, *a]\n", limits=Limits(max_nodes=10)) == ("PL103", 2, 5)


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    names = [chr(ord("a") + level) for level in range(levels)]
    lines = [f"{names[0]}: &{names[0]} [{', '.join(['lol'] * width)}]"]
    for previous, name in zip(names, names[1:]):
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * width)}]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_fast(yaml_parser):
    start = time.perf_counter()
    code, line, _ = error_of(billion_laughs())
    assert (code, line) == ("PL103", 7)  # 9**6 nodes fit, 9**7 do not
    assert time.perf_counter() - start < FAST_SECONDS


DEEP = 50_000


@pytest.mark.parametrize("text,path,position", [
    ("[" * DEEP + "]" * DEEP, "deep.yaml", None),  # libyaml stops at its own cap while looking ahead
    ("{a: " * DEEP + "1" + "}" * DEEP, "deep.yaml", None),
    ("- " * DEEP + "x\n", "deep.yaml", (1, 401)),
    ("".join(" " * level + f"k{level}:\n" for level in range(1000)), "deep.yaml", (201, 201)),
    ("[" * DEEP + "]" * DEEP, "deep.json", (1, 201)),
    ('{"a": ' * DEEP + "1" + "}" * DEEP, "deep.json", (1, 1201)),
], ids=["flow-seq", "flow-map", "block-seq", "block-map", "json-array", "json-object"])
def test_deep_nesting_is_refused_fast(yaml_parser, text, path, position):
    start = time.perf_counter()
    code, line, column = error_of(text, path)
    assert code == "PL103"
    if position is not None:
        assert (line, column) == position
    assert time.perf_counter() - start < FAST_SECONDS


@pytest.mark.skipif(not getattr(sys, "get_int_max_str_digits", lambda: 0)(), reason="no int digit limit")
@pytest.mark.parametrize("path", ["m.yaml", "m.json"])
def test_overlong_integer_is_a_limit(yaml_parser, path):
    assert error_of("[" + "7" * 5000 + "]", path) == ("PL103", 1, 2)


# --- round trips -------------------------------------------------------------------------
SCALAR_VALUES = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                 | st.text(max_size=12))
DOCUMENTS = st.recursive(
    SCALAR_VALUES,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)


def check_round_trip(data: Any, text: str, path: str) -> Document:
    document = load(text, path)
    assert strict(document.data) == strict(data), text
    assert_positions_cover(document)
    return document


# YAML 1.1 line breaks that PyYAML's emitter writes raw with allow_unicode and its parser then folds:
# yaml.safe_load does not round-trip them either, so there the reference is yaml.load itself.
YAML_ONLY_BREAKS = ("\x85", "\u2028", "\u2029")


@pytest.mark.parametrize("loader_class", [param.values[0] for param in YAML_LOADERS],
                         ids=[param.id for param in YAML_LOADERS])
@settings(max_examples=120, deadline=None)
@given(data=DOCUMENTS, flow=st.booleans(), unicode=st.booleans())
def test_yaml_round_trip(loader_class, data, flow, unicode):
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=unicode)
    if unicode and any(char in text for char in YAML_ONLY_BREAKS):
        data = yaml.load(text, Loader=loader_class)
    with parser(loader_class):
        check_round_trip(data, text, "data.yaml")


@pytest.mark.parametrize("loader_class", [param.values[0] for param in YAML_LOADERS],
                         ids=[param.id for param in YAML_LOADERS])
@settings(max_examples=60, deadline=None)
@given(shared=DOCUMENTS, other=DOCUMENTS, flow=st.booleans())
def test_yaml_round_trip_with_aliases(loader_class, shared, other, flow):
    data = {"a": shared, "b": [shared, other, shared], "c": {"d": shared}}
    text = yaml.safe_dump(data, default_flow_style=flow)  # anchors a shared list or mapping, aliases the rest
    with parser(loader_class):
        check_round_trip(data, text, "data.yaml")


@settings(max_examples=150, deadline=None)
@given(data=DOCUMENTS, indent=st.sampled_from([None, 2]), ascii_only=st.booleans())
def test_json_round_trip(data, indent, ascii_only):
    text = json.dumps(data, indent=indent, ensure_ascii=ascii_only)
    document = check_round_trip(data, text, "data.json")
    if indent is None:  # compact json.dumps is compositional: each value's own dump sits at its position
        lines = text.split("\n")
        for node_path, (line, column) in document.positions.items():
            node: Any = data
            for part in node_path:
                node = node[part]
            assert lines[line - 1][column - 1:].startswith(json.dumps(node, ensure_ascii=ascii_only))
        for node_path, (line, column) in document.key_positions.items():
            assert lines[line - 1][column - 1:].startswith(json.dumps(node_path[-1], ensure_ascii=ascii_only))
