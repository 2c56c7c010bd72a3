"""``type: $arg``: a layer type (or a block) passed to a block as an argument.

The graph builder asks here what type an entry's ``type: $act`` names and
whether the entry's other keys fit that type (the schema cannot check them:
it does not know the type).  A value that names no type is reported where it
is given: at the block use that passes it, or at the block's default.
"""
from __future__ import annotations

from typing import Any, Collection, List, Mapping, Optional, Tuple

from ..core.diagnostics import ConfigPath, Finding
from ..core.suggest import did_you_mean
from .layers import REGISTRY


def type_from_argument(text: str, env: Mapping[str, Any], frame: Optional[Any], use: Mapping[str, Any],
                       blocks: Collection[str], path: ConfigPath) -> Tuple[Optional[str], List[Finding]]:
    """The type ``type: $name`` names inside the block use ``frame`` (the graph's Frame: ``use_path``,
    ``block``; None outside a block), whose entry is ``use``; or the findings that say why not.  (The graph
    module imports this one, so the Frame type is not imported here.)"""
    name = text[1:]
    if frame is None:
        return None, [Finding("PL305", f"`type: {text}` is a block argument, but this layer is not inside a block",
                              path + ("type",))]
    if name not in env:
        known = ", ".join(sorted(env)) or "none"
        return None, [Finding("PL305", f"`type: {text}` names no block argument{did_you_mean(name, env)} "
                                       f"(arguments: {known})", path + ("type",))]
    value = env[name]
    if isinstance(value, str) and (value in REGISTRY or value in blocks):
        return value, []
    where = frame.use_path + (name,) if name in use else ("blocks", frame.block, "args", name)
    used = f"`{name}` is used as a layer type (`type: ${name}` in block `{frame.block}`)"
    if not isinstance(value, str):
        return None, [Finding("PL202", f"{used}, so it must be a type name, got {value!r}", where)]
    candidates = list(REGISTRY) + list(blocks)
    return None, [Finding("PL204", f"{used}, but `{value}` is no layer type or block"
                                   f"{did_you_mean(value, candidates)}", where)]


def unknown_keys(entry: Mapping[str, Any], reserved: Collection[str], path: ConfigPath) -> List[Finding]:
    """Keys of an entry whose type came from an argument that the type does not take (PL201)."""
    layer = REGISTRY.get(entry["type"])
    if layer is None:
        return []  # a block: its own arguments are checked where it expands
    return [Finding("PL201", f"unknown key `{key}` for {layer.type} (the type given by this block's argument)"
                             f"{did_you_mean(key, layer.args)}", path + (key,), at_key=True)
            for key in entry if key not in reserved and key not in layer.args]
