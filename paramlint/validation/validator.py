"""Validate a config against the published JSON Schema, with messages a person reads.

The document is checked against ``schemas/format-1.json`` through jsonschema.
Each layer entry is checked against the schema's ``$defs/layer.<Type>``
directly instead of through the schema's ``if``/``then`` dispatch (which
editors use): the same rules, but one subschema per layer instead of one
``if`` per layer type, and identical layers are checked once.

A document is first given to the fast path (``fast_path.py``: paramlint's own
exact interpreter of the schema's keywords, ``interpreter.py``); when it is
certainly valid, jsonschema is never imported.  Anything else goes through
jsonschema as described above, so the findings are jsonschema's.
"""
from __future__ import annotations

import json
import re
from itertools import islice
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

from ..core.diagnostics import MAX_DIAGNOSTICS, ConfigPath, Finding, format_config_path
from ..core.suggest import closest, did_you_mean
from ..core.units import BYTE_BUDGETS, UnitError, parse_bytes, parse_count
from ..model.layers import REGISTRY
from .fast_path import FastPath

SCHEMA_FILE = "format-1.json"


def schemas_dir() -> Path:
    """Where the published schemas are: inside the installed package
    (``paramlint/schemas``), or ``schemas/`` at the top of a source checkout."""
    package = Path(__file__).resolve().parent.parent
    packaged = package / "schemas"
    return packaged if packaged.is_dir() else package.parent / "schemas"


def schema_path(name: str = SCHEMA_FILE) -> Path:
    """A published schema inside the installed package, or in the source tree."""
    candidate = schemas_dir() / name
    if candidate.is_file():
        return candidate
    raise FileNotFoundError(f"paramlint's schema {name} is missing from the installation")


def load_schema() -> Dict[str, Any]:
    return json.loads(schema_path().read_text(encoding="utf-8"))


class GeneratedData:
    """The validator for format-1 data an importer generated in full, with nothing the user wrote in format 1:
    the importer checked every field of its own format and writes only valid entries (its oracle tests and
    fuzzing hold it to that), so the JSON Schema pass, and importing jsonschema, is skipped."""

    @staticmethod
    def validate(data: Mapping[str, Any]) -> List[Finding]:
        return []


_ENTRY = {"type": "object", "required": ["type"], "additionalProperties": True,
          "x-expected": "a layer entry: a mapping with `type`", "properties": {"type": {"type": "string"}}}


