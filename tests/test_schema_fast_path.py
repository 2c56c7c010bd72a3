"""The fast path of validation: paramlint's interpreter of the schema keywords (paramlint/validation/
interpreter.py) against jsonschema, the oracle.

Whenever the interpreter answers True or False it must equal jsonschema's verdict (with the strict
"integer" of format 1, and Draft 2020-12's own for the tool schema); None (unsure) sends the document to
jsonschema and must be rare.  Instances: every ``$defs/layer.*`` subschema's own examples and the layer
entries of the examples and the random graphs, each mutated key by key with values chosen to sit on the
edges (1 vs 1.0 vs True, bounds and their neighbours, strings that almost match patterns, junk), plus
random multi-key mutations; whole configs mutated as the fuzzer does; tool tables the same way.  End to
end, lint findings with the fast path equal those without it, and a valid run never imports jsonschema.

``PARAMLINT_FUZZ_EXAMPLES`` scales the random part as in tests/test_fuzz.py.
"""
from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paramlint.lint import Linter
from strategies import block_graphs, cnn_graphs, mlp_graphs, sequence_graphs
from test_fuzz import mutated_configs  # the fuzzer's mutations of the examples
from paramlint.tool_config import check_table
from paramlint.validation.interpreter import Interpreter, json_equal, plain_json
from paramlint.validation.validator import SchemaValidator, load_schema, schema_path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = load_schema()
TOOL_SCHEMA = json.loads(schema_path("tool-config.json").read_text(encoding="utf-8"))
FAST = SchemaValidator()
SLOW = SchemaValidator(fast=False)
LAYER_TYPES = sorted(k[len("layer."):] for k in SCHEMA["$defs"] if k.startswith("layer."))
LONG_RUN = int(os.environ.get("PARAMLINT_FUZZ_EXAMPLES", "0") or 0)
SCALE = max(1, LONG_RUN // 3000)
RANDOM_EXAMPLES = 150 * SCALE
UNSURE_AT_MOST = 0.01  # of the verdicts; the measured figure is printed by test_unsure_is_rare


class Tally:
    """Verdicts compared with jsonschema's: agreements, disagreements (with the first few instances) and
    unsure answers."""

    def __init__(self) -> None:
        self.checked = self.unsure = 0
        self.wrong: List[Tuple[str, Any, Any, bool]] = []

    def compare(self, where: str, fast: Optional[bool], oracle: bool, instance: Any) -> None:
        self.checked += 1
        if fast is None:
            self.unsure += 1
        elif fast != oracle:
            self.wrong.append((where, instance, fast, oracle))

    def assert_exact(self) -> None:
        assert not self.wrong, f"{len(self.wrong)} of {self.checked} verdicts differ, e.g. {self.wrong[:3]}"


# --- oracles ----------------------------------------------------------------------------------------------

def layer_verdicts(layer_type: str, entry: Any) -> Tuple[Optional[bool], bool]:
    fast = FAST._fast.schema.is_valid(entry, SCHEMA["$defs"][f"layer.{layer_type}"])  # type: ignore[union-attr]
    return fast, SLOW._layer_validator(layer_type).is_valid(entry)


def document_verdicts(data: Any) -> Tuple[Optional[bool], bool]:
    return FAST._fast.document.is_valid(data), SLOW.document.is_valid(data)  # type: ignore[union-attr]


TOOL_FAST = Interpreter(TOOL_SCHEMA, strict_integer=False)


TOOL_ORACLE: List[Any] = []


def tool_verdicts(table: Any) -> Tuple[Optional[bool], bool]:
    if not TOOL_ORACLE:
        from jsonschema import Draft202012Validator

        TOOL_ORACLE.append(Draft202012Validator(TOOL_SCHEMA))
    return TOOL_FAST.is_valid(table), TOOL_ORACLE[0].is_valid(table)


# --- edge values ------------------------------------------------------------------------------------------

JUNK: List[Any] = [None, True, False, 0, 1, -1, 1.0, 3.0, 3.5, -0.0, 2 ** 63, 1e308, math.inf, -math.inf, math.nan,
                   "", "1", "x", "$planes", "${planes * 2}", "${", "same", "30K", "1.5 GiB", "PL4", "PL1234", "pl4",
                   [], [1], [1, 2], [1.0, 2], [True], ["a"], [[1]], {}, {"a": 1}, {"type": "ReLU"}, {"1": [None]}]


def _walk(schema: Any) -> Iterator[Dict[str, Any]]:
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(v for k, v in node.items() if k not in ("examples", "default", "const", "enum"))
        elif isinstance(node, list):
            stack.extend(node)


def _resolved(schema: Any, root: Dict[str, Any]) -> Any:
    while isinstance(schema, dict) and "$ref" in schema and schema["$ref"].startswith("#/$defs/"):
        schema = root["$defs"][schema["$ref"][len("#/$defs/"):]]
    return schema


def edge_values(schema: Any, root: Dict[str, Any] = SCHEMA) -> List[Any]:
    """Values on the edges of what ``schema`` accepts: its constants and examples, its bounds and their
    neighbours, near misses of its patterns and constants, and the same of the schemas it references
    (two levels deep)."""
    values: List[Any] = []
    frontier, seen = [schema], set()
    for _ in range(2):
        found = []
        for node in frontier:
            for part in _walk(_resolved(node, root)):
                if id(part) in seen:
                    continue
                seen.add(id(part))
                values.extend(part.get("examples", []))
                values.extend(part.get("enum", []))
                if "const" in part:
                    values.append(part["const"])
                for bound in ("minimum", "maximum", "exclusiveMinimum"):
                    if bound in part:
                        b = part[bound]
                        values.extend([b, b - 1, b + 1, b - 0.5, b + 0.5, float(b)])
                for size in ("minItems", "maxItems"):
                    if size in part:
                        values.extend([[1] * part[size], [1] * (part[size] + 1), [1] * max(0, part[size] - 1)])
                if "$ref" in part:
                    found.append(part)
        frontier = found
    near = [v + "x" for v in values if isinstance(v, str)] + [v.upper() for v in values if isinstance(v, str)] + \
        [v[:-1] for v in values if isinstance(v, (str, list)) and v] + \
        [v + v[-1:] for v in values if isinstance(v, list)]
    scalars = {json.dumps(v, sort_keys=True): v for v in values + near if not isinstance(v, float) or math.isfinite(v)}
    return list(scalars.values())[:60]


# --- seeds ------------------------------------------------------------------------------------------------

def _example_configs() -> Dict[str, Any]:
    found = {}
    for path in sorted((ROOT / "examples").rglob("*.yaml")) + sorted((ROOT / "tests").rglob("*.yaml")) + \
            sorted((ROOT / "tests").rglob("*.json")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError):
            continue
        if isinstance(data, dict) and "paramlint" in data:
            found[str(path.relative_to(ROOT))] = data
    return found


CONFIGS = _example_configs()


def _entries(config: Any) -> Iterator[Dict[str, Any]]:
    if not isinstance(config, dict):
        return
    holders = [config] + [b for b in (config.get("blocks") or {}).values() if isinstance(b, dict)] \
        if isinstance(config.get("blocks"), dict) else [config]
    for holder in holders:
        for entry in holder.get("layers", []) if isinstance(holder.get("layers"), list) else []:
            if isinstance(entry, dict) and entry.get("type") in LAYER_TYPES:
                yield entry


def _seed_entries() -> Dict[str, List[Dict[str, Any]]]:
    seeds: Dict[str, List[Dict[str, Any]]] = {t: [] for t in LAYER_TYPES}
    for config in CONFIGS.values():
        for entry in _entries(config):
            if len(seeds[entry["type"]]) < 3:
                seeds[entry["type"]].append(entry)
    for layer_type in LAYER_TYPES:  # each type's own examples, all its documented arguments set
        properties = _resolved(SCHEMA["$defs"][f"layer.{layer_type}"], SCHEMA).get("properties", {})
        entry: Dict[str, Any] = {"type": layer_type}
        for name, sub in properties.items():
            examples = sub.get("examples") if isinstance(sub, dict) else None
            if name != "type" and examples:
                entry[name] = examples[0]
        seeds[layer_type].append(entry)
    return seeds


SEEDS = _seed_entries()
TALLY = Tally()


# --- layer subschemas, key by key -------------------------------------------------------------------------

@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_every_layer_schema_key_by_key(layer_type):
    """Each seed entry, then each key set to each edge value, dropped, renamed, and an unknown key added."""
    schema = SCHEMA["$defs"][f"layer.{layer_type}"]
    properties = _resolved(schema, SCHEMA).get("properties", {})
    tally = Tally()
    for seed in SEEDS[layer_type]:
        cases = [seed, dict(seed, extra=1), dict(seed, Name="x"), {k: v for k, v in seed.items() if k != "type"}]
        for name in list(properties) + ["name", "from", "repeat"]:
            edges = edge_values(properties.get(name, {})) + JUNK
            cases.extend(dict(seed, **{name: value}) for value in edges)
            if name in seed:
                cases.append({k: v for k, v in seed.items() if k != name})
                cases.append({(k + "s" if k == name else k): v for k, v in seed.items()})
        for case in cases:
            fast, oracle = layer_verdicts(layer_type, case)
            tally.compare(layer_type, fast, oracle, case)
    TALLY.checked += tally.checked
    TALLY.unsure += tally.unsure
    tally.assert_exact()
    assert tally.unsure <= UNSURE_AT_MOST * tally.checked


def _mutated(draw: Any, value: Any, edges: List[Any], keys: List[str]) -> Any:
    """One random edit anywhere in ``value``: a key set to an edge value, dropped, renamed, added; a list
    item replaced, appended or dropped; a scalar wrapped in a list."""
    containers = [value]
    stack = [value]
    while stack:
        node = stack.pop()
        children = list(node.values()) if isinstance(node, dict) else node if isinstance(node, list) else []
        for child in children:
            if isinstance(child, (dict, list)):
                containers.append(child)
                stack.append(child)
    target = draw(st.sampled_from(containers))
    new = st.sampled_from(edges + JUNK)
    if isinstance(target, dict):
        key = draw(st.sampled_from(list(target) + keys)) if target else draw(st.sampled_from(keys))
        action = draw(st.sampled_from(["set", "set", "drop", "rename", "wrap"]))
        if action == "drop" and key in target:
            del target[key]
        elif action == "rename" and key in target:
            target[draw(st.sampled_from([key + "s", key.upper(), key[:-1] or "x"] + keys))] = target.pop(key)
        elif action == "wrap" and key in target:
            target[key] = [target[key]]
        else:
            target[key] = copy.deepcopy(draw(new))
    elif isinstance(target, list):
        action = draw(st.sampled_from(["set", "append", "drop"]))
        if action == "append" or not target:
            target.append(copy.deepcopy(draw(new)))
        elif action == "drop":
            del target[draw(st.integers(0, len(target) - 1))]
        else:
            target[draw(st.integers(0, len(target) - 1))] = copy.deepcopy(draw(new))
    return value


@settings(max_examples=RANDOM_EXAMPLES, deadline=None, derandomize=not LONG_RUN,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_layer_schemas_under_random_edits(data):
    layer_type = data.draw(st.sampled_from(LAYER_TYPES))
    entry = copy.deepcopy(data.draw(st.sampled_from(SEEDS[layer_type])))
    properties = _resolved(SCHEMA["$defs"][f"layer.{layer_type}"], SCHEMA).get("properties", {})
    edges = [v for name in properties for v in edge_values(properties[name])][:80]
    for _ in range(data.draw(st.integers(1, 3))):
        entry = _mutated(data.draw, entry, edges, list(properties) + ["name", "junk"])
    fast, oracle = layer_verdicts(layer_type, entry)
    assert fast is None or fast == oracle, (layer_type, entry, fast, oracle)


# --- whole documents --------------------------------------------------------------------------------------

DOCUMENT_EDGES = edge_values(SCHEMA["properties"])
DOCUMENT_KEYS = sorted(SCHEMA["properties"]) + ["optimizer", "batch_size", "precision", "lora", "memory", "r"]


def test_every_config_in_the_corpora_agrees():
    assert len(CONFIGS) >= 20
    tally = Tally()
    for name, config in CONFIGS.items():
        fast, oracle = document_verdicts(config)
        tally.compare(name, fast, oracle, None)
        assert SchemaValidator().validate(config) == SLOW.validate(config), name
    tally.assert_exact()
    assert tally.unsure == 0


@settings(max_examples=RANDOM_EXAMPLES, deadline=None, derandomize=not LONG_RUN,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_documents_under_random_edits(data):
    name = data.draw(st.sampled_from(sorted(CONFIGS)))
    config = copy.deepcopy(CONFIGS[name])
    for _ in range(data.draw(st.integers(1, 3))):
        config = _mutated(data.draw, config, DOCUMENT_EDGES, DOCUMENT_KEYS)
    fast, oracle = document_verdicts(config)
    assert fast is None or fast == oracle, (name, config, fast, oracle)
    assert FAST.validate(config) == SLOW.validate(config)  # the pieces too: layers, blocks, budgets


def _paths(value: Any, at: Tuple[Any, ...] = ()) -> Iterator[Tuple[Any, ...]]:
    """The path of every key and list item in ``value``."""
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield at + (key,)
        yield from _paths(child, at + (key,))


def _replaced(value: Any, path: Tuple[Any, ...], new: Any) -> Any:
    """A copy of ``value`` with the item at ``path`` set to ``new`` (or removed, for ``_DROP``)."""
    copied = copy.deepcopy(value)
    holder = copied
    for key in path[:-1]:
        holder = holder[key]
    if new is _DROP:
        del holder[path[-1]]
    else:
        holder[path[-1]] = copy.deepcopy(new)
    return copied


_DROP = object()
_TRAINING = SCHEMA["properties"]["training"]


def _training_seeds() -> List[Dict[str, Any]]:
    """The training schema's own examples, once with each optimizer as a mapping of its arguments."""
    full = {k: v["examples"][0] for k, v in _TRAINING["properties"].items() if v.get("examples")}
    seeds = [full]
    for rule in _TRAINING["properties"]["optimizer"]["else"]["allOf"]:
        name = rule["if"]["properties"]["type"].get("const")
        arguments = {k: v["examples"][0] for k, v in rule["then"].get("properties", {}).items() if v.get("examples")}
        if name:
            seeds.append(dict(full, optimizer=dict(arguments, type=name)))
    return seeds


TRAINING_SEEDS = _training_seeds()
TRAINING_EDGES = list({json.dumps(v, sort_keys=True): v for v in edge_values(_TRAINING, SCHEMA) + JUNK + [
    [0.9, 0.999, 0.1], [0.9], [None, 1e-3], [1e-30, None], ["q_proj", 1], "all-linear", "lora_only"]}.values())


def test_training_key_by_key_in_the_document_and_the_tool_schema():
    """Every key and item of each training seed (optimizers with their arguments, LoRA, quantization), set
    to each edge value or dropped, in a model config and in a tool table."""
    assert len(TRAINING_SEEDS) > 10
    tally, tool_tally = Tally(), Tally()
    arguments = [v for v in TRAINING_EDGES if isinstance(v, (list, float)) or v in (None, True, 0, 1, "x")]
    for number, seed in enumerate(TRAINING_SEEDS):  # the first whole, the others in their optimizer
        for path in (p for p in _paths(seed) if number == 0 or p[0] == "optimizer"):
            for value in (TRAINING_EDGES if number == 0 else arguments) + [_DROP]:
                training = _replaced(seed, path, value)
                config = {"paramlint": 1, "input": [4], "layers": [{"type": "Linear", "out_features": 2}],
                          "training": training}
                tally.compare(str(path), *document_verdicts(config), training)
                if number == 0:  # the same definitions in the tool schema, with its own "integer"
                    tool_tally.compare(str(path), *tool_verdicts({"training": training}), training)
    tally.assert_exact()
    tool_tally.assert_exact()
    assert tally.unsure + tool_tally.unsure <= UNSURE_AT_MOST * (tally.checked + tool_tally.checked)


@settings(max_examples=RANDOM_EXAMPLES, deadline=None, derandomize=not LONG_RUN,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.one_of(cnn_graphs(), mlp_graphs(), sequence_graphs(), block_graphs()))
def test_random_graphs_validate_the_same(config):
    """The differential tests' random networks (some with faults): every piece validate() checks."""
    fast, oracle = document_verdicts(config)
    assert fast is None or fast == oracle
    assert FAST.validate(config) == SLOW.validate(config)


# --- the tool schema --------------------------------------------------------------------------------------

TOOL_SEEDS: List[Dict[str, Any]] = [
    {}, {"select": ["PL"], "ignore": ["PL451"], "strict": True},
    {"per-file-ignores": {"legacy/**": ["PL4"]}, "severity": {"PL501": "warning", "PL4": "error"}},
    {"training": {"batch_size": 8, "optimizer": "AdamW", "precision": "bf16"}, "budgets": {"params": "1M"}},
    {"training": {"batch_size": 4, "lora": {"r": 8, "target_modules": ["q_proj"]},
                  "quantization": {"load_in_4bit": True}}},
]
TOOL_EDGES = edge_values(TOOL_SCHEMA, TOOL_SCHEMA)
TOOL_KEYS = sorted(TOOL_SCHEMA["properties"]) + ["batch_size", "optimizer", "params", "r", "PL4"]


def test_tool_schema_key_by_key():
    tally = Tally()
    for seed in TOOL_SEEDS:
        for key in TOOL_KEYS:
            for value in TOOL_EDGES + JUNK:
                table = dict(seed, **{key: value})
                tally.compare(key, *tool_verdicts(table), table)
            if "training" in seed:
                for value in TOOL_EDGES + JUNK:
                    table = dict(seed, training=dict(seed["training"], **{key: value}))
                    tally.compare(key, *tool_verdicts(table), table)
    tally.assert_exact()
    assert tally.unsure <= UNSURE_AT_MOST * tally.checked


@settings(max_examples=RANDOM_EXAMPLES, deadline=None, derandomize=not LONG_RUN,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_tool_tables_under_random_edits(data):
    table = copy.deepcopy(data.draw(st.sampled_from(TOOL_SEEDS)))
    for _ in range(data.draw(st.integers(1, 3))):
        table = _mutated(data.draw, table, TOOL_EDGES, TOOL_KEYS)
    fast, oracle = tool_verdicts(table)
    assert fast is None or fast == oracle, (table, fast, oracle)
    assert check_table(table, ("tool", "paramlint")) == check_table(table, ("tool", "paramlint"), fast=False)


def test_integer_is_strict_in_format_1_and_not_in_the_tool_schema():
    assert FAST._fast.document.is_valid({"paramlint": 1.0}) is False  # type: ignore[union-attr]
    assert TOOL_FAST.is_valid({"training": {"batch_size": 8.0}}) is True
    assert TOOL_FAST.is_valid({"training": {"batch_size": 8.5}}) is False
    assert TOOL_FAST.is_valid({"training": {"batch_size": True}}) is False


# --- each keyword on its own -----------------------------------------------------------------------------

KEYWORD_SCHEMAS: List[Any] = [
    True, False, {}, {"type": "integer"}, {"type": "number"}, {"type": ["boolean", "null"]}, {"type": "string"},
    {"type": ["string", "object"]}, {"type": "array"}, {"const": 1}, {"const": True}, {"const": [1, {"a": None}]},
    {"const": "1"}, {"enum": ["a", "1", ""]}, {"enum": [1, None, [True]]}, {"properties": {"a": {"type": "integer"}}},
    {"additionalProperties": False, "properties": {"a": True}}, {"additionalProperties": {"type": "string"}},
    {"required": ["a", "type"]}, {"minProperties": 1}, {"propertyNames": {"pattern": "^[a-z]+$"}},
    {"items": {"type": "integer"}}, {"items": False, "prefixItems": [{"type": "number"}]},
    {"prefixItems": [{"type": ["number", "null"]}, {"type": "number"}], "minItems": 2, "maxItems": 2},
    {"minItems": 1}, {"maxItems": 1}, {"minimum": 1}, {"maximum": 1.5}, {"exclusiveMinimum": 0}, {"minLength": 1},
    {"pattern": "^PL[0-9]{0,3}$"}, {"pattern": "[0-9]"}, {"anyOf": [{"type": "integer"}, {"type": "string"}]},
    {"allOf": [{"minimum": 0}, {"maximum": 2}]}, {"if": {"type": "string"}, "then": {"minLength": 2}},
    {"if": {"required": ["type"]}, "then": {"properties": {"type": {"const": "a"}}}, "else": {"minProperties": 2}},
    {"$ref": "#/$defs/positive", "$defs": {"positive": {"type": "integer", "minimum": 1}}},
]
KEYWORD_INSTANCES: List[Any] = JUNK + [{"a": 1}, {"a": 1.0}, {"a": "x", "b": 2}, {"type": "a"}, {"type": "b", "a": 1},
                                       {"A": 1}, [1.5], [None, 2], [None, 2, 3], [1, "x"], "PL45", "PL", "ab", "é"]


@pytest.mark.parametrize("strict", [True, False])
def test_each_keyword_alone_on_every_kind_of_value(strict):
    """Each keyword on instances of every JSON type (a keyword ignores the types it does not apply to)."""
    from jsonschema import Draft202012Validator

    from paramlint.validation.validator import strict_validator_class

    tally = Tally()
    for schema in KEYWORD_SCHEMAS:
        oracle = (strict_validator_class() if strict else Draft202012Validator)(schema)
        interpreter = Interpreter(schema if isinstance(schema, dict) else {"allOf": [schema]}, strict_integer=strict)
        for instance in KEYWORD_INSTANCES:
            tally.compare(json.dumps(schema), interpreter.is_valid(instance), oracle.is_valid(instance), instance)
    tally.assert_exact()
    assert tally.unsure == 0


def test_top_level_keys_of_the_document():
    """Each top-level key of a few configs set to each edge value of the document schema, or dropped."""
    tally = Tally()
    names = ["examples/cifar10_cnn.yaml", "examples/finetune/llama2_70b_qlora.yaml"]
    names += [n for n in sorted(CONFIGS) if "blocks" in CONFIGS[n]][:1]
    for name in names:
        config = CONFIGS[name]
        for key in sorted(SCHEMA["properties"]):
            for value in DOCUMENT_EDGES + JUNK + [_DROP]:
                changed = {k: v for k, v in config.items() if k != key} if value is _DROP else \
                    dict(config, **{key: value})
                tally.compare(f"{name} {key}", *document_verdicts(changed), value)
    tally.assert_exact()
    assert tally.unsure == 0


# --- the primitives ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("one, two, equal", [
    (1, 1.0, True), (True, 1, False), (False, 0, False), (True, True, True), ([1, [True]], [1.0, [True]], True),
    ([1, [True]], [1, [1]], False), ({"a": 1}, {"a": 1.0}, True), ({"a": 1}, {"a": 1, "b": 2}, False),
    ("1", 1, False), (None, 0, False), ([], {}, False), (float("nan"), float("nan"), False), (math.nan, math.nan, True),
])
def test_json_equal_is_jsonschemas(one, two, equal):
    from jsonschema._utils import equal as oracle

    assert json_equal(one, two) is equal
    assert oracle(one, two) is equal


@pytest.mark.parametrize("value", [
    {1: "a"}, {"a": (1, 2)}, [b"x"], {"when": __import__("datetime").date(2026, 1, 1)}, [1 + 2j],
    type("Text", (str,), {})("x"),
])
def test_values_outside_json_are_unsure(value):
    assert not plain_json(value)
    assert Interpreter({"type": ["object", "array", "string"]}).is_valid(value) is None


@pytest.mark.parametrize("schema", [
    {"uniqueItems": True}, {"then": {"type": "string"}}, {"$ref": "#/nowhere"}, {"$ref": "https://elsewhere/x"},
    {"patternProperties": {"a": True}, "properties": {}}, {"type": "decimal"}, {"oneOf": [True]},
    {"properties": {"a": {"format": "email"}}},
])
def test_keywords_outside_the_published_schemas_are_unsure(schema):
    assert Interpreter(schema).is_valid({"a": "x"}) is None


def test_unsure_inside_a_condition_never_becomes_certain():
    schema = {"if": {"uniqueItems": True}, "then": False, "else": True}
    assert Interpreter(schema).is_valid([1, 1]) is None
    assert Interpreter({"anyOf": [{"uniqueItems": True}, False]}).is_valid([1]) is None
    assert Interpreter({"anyOf": [{"uniqueItems": True}, True]}).is_valid([1]) is True  # one branch decides
    assert Interpreter({"allOf": [{"uniqueItems": True}, False]}).is_valid([1]) is False


def test_unsure_is_rare(capsys):
    """The share of unsure answers over the key-by-key sweeps (run after them in file order)."""
    if not TALLY.checked:
        pytest.skip("run with the key-by-key sweeps")
    with capsys.disabled():
        print(f"\nlayer schemas: {TALLY.checked:,} verdicts, {TALLY.unsure:,} unsure "
              f"({TALLY.unsure / TALLY.checked:.3%})")
    assert TALLY.unsure <= UNSURE_AT_MOST * TALLY.checked


# --- end to end -------------------------------------------------------------------------------------------

def _lint_both(text: bytes, path: str) -> Tuple[Any, Any]:
    fast, slow = Linter(), Linter()
    slow._validator = SchemaValidator(fast=False)
    return fast.lint_bytes(text, path=path).diagnostics, slow.lint_bytes(text, path=path).diagnostics


def test_examples_lint_the_same_with_and_without_the_fast_path():
    paths = sorted((ROOT / "examples").rglob("*.yaml")) + sorted((ROOT / "examples").rglob("*.json"))
    assert len(paths) >= 20
    for path in paths:
        fast, slow = _lint_both(path.read_bytes(), str(path))
        assert fast == slow, path


@settings(max_examples=RANDOM_EXAMPLES * 2, deadline=None, derandomize=not LONG_RUN,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated_configs())
def test_mutated_configs_lint_the_same(case):
    text, path = case
    fast, slow = _lint_both(text, path)
    assert fast == slow


RUN = ("import json, sys\nfrom paramlint.cli import main\ncode = main(sys.argv[1:])\n"
       "print(json.dumps([code, 'jsonschema' in sys.modules, 'referencing' in sys.modules]))")


def _run(args: List[str], cwd: Path) -> Tuple[int, bool, bool, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True, cwd=cwd, env=env)
    code, jsonschema, referencing = json.loads(done.stdout.strip().splitlines()[-1])
    return code, jsonschema, referencing, done.stdout


@pytest.mark.parametrize("example", ["examples/cifar10_cnn.yaml", "examples/finetune/llama2_70b_qlora.yaml"])
def test_a_valid_config_does_not_import_jsonschema(example):
    code, jsonschema, referencing, _ = _run([str(ROOT / example)], ROOT)
    assert code in (0, 1) and not jsonschema and not referencing


def test_a_broken_config_still_gets_jsonschemas_messages(tmp_path):
    (tmp_path / "m.yaml").write_text("paramlint: 1\ninput: [3, 8, 8]\nlayers:\n"
                                     "  - {type: Conv2d, out_channels: 4.0, kernel_size: 3}\n")
    code, jsonschema, _, out = _run(["m.yaml"], tmp_path)
    assert code == 1 and jsonschema
    assert "m.yaml:4:" in out and "out_channels" in out and "4.0" in out


def test_a_valid_tool_config_does_not_import_jsonschema(tmp_path):
    (tmp_path / "m.yaml").write_bytes((ROOT / "examples" / "cifar10_cnn.yaml").read_bytes())
    (tmp_path / "pyproject.toml").write_text('[tool.paramlint]\nselect = ["PL"]\nignore = ["PL451"]\n'
                                             '[tool.paramlint.severity]\nPL501 = "warning"\n'
                                             '[tool.paramlint.training]\nbatch_size = 64\n'
                                             '[tool.paramlint.budgets]\nparams = "1M"\n')
    code, jsonschema, referencing, _ = _run(["m.yaml"], tmp_path)
    assert code == 0 and not jsonschema and not referencing
    (tmp_path / "pyproject.toml").write_text('[tool.paramlint]\nselect = ["PL"]\n[tool.paramlint.training]\n'
                                             'batch_size = "x"\n')
    code, jsonschema, _, out = _run(["m.yaml"], tmp_path)
    assert code == 2 and jsonschema and "PL603" in out and "batch_size" in out  # a bad tool config: exit 2
