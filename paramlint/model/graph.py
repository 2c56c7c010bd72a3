"""Build the layer graph: blocks expanded, names resolved, inputs wired.

The result is a flat, topologically ordered list of :class:`Node` values
(config order is execution order: a reference to a later layer is an
error).  Each node remembers where it is written (``config_path``, inside a
block definition for block layers) and the chain of block uses that led to
it (``frames``), so that diagnostics can point at the definition and say
which use, which repeat and which argument values.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from ..core.diagnostics import ConfigPath, Finding, format_config_path
from ..core.record import Record
from ..core.suggest import did_you_mean, did_you_mean_type
from .block_types import type_from_argument, unknown_keys
from .expr import ExprError, evaluate
from .layers import REGISTRY
from .layers.base import TensorSpec

RESERVED_KEYS = ("type", "name", "from", "repeat", "trainable", "shares", "checkpoint")
MAX_NODES = 100_000
MAX_BLOCK_DEPTH = 32
# Arguments that stack sub-layers inside one torch module (LSTM's num_layers, Transformer's encoder and
# decoder layers): each sub-layer counts toward MAX_NODES, since its parameters are listed one by one.
SUBLAYER_ARGS = ("num_layers", "num_encoder_layers", "num_decoder_layers")


class Source(Record):
    """Where a tensor comes from: a node's output, or a model input."""

    __slots__ = ("node", "output", "input_name")

    def __init__(self, node: Optional[int], output: int = 0, input_name: str = "") -> None:
        self.node = node
        self.output = output
        self.input_name = input_name


class Frame(Record):
    """One block use on the way to a node: ``layers[5] BasicBlock #2``.

    ``checkpoint``: `checkpoint: true` on the block use, whose layers are
    recomputed in backward.
    """

    __slots__ = ("label", "block", "args", "use_path", "checkpoint")

    def __init__(self, label: str, block: str, args: Tuple[Tuple[str, Any], ...], use_path: ConfigPath = (),
                 checkpoint: bool = False) -> None:
        self.label = label
        self.block = block
        self.args = args
        self.use_path = use_path
        self.checkpoint = checkpoint

    def _values(self) -> Tuple[Any, ...]:
        # Not the args: values may be lists (unhashable), and label + use_path already identify the use.
        return self.label, self.block, self.use_path, self.checkpoint

    def describe(self) -> str:
        values = ", ".join(f"{k}={v}" for k, v in self.args)
        return f"{self.label} ({values})" if values else self.label


class Node(Record):
    """One layer of the expanded graph (blocks and repeats unrolled)."""

    __slots__ = ("index", "type", "args", "sources", "config_path", "label", "frames", "trainable", "shares",
                 "checkpoint")

    def __init__(self, index: int, type: str, args: Dict[str, Any], sources: Tuple[Source, ...],
                 config_path: ConfigPath, label: str, frames: Tuple[Frame, ...] = (), trainable: bool = True,
                 shares: Optional[int] = None, checkpoint: bool = False) -> None:
        self.index = index
        self.type = type
        self.args = args
        self.sources = sources
        self.config_path = config_path
        self.label = label
        self.frames = frames
        self.trainable = trainable
        self.shares = shares
        self.checkpoint = checkpoint

    @property
    def trace(self) -> str:
        """``layers[5] BasicBlock #2 > layers[3]``: the path a user reads."""
        return " > ".join([f.label for f in self.frames] + [self.label])


class Repeat(Record):
    """``repeat: count`` expanded into ``count`` runs of ``size`` consecutive nodes from ``start``
    (one run per copy; recorded when every copy has the same number of nodes); ``cloned``: the first copy
    written from the copy before it (0: none), every later one too, so each is that copy again."""

    __slots__ = ("start", "size", "count", "cloned")

    def __init__(self, start: int, size: int, count: int, cloned: int = 0) -> None:
        self.start = start
        self.size = size
        self.count = count
        self.cloned = cloned


class Graph(Record):
    __slots__ = ("inputs", "input_paths", "nodes", "output", "repeats")

    # repeats: where `repeat:` laid out copies (memory.folding analyses a long stack of equal copies once)
    def __init__(self, inputs: Dict[str, TensorSpec], input_paths: Dict[str, ConfigPath], nodes: Tuple[Node, ...],
                 output: Source, repeats: Tuple[Repeat, ...] = ()) -> None:
        self.inputs = inputs
        self.input_paths = input_paths
        self.nodes = nodes
        self.output = output
        self.repeats = repeats


class _Abort(Exception):
    """The graph cannot be built further (a limit was hit)."""


BROKEN = Source(node=-1)


