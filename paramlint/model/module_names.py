"""The dotted module names of a graph's layers, as ``paramlint.torch.build``
registers them (and as peft's ``target_modules`` matches them).

An entry's ``name`` (dots become ``_``) or its position, a block use as a
nested module, the copies of a repeated entry numbered from 0:
``layer1.0.conv1``.  A name already taken in its container, or one that is
an attribute of ``torch.nn.Module`` there, gets ``_`` appended, as
``paramlint.torch`` does; the tests compare the two on every example.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from ..core.diagnostics import format_config_path
from .graph import Graph, Node

# Attributes of a torch.nn.Module (torch 2.13) and of paramlint's root model
# when its layers are registered: a layer cannot be registered under them.
MODULE_ATTRIBUTES = frozenset("""
T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda double dump_patches eval
extra_repr float forward get_buffer get_extra_state get_parameter get_submodule half ipu load_state_dict modules mtia
named_buffers named_children named_modules named_parameters parameters register_backward_hook register_buffer
register_forward_hook register_forward_pre_hook register_full_backward_hook register_full_backward_pre_hook
register_load_state_dict_post_hook register_load_state_dict_pre_hook register_module register_parameter
register_state_dict_post_hook register_state_dict_pre_hook requires_grad_ set_extra_state set_submodule share_memory
state_dict to to_empty train training type xpu zero_grad
""".split())
ROOT_ATTRIBUTES = frozenset({"input_names", "config_name"})


def entry_at(data: Mapping[str, Any], config_path: Sequence[Any]) -> Mapping[str, Any]:
    """The config entry at ``config_path``."""
    value: Any = data
    for part in config_path:
        value = value[part]
    return value


def local_label(entry: Mapping[str, Any], config_path: Sequence[Any]) -> str:
    """The local label the graph builder gives an entry (its name or position)."""
    return entry["name"] if isinstance(entry.get("name"), str) else format_config_path(tuple(config_path[-2:]))


def copy_number(label: str, prefix: str) -> Optional[int]:
    """The repeat copy number in a graph label (``conv#2``, ``layers[3] Block #2``)."""
    rest = label[len(prefix):]
    digits = rest.rpartition("#")[2]
    return int(digits) if rest.startswith((" #", "#")) and digits.isdigit() else None


class _Container:
    __slots__ = ("children", "keys", "taken", "root")

    def __init__(self, root: bool = False) -> None:
        self.children: Dict[str, "_Container"] = {}
        self.keys: Dict[Tuple[Any, ...], str] = {}
        self.taken: Set[str] = set()  # the values of keys
        self.root = root

    def key_for(self, config_path: Sequence[Any], entry: Mapping[str, Any]) -> str:
        ident = tuple(config_path)
        if ident in self.keys:
            return self.keys[ident]
        raw = entry.get("name") if isinstance(entry.get("name"), str) else str(config_path[-1])
        key = raw.replace(".", "_") or "_"
        while key in self.taken or (key not in self.children and self._attribute(key)):
            key += "_"
        self.keys[ident] = key
        self.taken.add(key)
        return key

    def _attribute(self, key: str) -> bool:
        return key in MODULE_ATTRIBUTES or key.startswith("_") or (self.root and key in ROOT_ATTRIBUTES)

    def enter(self, key: str) -> "_Container":
        return self.children.setdefault(key, _Container())


def module_paths(graph: Graph, data: Mapping[str, Any]) -> Tuple[List[str], List[str]]:
    """(the dotted name of each node, every container name) of the built model."""
    root = _Container(root=True)
    paths: List[str] = []
    containers: Dict[str, None] = {}
    for node in graph.nodes:
        paths.append(_place(root, node, data, containers))
    return paths, list(containers)


def _place(root: _Container, node: Node, data: Mapping[str, Any], containers: Dict[str, None]) -> str:
    parent, names = root, []
    steps = [(frame.use_path, frame.label, f" {frame.block}") for frame in node.frames]
    steps.append((node.config_path, node.label, ""))
    for number, (config_path, label, suffix) in enumerate(steps):
        entry = entry_at(data, config_path)
        key = parent.key_for(config_path, entry)
        copy = copy_number(label, local_label(entry, config_path) + suffix)
        last = number == len(steps) - 1
        if copy is not None:
            parent = parent.enter(key)
            names.append(key)
            containers[".".join(names)] = None
            key = str(copy - 1)
        names.append(key)
        if not last:
            parent = parent.enter(key)
            containers[".".join(names)] = None
        else:
            parent.children.setdefault(key, _Container())
    return ".".join(names)
