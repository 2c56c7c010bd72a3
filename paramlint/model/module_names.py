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
from .graph import Graph, Node, Repeat

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


def module_paths(graph: Graph, data: Mapping[str, Any], *, clone: bool = True) -> Tuple[List[str], List[str]]:
    """(the dotted name of each node, every container name) of the built model.

    The copies of a repeat that the graph builder cloned (``Repeat.cloned``: each the copy before
    again) are named from the copy before with their copy number moved along, once the copy before was
    seen to be named from its own predecessor that way (one dotted component differs, by 1), and the
    containers it opened likewise; otherwise (or with ``clone=False``, for the tests) every node is
    placed in full."""
    root = _Container(root=True)
    paths: List[str] = []
    containers: Dict[str, None] = {}
    nodes = graph.nodes
    starts = _cloned_starts(graph) if clone else {}
    templates = {r.start + (r.cloned - 1) * r.size for r in starts.values()}  # the copies cloned copies follow
    marks: Dict[int, int] = {}  # a template's first node -> the number of containers before it
    index = 0
    while index < len(nodes):
        repeat = starts.get(index)
        if repeat is not None and _named_from_before(repeat, paths, containers, marks):
            index = repeat.start + repeat.count * repeat.size
            continue
        if index in templates:
            marks[index] = len(containers)
        paths.append(_place(root, nodes[index], data, containers))
        index += 1
    return paths, list(containers)


def _cloned_starts(graph: Graph) -> Dict[int, Repeat]:
    """First cloned node -> its repeat, for the largest non-overlapping repeats with cloned copies."""
    starts: Dict[int, Repeat] = {}
    taken: List[Tuple[int, int]] = []
    for repeat in sorted(graph.repeats, key=lambda r: -(r.size * r.count)):
        begin, end = repeat.start, repeat.start + repeat.size * repeat.count
        if repeat.cloned < 2 or repeat.cloned >= repeat.count or any(begin < e and b < end for b, e in taken):
            continue
        taken.append((begin, end))
        starts[repeat.start + repeat.cloned * repeat.size] = repeat
    return starts


def _named_from_before(repeat: Repeat, paths: List[str], containers: Dict[str, None], marks: Dict[int, int]) -> bool:
    """Name the cloned copies of ``repeat`` from the last copy placed, if its names are its predecessor's
    with one dotted component counted up by 1 (the copy number); False (nothing written) otherwise."""
    size, last = repeat.size, repeat.start + (repeat.cloned - 1) * repeat.size
    if last not in marks or len(paths) != last + size:
        return False
    position, number = -1, -1
    template = []
    for offset in range(size):
        before, after = paths[last - size + offset].split("."), paths[last + offset].split(".")
        differ = [k for k, (a, b) in enumerate(zip(before, after)) if a != b]
        if len(before) != len(after) or len(differ) != 1:
            return False
        k = differ[0]
        if not (before[k].isdigit() and after[k].isdigit() and int(after[k]) == int(before[k]) + 1) or \
                (position >= 0 and (k != position or int(after[k]) != number)):
            return False
        position, number = k, int(after[k])
        template.append(after)
    opened = [name.split(".") for name in list(containers)[marks[last]:]]
    if any(len(parts) <= position or parts[position] != str(number) or parts[:position] != template[0][:position]
           for parts in opened):
        return False
    for copy in range(repeat.cloned, repeat.count):
        moved = str(number + copy - repeat.cloned + 1)
        for parts in template:
            paths.append(".".join(parts[:position] + [moved] + parts[position + 1:]))
        for parts in opened:
            containers[".".join(parts[:position] + [moved] + parts[position + 1:])] = None
    return True


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