class _Scope:
    """Names visible inside one list of layers (the top level or a block use).

    ``declared``: every name written in this list -> entry index;
    ``node_of``: names of plain layers -> node index.
    """

    __slots__ = ("entries_path", "names", "declared", "positions", "node_of")

    def __init__(self, entries_path: ConfigPath, names: Dict[str, Source], declared: Dict[str, int]) -> None:
        self.entries_path = entries_path
        self.names = names
        self.declared = declared
        self.positions: List[Source] = []
        self.node_of: Dict[str, int] = {}


def read_input(spec: Any) -> TensorSpec:
    if isinstance(spec, Mapping):
        return TensorSpec(tuple(spec["shape"]), spec.get("dtype", "float32"))
    return TensorSpec(tuple(spec))


class _Builder:
    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.blocks: Mapping[str, Any] = data.get("blocks") or {}
        self.nodes: List[Node] = []
        self.findings: List[Finding] = []
        self.active_blocks: List[str] = []
        self.expanded = 0  # layers so far, sub-layers included (see SUBLAYER_ARGS)
        self.block_names: Dict[str, Dict[str, int]] = {}  # block -> names declared in its layers, computed once
        self.failed_blocks: Set[str] = set()  # blocks whose expansion reported an error: not expanded again
        self.repeats: List[Repeat] = []

    def error(self, code: str, message: str, path: ConfigPath, *, at_key: bool = False) -> None:
        self.findings.append(Finding(code, message, path, at_key=at_key))

    # -- values -------------------------------------------------------------

    def substitute(self, value: Any, env: Mapping[str, Any], path: ConfigPath) -> Any:
        """Replace ``$arg`` and ``${expr}`` by their values (block arguments)."""
        if isinstance(value, str) and value.startswith("$"):
            if value.startswith("${") and value.endswith("}"):
                return evaluate(value[2:-1], env)
            name = value[1:]
            if name not in env:
                known = ", ".join(sorted(env)) or "none"
                raise ExprError(f"unknown argument ${name}{did_you_mean(name, env)} (arguments: {known})")
            return env[name]
        if isinstance(value, list):
            return [self.substitute(v, env, path + (i,)) for i, v in enumerate(value)]
        return value

    def substituted(self, entry: Mapping[str, Any], key: str, env: Mapping[str, Any], path: ConfigPath,
                    default: Any = None) -> Any:
        if key not in entry:
            return default
        try:
            return self.substitute(entry[key], env, path + (key,))
        except ExprError as error:
            self.error("PL305", str(error), path + (key,))
            return BROKEN

    # -- references -----------------------------------------------------------

    def resolve(self, ref: Any, scope: _Scope, index: int, path: ConfigPath) -> Source:
        if isinstance(ref, int) and not isinstance(ref, bool):
            if ref < index:
                return scope.positions[ref]
            self.error("PL302", f"`from: {ref}` refers to {'the layer itself' if ref == index else 'a later layer'};"
                                f" layers run in the order written", path)
            return BROKEN
        name, output = str(ref), 0
        base, dot, suffix = name.rpartition(".")
        numbered = bool(dot and suffix.isascii() and suffix.isdigit() and base)  # not `.١` or `.²` (int() misreads)
        if numbered:
            name, output = base, int(suffix) if len(suffix) <= 18 else 10**18  # beyond any layer's outputs
        if name in scope.names:
            source = scope.names[name]
            if source is BROKEN:
                return BROKEN
            if not numbered:  # a block input keeps the output it was given (`from: [x, lstm.1]`)
                return source
            if output and source.node is None:
                self.error("PL301", f"input `{name}` has no output {output}", path)
                return BROKEN
            return Source(source.node, output, source.input_name)
        if name in scope.declared:
            where = scope.declared[name]
            self.error("PL302", f"`{ref}` refers to {'the layer itself' if where == index else 'a later layer'} "
                                f"({format_config_path(scope.entries_path + (where,))}); layers run in the order "
                                f"written, so this would be a cycle", path)
            return BROKEN
        self.error("PL301", f"unknown layer or input `{name}`{did_you_mean(name, scope.names)}", path)
        return BROKEN

    # -- expansion --------------------------------------------------------------

    def expand_scope(self, entries: Sequence[Any], scope: _Scope, first_sources: Tuple[Source, ...],
                     env: Mapping[str, Any], frames: Tuple[Frame, ...], trainable: bool) -> Tuple[Source, ...]:
        previous = first_sources
        for index, entry in enumerate(entries):
            path = scope.entries_path + (index,)
            out = self.expand_entry(entry, index, path, scope, previous, env, frames, trainable)
            scope.positions.append(out)
            if isinstance(entry.get("name"), str):
                scope.names[entry["name"]] = out
            previous = (out,)
        return previous

    def expand_entry(self, entry: Mapping[str, Any], index: int, path: ConfigPath, scope: _Scope,
                     previous: Tuple[Source, ...], env: Mapping[str, Any], frames: Tuple[Frame, ...],
                     trainable: bool) -> Source:
        layer_type = entry["type"]
        if isinstance(layer_type, str) and layer_type.startswith("$"):  # type: $arg
            frame = frames[-1] if frames else None
            use = _entry_at(self.data, frame.use_path) if frame else {}
            layer_type, findings = type_from_argument(layer_type, env, frame, use, self.blocks, path)
            if layer_type is not None:
                entry = dict(entry, type=layer_type)
                findings = unknown_keys(entry, RESERVED_KEYS, path)
            if findings:
                self.findings.extend(findings)
                return BROKEN
        if "from" in entry:
            refs = entry["from"] if isinstance(entry["from"], list) else [entry["from"]]
            sources = tuple(self.resolve(r, scope, index, path + ("from",) + ((i,) if isinstance(entry["from"], list)
                                                                               else ())) for i, r in enumerate(refs))
        else:
            sources = previous
        repeat = self.substituted(entry, "repeat", env, path, 1)
        if repeat is BROKEN:
            return BROKEN
        if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
            self.error("PL305", f"`repeat` must be a positive integer, got {repeat!r}", path + ("repeat",))
            return BROKEN
        trainable = trainable and entry.get("trainable", True) is not False
        local = entry.get("name") if isinstance(entry.get("name"), str) else format_config_path(path[-2:])
        if layer_type in self.blocks:
            make = self.expand_block
        elif layer_type in REGISTRY:
            make = self.make_node
        else:
            candidates = list(REGISTRY) + list(self.blocks)
            self.error("PL204", f"unknown layer type `{layer_type}`{did_you_mean_type(layer_type, candidates)}",
                       path + ("type",))
            return BROKEN
        if self.expanded + repeat > MAX_NODES:
            self.error("PL103", f"`repeat: {repeat}` would expand the network past the limit of {MAX_NODES:,} "
                                f"layers", path + ("repeat",) if "repeat" in entry else path)
            raise _Abort()
        # A repeated block of several inputs chains its first one; every copy gets the others (a decoder
        # layer's attention memory, rotary tables), as a stack of such layers is called.
        shared = sources[1:] if make == self.expand_block and len(self.blocks[layer_type].get("inputs") or ()) > 1 \
            else ()
        first = len(self.nodes)
        sizes = set()
        cloning, size, step, out = False, 0, 0, BROKEN
        block = make == self.expand_block
        for copy in range(repeat):
            before, expanded = len(self.nodes), self.expanded
            if cloning and self.expanded + step <= MAX_NODES:
                out = self._clone(before - size, size, out, len(frames), block, f"{local} {layer_type} #{copy + 1}"
                                  if block else f"{local}#{copy + 1}")
                self.expanded += step
            else:
                out = make(entry, local, copy + 1 if repeat > 1 else None, path, scope, sources, env, frames,
                           trainable)
            if out is BROKEN:
                return BROKEN
            sizes.add(len(self.nodes) - before)
            if copy == 2 and len(sizes) == 1:
                # Copies 4 and on are copy 3 again, one copy along: written from it once it is seen that
                # copy 3 is exactly copy 2 written one copy along (a layer or a block expands the same way
                # for every copy, so what holds from copy 2 to 3 holds for every later one).
                size, step = len(self.nodes) - before, self.expanded - expanded
                label = self.nodes[before].frames[len(frames)].label if block else self.nodes[before].label
                cloning = self._cloned(before - size, size, len(frames), block, label) == self.nodes[before:]
            sources = (out,) + shared
        if repeat > 1 and len(sizes) == 1 and 0 not in sizes:
            self.repeats.append(Repeat(first, sizes.pop(), repeat, 3 if cloning and repeat > 3 else 0))
        return sources[0]

    def _cloned(self, first: int, size: int, depth: int, block: bool, label: str) -> List[Node]:
        """The nodes of the copy ``first .. first+size-1`` written one copy along: a block's copy gets the
        frame ``label``, a layer's copy the node ``label``."""
        low = first - size  # the copy before it: its nodes (the chained input among them) move along too
        nodes = []
        relabelled: Dict[int, Tuple[Frame, ...]] = {}  # the nodes of one block use share their frames
        for node in self.nodes[first:first + size]:
            sources = tuple(s if s.node is None or s.node < low else Source(s.node + size, s.output, s.input_name)
                            for s in node.sources)
            shares = node.shares + size if node.shares is not None and node.shares >= low else node.shares
            frames = node.frames
            if block:
                frames = relabelled.get(id(node.frames))
                if frames is None:
                    frames = relabelled[id(node.frames)] = \
                        node.frames[:depth] + (node.frames[depth].replace(label=label),) + node.frames[depth + 1:]
            nodes.append(Node(node.index + size, node.type, node.args, sources, node.config_path,
                              node.label if block else label, frames, node.trainable, shares, node.checkpoint))
        return nodes

    def _clone(self, first: int, size: int, out: Source, depth: int, block: bool, label: str) -> Source:
        """Append the next copy of a repeated layer or block, written from the copy before it."""
        self.nodes.extend(self._cloned(first, size, depth, block, label))
        if out.node is None or out.node < first - size:
            return out
        return Source(out.node + size, out.output, out.input_name)

    def make_node(self, entry: Mapping[str, Any], local: str, copy: Optional[int], path: ConfigPath, scope: _Scope,
                  sources: Tuple[Source, ...], env: Mapping[str, Any], frames: Tuple[Frame, ...],
                  trainable: bool) -> Source:
        layer = REGISTRY[entry["type"]]
        if layer.max_inputs == 0:
            if "from" in entry:
                self.error("PL304", f"{layer.type} takes no input; remove `from`", path + ("from",))
                return BROKEN
            sources = ()
        if any(source is BROKEN for source in sources):  # identity: cheaper than Record ==
            return BROKEN
        if len(sources) < layer.min_inputs or (layer.max_inputs is not None and len(sources) > layer.max_inputs):
            wanted = (f"{layer.min_inputs}" if layer.min_inputs == layer.max_inputs else
                      f"at least {layer.min_inputs}" if layer.max_inputs is None else
                      f"{layer.min_inputs} to {layer.max_inputs}")
            self.error("PL304", f"{layer.type} takes {wanted} input{'s' if wanted != '1' else ''}, got "
                                f"{len(sources)}" + (": list them in `from`" if layer.min_inputs > 1 else ""),
                       path + ("from",) if "from" in entry else path)
            return BROKEN
        args: Dict[str, Any] = {}
        for key in entry:
            if key in RESERVED_KEYS:
                continue
            value = self.substituted(entry, key, env, path)
            if value is BROKEN:
                return BROKEN
            args[key] = value
        shares = None
        if "shares" in entry:
            target = scope.node_of.get(entry["shares"])
            if target is None:
                known = list(scope.node_of)
                self.error("PL301", f"`shares: {entry['shares']}` names no earlier layer with parameters"
                                    f"{did_you_mean(entry['shares'], known)}", path + ("shares",))
                return BROKEN
            shares = target
        if self.expanded >= MAX_NODES:
            self.error("PL103", f"the network expands past the limit of {MAX_NODES:,} layers", path)
            raise _Abort()
        for key in SUBLAYER_ARGS:
            count = args.get(key)
            if isinstance(count, int) and not isinstance(count, bool) and count > 0:
                if self.expanded + 1 + count > MAX_NODES:
                    self.error("PL103", f"{layer.type} with `{key}: {count}` would expand the network past the "
                                        f"limit of {MAX_NODES:,} layers (each stacked layer counts)", path + (key,))
                    raise _Abort()
                self.expanded += count
        self.expanded += 1
        label = f"{local}#{copy}" if copy else local
        node = Node(len(self.nodes), layer.type, args, sources, path, label, frames, trainable, shares,
                    bool(entry.get("checkpoint", False)))
        self.nodes.append(node)
        if isinstance(entry.get("name"), str):
            scope.node_of[entry["name"]] = node.index
        return Source(node.index)

    def expand_block(self, entry: Mapping[str, Any], local: str, copy: Optional[int], path: ConfigPath, scope: _Scope,
                     sources: Tuple[Source, ...], env: Mapping[str, Any], frames: Tuple[Frame, ...],
                     trainable: bool) -> Source:
        name = entry["type"]
        block = self.blocks[name]
        if name in self.active_blocks:
            chain = " > ".join(self.active_blocks[self.active_blocks.index(name):] + [name])
            self.error("PL305", f"block `{name}` uses itself ({chain})", path + ("type",))
            return BROKEN
        if len(self.active_blocks) >= MAX_BLOCK_DEPTH:
            self.error("PL103", f"blocks nested deeper than {MAX_BLOCK_DEPTH} levels", path)
            return BROKEN
        if any(source is BROKEN for source in sources) or name in self.failed_blocks:
            return BROKEN  # a block that failed once is not expanded again: its errors are reported (and nesting
            # failing blocks two by two would otherwise take 2^depth expansions)
        declared = dict(block.get("args") or {})
        block_env: Dict[str, Any] = dict(declared)
        for key in entry:
            if key in RESERVED_KEYS:
                continue
            if key not in declared:
                self.error("PL305", f"block `{name}` has no argument `{key}`{did_you_mean(key, declared)}",
                           path + (key,), at_key=True)
                return BROKEN
            value = self.substituted(entry, key, env, path)
            if value is BROKEN:
                return BROKEN
            block_env[key] = value
        missing = [k for k, v in block_env.items() if v is None]
        if missing:
            self.error("PL305", f"block `{name}` needs argument{'s' if len(missing) > 1 else ''} "
                                + ", ".join(f"`{m}`" for m in missing), path)
            return BROKEN
        input_names = list(block.get("inputs") or ["input"])
        if len(sources) != len(input_names):
            self.error("PL304", f"block `{name}` takes {len(input_names)} input(s) ({', '.join(input_names)}), "
                                f"got {len(sources)}", path + ("from",) if "from" in entry else path)
            return BROKEN
        frame = Frame(f"{local} {name} #{copy}" if copy else f"{local} {name}", name,
                      tuple(sorted(block_env.items(), key=lambda item: str(item[0]))), path,
                      entry.get("checkpoint") is True)
        block_path: ConfigPath = ("blocks", name, "layers")
        entries = block["layers"]
        declared_names = self.block_names.get(name)
        if declared_names is None:
            declared_names = self.block_names[name] = _declared_names(entries)
        inner = _Scope(block_path, dict(zip(input_names, sources)), declared_names)
        self.active_blocks.append(name)
        reported = len(self.findings)
        try:
            last = self.expand_scope(entries, inner, (sources[0],), block_env, frames + (frame,), trainable)
        finally:
            self.active_blocks.pop()
        if len(self.findings) > reported or last[0] is BROKEN:
            self.failed_blocks.add(name)
        if "output" in block:
            out = inner.names.get(block["output"])
            if out is None:
                self.error("PL301", f"block `{name}` has no layer `{block['output']}` for its output"
                                    f"{did_you_mean(block['output'], inner.names)}", ("blocks", name, "output"))
                return BROKEN
            return out
        return last[0]


