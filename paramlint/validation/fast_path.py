"""The fast path of format-1 validation: is this document certainly valid, without jsonschema?

It checks the same pieces as ``SchemaValidator.validate`` (the document with layer entries as
stubs, each layer entry against ``$defs/layer.<Type>``, each block use against ``reserved.*``)
with paramlint's exact interpreter of the schema's keywords, and answers True only when every
piece is certainly valid.  Anything else goes through jsonschema, which words the diagnostics.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping

from ..model.layers import REGISTRY
from .interpreter import Check, Interpreter, plain_json


class FastPath:
    """Compiled (lazily, per subschema) checks of the published schema and of the document schema
    ``SchemaValidator`` derives from it."""

    def __init__(self, schema: Mapping[str, Any], document: Mapping[str, Any], entry: Mapping[str, Any]) -> None:
        self.schema = Interpreter(schema)  # layer.<Type> and reserved.* resolve their $refs here
        self.document = Interpreter(document)
        self._document_check = self.document.compile(document)
        self._entry_check = self.schema.compile(entry)
        reserved = {k[len("reserved."):]: {"$ref": f"{schema['$id']}#/$defs/{k}"}
                    for k in schema["$defs"] if k.startswith("reserved.")}
        self.block_use = {"type": "object", "properties": reserved}  # a block's use: its reserved keys
        self._block_use_check = self.schema.compile(self.block_use)
        self._layers: Dict[str, Check] = {}

    def certainly_valid(self, data: Any, *, layers: bool = True) -> bool:
        """True only when jsonschema would find nothing wrong in any piece ``validate`` checks (with
        ``layers=False``: in the document alone, as ``validate_written`` checks it)."""
        if not plain_json(data):
            return False
        return Interpreter.guarded(lambda d: self._all_valid(d, layers), data) is True

    def _all_valid(self, data: Any, layers: bool) -> bool:
        if self._document_check(data) is not True or type(data) is not dict:
            return False
        if not layers:
            return True
        lists: List[Any] = [data.get("layers", [])]
        for block in (data.get("blocks") or {}).values():
            if type(block) is not dict:
                return False
            lists.append(block.get("layers", []))
        return all(type(entries) is list and all(self._entry_valid(e) for e in entries) for entries in lists)

    def _entry_valid(self, entry: Any) -> bool:
        if type(entry) is not dict or type(entry.get("type")) is not str:
            return self._entry_check(entry) is True
        layer_type = entry["type"]
        check = self._layers.get(layer_type)
        if check is None:
            check = self.schema.definition(f"#/$defs/layer.{layer_type}") if layer_type in REGISTRY \
                else self._block_use_check
            self._layers[layer_type] = check
        return check(entry) is True
