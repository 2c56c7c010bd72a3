"""An exact, three-valued interpreter of the JSON Schema keywords paramlint's published schemas use.

A valid config should not pay for importing jsonschema (with attrs, referencing and rpds, about
60 ms: most of a pre-commit run).  This module answers, for an instance and a schema, True (valid,
certain), False (invalid, certain) or None (unsure), with jsonschema's Draft 2020-12 semantics
(``jsonschema/_keywords.py``, ``_utils.equal``, ``_types``) for the keywords below and nothing else:

    $ref (local, "#/..." or prefixed with the root's $id), type, const, enum, properties,
    additionalProperties (bool or schema), required, minProperties, propertyNames, items,
    prefixItems, minItems, maxItems, minimum, maximum, exclusiveMinimum, minLength, pattern,
    allOf, anyOf, if/then/else; annotations (description, examples, ...) are ignored.

Any other keyword, a ``then`` or ``else`` without ``if``, a reference it cannot resolve plainly,
or an instance holding anything but dict (with string keys), list, str, int, float, bool and None
makes the answer None.  Each primitive answers True or False only where it is exact, so that a
False inside an ``if`` or an ``anyOf`` can never turn into a wrong True; the caller takes only a
True as final and sends everything else to jsonschema, whose messages the diagnostics are made of.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

Verdict = Optional[bool]
Check = Callable[[Any], Verdict]

ANNOTATIONS = frozenset({"description", "examples", "default", "title", "x-expected", "$schema", "$comment",
                         "$defs", "$id"})
_NONE = type(None)
_TYPES: Dict[str, frozenset] = {"integer": frozenset({int}), "number": frozenset({int, float}),
                                "string": frozenset({str}), "boolean": frozenset({bool}),
                                "null": frozenset({_NONE}), "array": frozenset({list}),
                                "object": frozenset({dict})}
_SCALARS = frozenset({str, int, float, bool, _NONE})


def plain_json(value: Any) -> bool:
    """Whether ``value`` holds only dict (string keys), list, str, int, float, bool and None, by exact
    type (no subclasses): the values whose JSON Schema meaning the interpreter knows exactly."""
    stack = [value]
    seen = set()
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind in _SCALARS:
            continue
        if kind is not dict and kind is not list:
            return False
        if id(item) in seen:  # a YAML alias: its value was walked already
            continue
        seen.add(id(item))
        if kind is dict:
            for key in item:
                if type(key) is not str:
                    return False
            stack.extend(item.values())
        else:
            stack.extend(item)
    return True


def json_equal(one: Any, two: Any) -> bool:
    """jsonschema's ``equal`` on plain JSON values: a bool equals only itself, 1 == 1.0, and lists and
    mappings compare item by item with the same rule."""
    if one is two:
        return True
    first, second = type(one), type(two)
    if first is str or second is str:
        return one == two
    if first is list and second is list:
        return len(one) == len(two) and all(json_equal(a, b) for a, b in zip(one, two))
    if first is dict and second is dict:
        return len(one) == len(two) and all(key in two and json_equal(value, two[key]) for key, value in one.items())
    if first is bool or second is bool:  # True and False are singletons: `one is two` answered already
        return False
    return bool(one == two)


def _unsure(_: Any) -> Verdict:
    return None


def _valid(_: Any) -> Verdict:
    return True


def _invalid(_: Any) -> Verdict:
    return False


def _all(checks: Sequence[Check]) -> Check:
    """Valid when every check is: one certain failure decides, an unsure one leaves it open."""
    if not checks:
        return _valid
    if len(checks) == 1:
        return checks[0]

    def check(instance: Any) -> Verdict:
        verdict: Verdict = True
        for each in checks:
            result = each(instance)
            if result is False:
                return False
            if result is None:
                verdict = None
        return verdict
    return check


def _any(checks: Sequence[Check]) -> Check:
    def check(instance: Any) -> Verdict:
        verdict: Verdict = False
        for each in checks:
            result = each(instance)
            if result is True:
                return True
            if result is None:
                verdict = None
        return verdict
    return check


class Interpreter:
    """Checks instances against one root schema (and the subschemas it references).

    Subschemas compile on first use into closures, cached by identity for the life of the root;
    ``strict_integer`` says whether "integer" excludes 3.0 (paramlint's format-1 validator) or, as
    Draft 2020-12's own checker does, accepts a float with an integral value (the tool schema)."""

    def __init__(self, root: Mapping[str, Any], *, strict_integer: bool = True) -> None:
        self.root = root
        self.strict_integer = strict_integer
        self._id = root.get("$id") if isinstance(root.get("$id"), str) else None
        self._compiled: Dict[int, Tuple[Any, Check]] = {}  # id -> (the schema, kept alive; its check)

    def is_valid(self, instance: Any, schema: Any = None) -> Verdict:
        """The verdict for ``instance`` against ``schema`` (default: the root)."""
        if not plain_json(instance):
            return None
        return self.guarded(self.compile(self.root if schema is None else schema), instance)

    @staticmethod
    def guarded(check: Check, instance: Any) -> Verdict:
        """``check(instance)``, unsure on any surprise (a nesting too deep for recursion, say)."""
        try:
            return check(instance)
        except Exception:  # noqa: BLE001  jsonschema decides whatever this interpreter cannot
            return None

    def definition(self, ref: str) -> Check:
        """The check of a reference such as ``#/$defs/layer.Conv2d``, resolved in the root."""
        return self._ref(ref)

    def compile(self, schema: Any) -> Check:
        """The check of ``schema``; a large schema compiles piece by piece, as its parts are first used."""
        if schema is True:
            return _valid
        if schema is False:
            return _invalid
        known = self._compiled.get(id(schema))
        if known is not None:
            return known[1]
        compiled: List[Check] = []

        def check(instance: Any) -> Verdict:
            if not compiled:
                compiled.append(self._compile(schema))
            return compiled[0](instance)
        self._compiled[id(schema)] = (schema, check)
        return check

    # --- compiling ------------------------------------------------------------------------------------

    def _compile(self, schema: Any) -> Check:
        if schema is True:
            return _valid
        if schema is False:
            return _invalid
        if type(schema) is not dict:
            return _unsure
        checks: List[Check] = []
        if any(k in schema for k in _OBJECT_KEYWORDS):  # each family compiles into one check
            checks.append(self._object_check(schema))
        if any(k in schema for k in _ARRAY_KEYWORDS):
            checks.append(self._array_check(schema))
        for keyword, value in schema.items():
            if keyword in ANNOTATIONS or keyword in _OBJECT_KEYWORDS or keyword in _ARRAY_KEYWORDS:
                if keyword == "$id" and schema is not self.root:  # a new base for references: not handled
                    checks.append(_unsure)
                continue
            if keyword in ("then", "else"):
                if "if" not in schema:  # jsonschema ignores them; this interpreter knows no such schema
                    checks.append(_unsure)
                continue
            handler = _KEYWORDS.get(keyword)
            checks.append(_unsure if handler is None else handler(self, value, schema))
        return _all(checks)

    def _resolve(self, ref: Any) -> Any:
        """The subschema a plain local reference names, or None."""
        if not isinstance(ref, str):
            return None
        if self._id and ref.startswith(self._id + "#"):
            ref = ref[len(self._id):]
        if not (ref == "#" or ref.startswith("#/")) or "%" in ref or "~" in ref:
            return None
        target: Any = self.root
        for part in ref[2:].split("/") if ref != "#" else ():
            if not isinstance(target, dict) or part not in target:
                return None
            target = target[part]
        return target

    def _ref(self, ref: Any, _schema: Any = None) -> Check:
        target = self._resolve(ref)
        return _unsure if target is None else self.compile(target)

    def _type(self, value: Any, _schema: Any) -> Check:
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not all(isinstance(n, str) and n in _TYPES for n in names):
            return _unsure
        allowed = frozenset().union(*(_TYPES[n] for n in names))
        if "integer" in names and not self.strict_integer and float not in allowed:
            return lambda x: type(x) in allowed or (type(x) is float and x.is_integer())
        return lambda x: type(x) in allowed

    def _object_check(self, schema: Mapping[str, Any]) -> Check:
        """properties, additionalProperties, required, minProperties and propertyNames."""
        properties = schema.get("properties", {})
        extra_schema = schema.get("additionalProperties", True)
        required = schema.get("required", [])
        least = schema.get("minProperties", 0)
        if type(properties) is not dict or type(required) is not list or type(least) is not int or \
                not isinstance(extra_schema, (bool, dict)) or "patternProperties" in schema:
            return _unsure
        known = [(name, self.compile(sub)) for name, sub in properties.items()]
        extra = None if extra_schema is True else self.compile(extra_schema)
        names = self.compile(schema["propertyNames"]) if "propertyNames" in schema else None

        def check(instance: Any) -> Verdict:
            if type(instance) is not dict:
                return True
            verdict: Verdict = True
            if len(instance) < least:
                return False
            for name in required:
                if name not in instance:
                    return False
            for name, sub in known:
                if name in instance:
                    result = sub(instance[name])
                    if result is False:
                        return False
                    if result is None:
                        verdict = None
            if extra is not None:
                for key, item in instance.items():
                    if key not in properties:
                        result = extra(item)
                        if result is False:
                            return False
                        if result is None:
                            verdict = None
            if names is not None:
                for key in instance:
                    result = names(key)
                    if result is False:
                        return False
                    if result is None:
                        verdict = None
            return verdict
        return check

    def _array_check(self, schema: Mapping[str, Any]) -> Check:
        """items and prefixItems."""
        prefix_schemas = schema.get("prefixItems", [])
        if type(prefix_schemas) is not list:
            return _unsure
        prefix = [self.compile(s) for s in prefix_schemas]
        start = len(prefix)
        items = schema.get("items", True)
        rest = None if items is True else self.compile(items)

        def check(instance: Any) -> Verdict:
            if type(instance) is not list:
                return True
            verdict: Verdict = True
            for sub, item in zip(prefix, instance):
                result = sub(item)
                if result is False:
                    return False
                if result is None:
                    verdict = None
            if rest is not None:
                for item in instance[start:]:
                    result = rest(item)
                    if result is False:
                        return False
                    if result is None:
                        verdict = None
            return verdict
        return check

    def _if(self, value: Any, schema: Mapping[str, Any]) -> Check:
        condition = self.compile(value)
        then = self.compile(schema["then"]) if "then" in schema else _valid
        otherwise = self.compile(schema["else"]) if "else" in schema else _valid

        def check(instance: Any) -> Verdict:
            holds = condition(instance)
            if holds is None:
                return None
            return then(instance) if holds else otherwise(instance)
        return check

    def _applicators(self, value: Any) -> Optional[List[Check]]:
        if type(value) is not list or not value:
            return None
        return [self.compile(s) for s in value]


def _number_bound(compare: Callable[[Any, Any], bool]) -> Callable[[Interpreter, Any, Any], Check]:
    def make(_: Interpreter, bound: Any, __: Any) -> Check:
        if type(bound) not in (int, float):
            return _unsure
        return lambda x: True if type(x) is not int and type(x) is not float else not compare(x, bound)
    return make


def _size_bound(kind: type, too_far: Callable[[int, int], bool]) -> Callable[[Interpreter, Any, Any], Check]:
    def make(_: Interpreter, bound: Any, __: Any) -> Check:
        if type(bound) is not int:
            return _unsure
        return lambda x: not (type(x) is kind and too_far(len(x), bound))
    return make


def _const(_: Interpreter, value: Any, __: Any) -> Check:
    return lambda x: json_equal(x, value)


def _enum(_: Interpreter, values: Any, __: Any) -> Check:
    if type(values) is not list:
        return _unsure
    if all(type(v) is str for v in values):
        strings = frozenset(values)
        return lambda x: type(x) is str and x in strings
    return lambda x: any(json_equal(v, x) for v in values)


def _pattern(_: Interpreter, pattern: Any, __: Any) -> Check:
    if type(pattern) is not str:
        return _unsure
    search = re.compile(pattern).search
    return lambda x: type(x) is not str or search(x) is not None


def _all_of(interpreter: Interpreter, value: Any, _: Any) -> Check:
    checks = interpreter._applicators(value)
    return _unsure if checks is None else _all(checks)


def _any_of(interpreter: Interpreter, value: Any, _: Any) -> Check:
    checks = interpreter._applicators(value)
    return _unsure if checks is None else _any(checks)


_OBJECT_KEYWORDS = frozenset({"properties", "additionalProperties", "required", "minProperties", "propertyNames"})
_ARRAY_KEYWORDS = frozenset({"items", "prefixItems"})
_KEYWORDS: Dict[str, Callable[[Interpreter, Any, Any], Check]] = {
    "$ref": Interpreter._ref,
    "type": Interpreter._type,
    "const": _const,
    "enum": _enum,
    "minimum": _number_bound(lambda x, bound: x < bound),
    "maximum": _number_bound(lambda x, bound: x > bound),
    "exclusiveMinimum": _number_bound(lambda x, bound: x <= bound),
    "minItems": _size_bound(list, lambda size, bound: size < bound),
    "maxItems": _size_bound(list, lambda size, bound: size > bound),
    "minLength": _size_bound(str, lambda size, bound: size < bound),
    "pattern": _pattern,
    "allOf": _all_of,
    "anyOf": _any_of,
    "if": Interpreter._if,
}