def _entry_at(data: Mapping[str, Any], config_path: ConfigPath) -> Mapping[str, Any]:
    value: Any = data
    for part in config_path:
        value = value[part]
    return value if isinstance(value, Mapping) else {}


def _declared_names(entries: Sequence[Any]) -> Dict[str, int]:
    return {e["name"]: i for i, e in enumerate(entries) if isinstance(e, Mapping) and isinstance(e.get("name"), str)}


def _duplicate_names(entries: Sequence[Any], path: ConfigPath, taken: Sequence[str]) -> List[Finding]:
    seen: Dict[str, int] = {name: -1 for name in taken}
    findings = []
    for i, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if not isinstance(name, str):
            continue
        if name in seen:
            first = "an input" if seen[name] < 0 else format_config_path(path + (seen[name],))
            findings.append(Finding("PL303", f"name `{name}` is already used by {first}", path + (i, "name")))
        else:
            seen[name] = i
    return findings


def build_graph(data: Mapping[str, Any]) -> Tuple[Optional[Graph], List[Finding]]:
    """Expand a schema-valid config into a :class:`Graph`, or report why not."""
    if "inputs" in data:
        inputs = {name: read_input(spec) for name, spec in data["inputs"].items()}
        input_paths = {name: ("inputs", name) for name in inputs}
    else:
        inputs = {"input": read_input(data["input"])}
        input_paths = {"input": ("input",)}
    builder = _Builder(data)
    builder.findings.extend(_duplicate_names(data["layers"], ("layers",), list(inputs)))
    for block_name, block in builder.blocks.items():
        builder.findings.extend(_duplicate_names(block["layers"], ("blocks", block_name, "layers"),
                                                 list(block.get("inputs") or ["input"])))
    scope = _Scope(("layers",), {n: Source(None, 0, n) for n in inputs}, _declared_names(data["layers"]))
    first = Source(None, 0, next(iter(inputs)))
    try:
        last = builder.expand_scope(data["layers"], scope, (first,), {}, (), True)
    except _Abort:
        return None, builder.findings
    if builder.findings or last[0] is BROKEN:
        return None, builder.findings
    return Graph(inputs, input_paths, tuple(builder.nodes), last[0], tuple(builder.repeats)), builder.findings