class SchemaValidator:
    """Compiled validators for the document, each layer type and block uses."""

    def __init__(self, schema: Optional[Dict[str, Any]] = None, *, fast: bool = True) -> None:
        """``fast=False`` (for tests) sends every document through jsonschema, valid or not."""
        self.schema = schema if schema is not None else load_schema()
        # The document schema with layer entries checked only for `type` (each entry is then checked
        # against its own layer.<Type> schema) and the layer lists inlined: a $ref per entry is slow.
        layers = dict(self.schema["$defs"]["layers"], items=True)
        document = dict(self.schema, **{"$defs": dict(self.schema["$defs"], layer=_ENTRY, layers=layers)})
        document["properties"] = dict(document["properties"], layers=layers)
        self._document_schema = document
        self._id = self.schema["$id"]
        # jsonschema (imported, its validators compiled) only for a document the interpreter cannot pass
        self._validator_class: Any = None
        self._document: Any = None
        self._registry: Any = None  # what the layer validators resolve their $refs in; made on first use
        self._entry: Any = None
        self._block_use: Any = None
        self._layers: Dict[str, Any] = {}
        self._seen: Dict[Tuple[str, str], List[Finding]] = {}
        self._fast = FastPath(self.schema, document, _ENTRY) if fast else None

    @property
    def validator_class(self) -> Any:
        if self._validator_class is None:
            self._validator_class = strict_validator_class()
        return self._validator_class

    @property
    def document(self) -> Any:
        if self._document is None:
            self._document = self.validator_class(self._document_schema)
        return self._document

    @property
    def registry(self) -> Any:
        if self._registry is None:
            from referencing import Registry, Resource

            self._registry = Registry().with_resource(self._id, Resource.from_contents(self.schema))
        return self._registry

    @property
    def entry(self) -> Any:
        if self._entry is None:
            self._entry = self.validator_class(_ENTRY)
        return self._entry

    @property
    def block_use(self) -> Any:
        if self._block_use is None:
            reserved = {k[len("reserved."):]: {"$ref": f"{self._id}#/$defs/{k}"}
                        for k in self.schema["$defs"] if k.startswith("reserved.")}
            self._block_use = self.validator_class({"type": "object", "properties": reserved},
                                                   registry=self.registry)
        return self._block_use

    def _layer_validator(self, layer_type: str) -> Any:
        validator = self._layers.get(layer_type)
        if validator is None:
            validator = self.validator_class({"$ref": f"{self._id}#/$defs/layer.{layer_type}"},
                                             registry=self.registry)
            self._layers[layer_type] = validator
        return validator

    def validate(self, data: Any) -> List[Finding]:
        if self._fast is not None and self._fast.certainly_valid(data):  # nothing for jsonschema to report
            return _sorted(_input_choice(data) + _budget_units(data.get("budgets") or {}))
        findings = _humanized(self.document.iter_errors(data))
        if findings or not isinstance(data, Mapping):
            return _sorted(findings)
        findings.extend(_input_choice(data))
        # thousands of bad layers: stop checking once a file has more findings than are reported
        findings.extend(islice(self._layers_of(data.get("layers", []), ("layers",)), MAX_DIAGNOSTICS + 1))
        for name, block in (data.get("blocks") or {}).items():
            if len(findings) >= MAX_DIAGNOSTICS:
                break
            findings.extend(islice(self._layers_of(block.get("layers", []), ("blocks", name, "layers")),
                                   MAX_DIAGNOSTICS + 1))
        findings.extend(_budget_units(data.get("budgets") or {}))
        return _sorted(findings)

    def validate_written(self, data: Any) -> List[Finding]:
        """The keys a file with ``huggingface:`` writes itself (training, budgets, inference...): its layers
        come from the importer, which checks its own fields."""
        if self._fast is not None and self._fast.certainly_valid(data, layers=False):
            return _sorted(_budget_units(data.get("budgets") or {}))
        findings = _humanized(self.document.iter_errors(data))
        if not findings and isinstance(data, Mapping):
            findings.extend(_budget_units(data.get("budgets") or {}))
        return _sorted(findings)

    def _layers_of(self, entries: List[Any], path: ConfigPath) -> Iterator[Finding]:
        for index, entry in enumerate(entries):
            if not isinstance(entry, Mapping) or not isinstance(entry.get("type"), str):
                for finding in _humanized(self.entry.iter_errors(entry)):
                    yield Finding(finding.code, finding.message, path + (index,) + finding.config_path,
                                  finding.at_key)
                continue
            layer_type = entry["type"]
            validator = self._layer_validator(layer_type) if layer_type in REGISTRY else self.block_use
            key = _cache_key(entry)
            relative = self._seen.get(key) if key is not None else None
            if relative is None:
                relative = _humanized(validator.iter_errors(entry))
                if key is not None:
                    self._seen[key] = relative
            for finding in relative:
                yield Finding(finding.code, finding.message, path + (index,) + finding.config_path, finding.at_key)


TRAINING_CHOICES = ("optimizer", "precision", "sharding")


def _humanized(errors: Iterator[Any]) -> List[Finding]:
    findings = []
    for finding in (_humanize(e, ()) for e in errors):
        if finding is None:
            continue
        path = finding.config_path
        if len(path) >= 2 and path[0] == "training" and path[1] in TRAINING_CHOICES and finding.code == "PL202":
            finding = Finding("PL502", finding.message, path, finding.at_key)  # bad-training
        findings.append(finding)
    return findings


def strict_validator_class() -> Any:
    """Draft 2020-12 where "integer" means an integer, not also 3.0 (torch takes no float sizes)."""
    from jsonschema import Draft202012Validator, validators

    checker = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool))
    return validators.extend(Draft202012Validator, type_checker=checker)


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


def _cache_key(entry: Mapping[str, Any]) -> Optional[str]:
    """Identical layers are validated once.  A valid ``name`` and a string ``from``
    cannot fail validation, so they are left out of the key: a network of many
    similar layers with distinct names costs one validation per distinct layer."""
    canonical = dict(entry)
    if isinstance(canonical.get("name"), str) and _NAME.match(canonical["name"]):
        canonical["name"] = "_"
    source = canonical.get("from")
    if isinstance(source, str) or (isinstance(source, list) and source and all(isinstance(s, str) for s in source)):
        canonical["from"] = "_"
    try:
        return json.dumps(canonical, sort_keys=True)
    except (TypeError, ValueError):  # non-string keys, values json cannot write: validate without caching
        return None


def _sorted(findings: List[Finding]) -> List[Finding]:
    return sorted(findings, key=lambda f: [str(p) for p in f.config_path])


def _input_choice(data: Mapping[str, Any]) -> List[Finding]:
    if "input" in data and "inputs" in data:
        return [Finding("PL202", "give either `input` or `inputs`, not both", ("inputs",), at_key=True)]
    if "input" not in data and "inputs" not in data:
        return [Finding("PL203", "a model config needs `input` (a shape like [3, 32, 32]) or `inputs`", ())]
    return []


def _budget_units(budgets: Mapping[str, Any]) -> List[Finding]:
    findings = []
    for name, value in budgets.items():
        parse = parse_bytes if name in BYTE_BUDGETS else parse_count
        try:
            parse(value)
        except UnitError as error:
            findings.append(Finding("PL205", f"budget `{name}`: {error}", ("budgets", name)))
    return findings


def _show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _field(path: ConfigPath) -> str:
    return f"`{path[-1]}`" if path and isinstance(path[-1], str) else (format_config_path(path) or "the config")


def _owner(instance: Any) -> str:
    if isinstance(instance, Mapping) and isinstance(instance.get("type"), str):
        return f" for {instance['type']}"
    return ""


def _humanize(error: Any, prefix: ConfigPath) -> Optional[Finding]:
    """One jsonschema error as a finding with a message a person understands."""
    path: ConfigPath = prefix + tuple(error.absolute_path)
    validator, schema, instance = error.validator, error.schema, error.instance
    if len(path) == 2 and path[0] == "budgets" and isinstance(instance, str):
        unit_findings = _budget_units({path[1]: instance})
        if unit_findings:
            return unit_findings[0]
    if validator == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        extra = [k for k in instance if k not in allowed]
        key = extra[0] if extra else "?"
        where = "top-level key" if not path and "paramlint" in instance else "key"
        return Finding("PL201", f"unknown {where} `{key}`{_owner(instance)}{did_you_mean(key, allowed)}",
                       path + (key,), at_key=True)
    if validator == "required":
        missing = [k for k in error.validator_value if not (isinstance(instance, Mapping) and k in instance)]
        name = missing[0] if missing else "?"
        allowed = schema.get("properties", {})
        if schema.get("additionalProperties") is False and isinstance(instance, Mapping) and \
                any(closest(str(k), [name]) == name for k in instance if k not in allowed):
            return None  # a misspelling of this key, already reported as unknown-key
        kind = instance.get("type") if isinstance(instance, Mapping) and isinstance(instance.get("type"), str) \
            else "this entry" if path else "a model config"
        description = schema.get("properties", {}).get(name, {})
        expected = _expected(description)
        near = [str(k) for k in instance if k not in allowed and closest(str(k), [name]) == name] \
            if isinstance(instance, Mapping) else []
        if near:
            expected = (expected + "; " if expected else "") + f"is `{near[0]}` a misspelling of `{name}`?"
        return Finding("PL203", f"{kind} needs `{name}`" + (f" ({expected})" if expected else ""), path)
    if validator in ("const", "type") and path == ("paramlint",):  # 1.0 and "1" are not version 1
        return Finding("PL205", f"unsupported format version {_show(instance)}: this paramlint reads "
                                f"`paramlint: 1`", path)
    if validator == "enum":
        options = [str(o) for o in error.validator_value]
        hint = did_you_mean(str(instance), options) if isinstance(instance, str) else ""
        return Finding("PL202", f"{_field(path)} must be one of {', '.join(options)}; got {_show(instance)}{hint}",
                       path)
    if validator == "minItems" and isinstance(instance, list) and not instance:
        return Finding("PL202", f"{_field(path)} must not be empty", path)
    expected = _expected(schema)
    if validator in ("anyOf", "oneOf") and "x-expected" not in schema:
        best = _deepest(error)
        if best is not None and best is not error:
            return _humanize(best, prefix)
    if validator == "pattern" and path and path[0] == "budgets":
        return Finding("PL205", f"budget `{path[-1]}`: {_show(instance)} is not {expected or 'valid'}", path)
    if expected:
        hint = did_you_mean(instance, _enum_values(schema)) if isinstance(instance, str) else ""
        return Finding("PL202", f"{_field(path)} must be {expected}; got {_show(instance)}{hint}", path)
    return Finding("PL202", f"{_field(path)}: {_plain(error)}", path)


def _expected(schema: Any) -> str:
    if not isinstance(schema, Mapping):
        return ""
    if "x-expected" in schema:
        return schema["x-expected"]
    simple = {"integer": "an integer", "string": "a string", "boolean": "true or false", "array": "a list",
              "object": "a mapping", "number": "a number", "null": "null"}
    kind = schema.get("type")
    if isinstance(kind, str) and kind in simple:
        text = simple[kind]
        if "minimum" in schema:
            text += f" of at least {schema['minimum']}"
        return text
    if "const" in schema:
        return _show(schema["const"])
    return ""


def _enum_values(schema: Mapping[str, Any]) -> List[str]:
    values: List[str] = []
    for option in schema.get("anyOf", []):
        values.extend(str(v) for v in option.get("enum", []))
    return values


def _deepest(error: Any) -> Any:
    """The most specific sub-error of an anyOf/oneOf (jsonschema's best_match)."""
    from jsonschema.exceptions import best_match

    return best_match(error.context) if error.context else None


def _plain(error: Any) -> str:
    if error.validator in ("minimum", "exclusiveMinimum", "maximum"):
        return f"{_show(error.instance)} is out of range ({error.validator} {error.validator_value})"
    return error.message
