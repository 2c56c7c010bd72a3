"""Infer every tensor shape and count parameters, buffers and FLOPs.

Walks the graph in order, calling each layer type's pure ``infer``.  A layer
that fails is reported once, at the line that causes it; layers downstream
of it are skipped rather than reported again.
"""
from __future__ import annotations

import math
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..core.diagnostics import ERROR, Finding
from ..core.record import Record
from ..rules import severity_of
from .copies import copy_references, equal_copies, same_layer
from .graph import Graph, Node, Repeat, Source
from .layers import REGISTRY
from .layers.base import (
    DTYPE_BYTES,
    MAX_ELEMENTS,
    LayerError,
    LayerResult,
    Shape,
    TensorSpec,
    format_shape,
    product_text,
    resolve_args,
)
from .layers.layout import lay_out

# torch keeps sizes as int64 and refuses a tensor whose storage in bytes overflows it (PL405).
INT64_MAX = MAX_ELEMENTS
# The most dimensions torch's reductions support; also what keeps shape arithmetic cheap (PL103).
MAX_RANK = 64
_SAFE_NUMEL = INT64_MAX // 8


class LayerInfo(Record):
    """One analysed layer, as the summary table and JSON show it."""

    __slots__ = ("node", "result", "inputs", "params", "trainable_params", "buffers")

    # params: counted here (0 for tied parameters counted at their owner)
    def __init__(self, node: Node, result: LayerResult, inputs: Tuple[TensorSpec, ...], params: int,
                 trainable_params: int, buffers: int) -> None:
        self.node = node
        self.result = result
        self.inputs = inputs
        self.params = params
        self.trainable_params = trainable_params
        self.buffers = buffers

    @property
    def output(self) -> TensorSpec:
        return self.result.outputs[0]


class ShapeAnalysis(Record):
    __slots__ = ("inputs", "layers", "output", "params", "trainable_params", "buffers", "flops", "trainable_shapes",
                 "equal_copies")

    # trainable_shapes: for optimizer state
    # equal_copies: repeats whose copies 2 and on are copy 1 again, layer for layer (model.copies)
    def __init__(self, inputs: Dict[str, TensorSpec], layers: Tuple[LayerInfo, ...], output: TensorSpec, params: int,
                 trainable_params: int, buffers: int, flops: int, trainable_shapes: Tuple[Shape, ...] = (),
                 equal_copies: Tuple[Repeat, ...] = ()) -> None:
        self.inputs = inputs
        self.layers = layers
        self.output = output
        self.params = params
        self.trainable_params = trainable_params
        self.buffers = buffers
        self.flops = flops
        self.trainable_shapes = trainable_shapes
        self.equal_copies = equal_copies

    @property
    def non_trainable_params(self) -> int:
        return self.params - self.trainable_params


_ITS_INPUT = re.compile(r"\bits input\b(?!s)")


def _producer_text(graph: Graph, source: Source, infos: Dict[int, LayerInfo], lines: Dict[int, int]) -> str:
    if source.node is None:
        return f"the input `{source.input_name}`"
    node = graph.nodes[source.node]
    line = lines.get(source.node)
    where = f" (line {line})" if line else ""
    return f"{node.type} `{node.trace}`{where}"


def _name_inputs(message: str, graph: Graph, node: Node, inputs: Sequence[TensorSpec],
                 infos: Dict[int, LayerInfo], lines: Dict[int, int]) -> str:
    """A merge's error naming the layer (and line) behind each input: ``its inputs [N, 8], [N, 16]`` becomes
    ``its inputs Conv2d `a` (line 5) [N, 8], Conv2d `b` (line 6) [N, 16]``; other messages get the list
    appended."""
    shapes = [format_shape(("N",) + tuple(t.shape)) if t.batched else t.describe() for t in inputs]
    named = ", ".join(f"{_producer_text(graph, source, infos, lines)} {shape}"
                      for source, shape in zip(node.sources, shapes))
    listed = "its inputs " + ", ".join(shapes)
    if listed in message:
        return message.replace(listed, "its inputs " + named, 1)
    return f"{message}; its inputs: {named}"


def _explain_size(graph: Graph, source: Source, infos: Dict[int, LayerInfo]) -> str:
    """`` = 12 x 4 x 4`` when the producing layer flattened those sizes."""
    if source.node is None or source.node not in infos:
        return ""
    info = infos[source.node]
    if info.node.type == "Flatten" and info.inputs:
        shape = info.inputs[0].shape
        if len(shape) > 1 and info.output.shape and info.output.shape[-1] == math.prod(shape):
            return f" = {product_text(shape)}"
    return ""


def _tensor_of(source: Source, graph: Graph, infos: Dict[int, LayerInfo]) -> Optional[TensorSpec]:
    if source.node is None:
        return graph.inputs[source.input_name]
    info = infos.get(source.node)
    if info is None:
        return None
    outputs = info.result.outputs
    if source.output >= len(outputs):
        raise LayerError(f"{info.node.type} `{info.node.trace}` has {len(outputs)} output"
                         f"{'s' if len(outputs) > 1 else ''}; `.{source.output}` does not exist", arg="from",
                         code="PL301")
    return outputs[source.output]


def _locate(node: Node, arg: Optional[str]) -> Tuple[Any, ...]:
    if arg and arg in node.args:
        return node.config_path + (arg,)
    if arg == "from" and node.sources:
        return node.config_path
    return node.config_path


def layer_context(node: Node) -> str:
    """`` [in BasicBlock #2 > layers[1]]`` for a layer inside blocks, else ``""``."""
    if not node.frames:
        return ""
    return " [in " + " > ".join(f.describe() for f in node.frames) + f" > {node.label}]"


def analyze_shapes(graph: Graph, lines: Dict[int, int]) -> Tuple[Optional[ShapeAnalysis], List[Finding]]:
    """Shapes and counts for every node; ``lines`` maps node index -> line for messages."""
    findings: List[Finding] = []
    for name, tensor in graph.inputs.items():
        problem = _oversized_shape(tensor.shape, tensor.dtype, tensor.rank, f"the input `{name}` is a tensor")
        if problem:
            findings.append(Finding(problem[0], problem[1], graph.input_paths.get(name, ())))
    if findings:
        return None, findings
    infos: Dict[int, LayerInfo] = {}
    params = trainable = buffers = flops = 0
    trainable_shapes: List[Shape] = []
    references = copy_references(graph.repeats, len(graph.nodes))
    reused: Dict[int, bool] = {}
    for node in graph.nodes:
        reference = references.get(node.index)
        if reference is not None:
            info = _reuse(node, reference, graph, infos)
            if info is not None:
                reused[node.index] = True
                infos[node.index] = info
                result = info.result
                for warning in result.warnings:
                    findings.append(Finding(warning.code, warning.message + layer_context(node),
                                            _locate(node, warning.arg)))
                if node.trainable:
                    trainable_shapes.extend(result.params.values())
                params += info.params
                trainable += info.trainable_params
                buffers += info.buffers
                flops += result.flops
                continue
        layer = REGISTRY[node.type]
        oversized = _oversized_args(node)
        if oversized is not None:
            findings.append(oversized)
            continue
        try:
            inputs = [_tensor_of(s, graph, infos) for s in node.sources]
        except LayerError as error:
            findings.append(Finding(error.code, error.message + layer_context(node), node.config_path + ("from",)))
            continue
        if any(t is None for t in inputs):
            continue  # an upstream layer failed and was reported
        try:
            _check_dtypes(layer.input_dtype, node, inputs)
            args = resolve_args(layer, node.args)
            result = layer.infer(args, inputs)
        except LayerError as error:
            message = error.message
            if _ITS_INPUT.search(message) and node.sources:
                producer = _producer_text(graph, node.sources[0], infos, lines)
                message = _ITS_INPUT.sub(lambda _: producer, message) + \
                    _explain_size(graph, node.sources[0], infos)
            if not message.startswith(f"{node.type} "):
                message = f"{node.type} {message}"
            if len(node.sources) > 1 and error.code == "PL401":
                message = _name_inputs(message, graph, node, inputs, infos, lines)
            findings.append(Finding(error.code, message + layer_context(node), _locate(node, error.arg)))
            continue
        oversized = _oversized_result(node, result)
        if oversized is not None:
            findings.append(oversized)
            continue
        for warning in result.warnings:
            findings.append(Finding(warning.code, warning.message + layer_context(node), _locate(node, warning.arg)))
        owned = _owned_params(node, result, infos, findings)
        count = sum(math.prod(shape) for shape in owned.values())
        node_trainable = count if node.trainable else 0
        result.outputs = lay_out(layer.layout, args, inputs, result.outputs)
        if node.trainable:
            trainable_shapes.extend(owned.values())
        node_buffers = sum(math.prod(shape) for shape, _ in result.buffers.values())
        infos[node.index] = LayerInfo(node, result, tuple(inputs), count, node_trainable, node_buffers)
        params += count
        trainable += node_trainable
        buffers += node_buffers
        flops += result.flops
    if any(severity_of(f.code) == ERROR for f in findings):
        return None, findings
    output = _tensor_of(graph.output, graph, infos)
    if output is None:
        return None, findings
    return ShapeAnalysis(graph.inputs, tuple(infos[n.index] for n in graph.nodes), output, params, trainable,
                         buffers, flops, tuple(trainable_shapes),
                         equal_copies(graph.repeats, references, reused)), findings


def _reuse(node: Node, reference: Tuple[int, int, int, Repeat], graph: Graph,
           infos: Dict[int, LayerInfo]) -> Optional[LayerInfo]:
    """The copy-1 counterpart's analysis for ``node``, when it is that layer again on the same inputs."""
    theirs = infos.get(reference[0])
    if theirs is None or node.shares is not None or not same_layer(node, theirs.node, reference):
        return None
    try:
        inputs = tuple(_tensor_of(s, graph, infos) for s in node.sources)
    except LayerError:
        return None
    if inputs != theirs.inputs:  # identical objects inside the copy: only its inputs from outside compare
        return None
    return LayerInfo(node, theirs.result, inputs, theirs.params, theirs.trainable_params, theirs.buffers)


def magnitude(value: int) -> str:
    """``1,000,000`` for a readable integer, ``~10^4000 (a 4001-digit number)`` for an absurd one."""
    if -10**30 < value < 10**30:
        return f"{value:,}"
    digits = len(str(abs(value)))
    return f"{'-' if value < 0 else ''}~10^{digits - 1} (a {digits}-digit number)"


def _oversized_shape(shape: Shape, dtype: str, rank: int, what: str) -> Optional[Tuple[str, str]]:
    """(code, message) when torch could not hold this tensor; checked before any arithmetic on its shape."""
    if rank > MAX_RANK:
        return "PL103", (f"{what} with {rank} dimensions: paramlint analyses tensors of at most {MAX_RANK} "
                         f"(the most torch's reductions support)")
    if shape and max(shape) > INT64_MAX:
        return "PL405", f"{what} with a size of {magnitude(max(shape))}: torch's sizes are int64 (at most 2^63-1)"
    itemsize = DTYPE_BYTES.get(dtype, 4)
    numel = math.prod(shape)
    if numel * itemsize <= INT64_MAX:
        return None
    return "PL405", (f"{what} {format_shape(shape)} of {magnitude(numel)} elements x {itemsize} bytes: more than "
                     f"torch can allocate (2^63-1 bytes)")


def _oversized_args(node: Node) -> Optional[Finding]:
    """An integer argument torch cannot take (int64), or a list longer than any tensor's rank."""
    for name, value in node.args.items():
        if isinstance(value, list) and len(value) > MAX_RANK:
            return Finding("PL103", f"{node.type} `{name}` has {len(value)} values; paramlint analyses tensors of "
                                    f"at most {MAX_RANK} dimensions" + layer_context(node), node.config_path + (name,))
        for item in value if isinstance(value, list) else (value,):
            if isinstance(item, int) and not isinstance(item, bool) and not -INT64_MAX - 1 <= item <= INT64_MAX:
                return Finding("PL405", f"{node.type} `{name}` is {magnitude(item)}, beyond the int64 range torch "
                                        f"accepts (at most 2^63-1 = {INT64_MAX:,})" + layer_context(node),
                               node.config_path + (name,))
    return None


def _fits(shape: Shape, rank: int) -> bool:
    """The quick test: no dtype has more than 8 bytes per element, and a positive product bounds every size."""
    return rank <= MAX_RANK and 0 < math.prod(shape) <= _SAFE_NUMEL


def _oversized_result(node: Node, result: LayerResult) -> Optional[Finding]:
    """An output, parameter or buffer torch could not allocate."""
    problem = None
    for i, tensor in enumerate(result.outputs):
        if not _fits(tensor.shape, tensor.rank):
            problem = problem or _oversized_shape(tensor.shape, tensor.dtype, tensor.rank,
                                                  f"output {i}" if i else "an output")
    for name, shape in result.params.items():
        if not _fits(shape, len(shape)):
            problem = problem or _oversized_shape(shape, "float32", len(shape), f"a parameter `{name}`")
    for name, (shape, dtype) in result.buffers.items():
        if not _fits(shape, len(shape)):
            problem = problem or _oversized_shape(shape, dtype, len(shape), f"a buffer `{name}`")
    if problem:
        return Finding(problem[0], f"{node.type} would create {problem[1]}" + layer_context(node), node.config_path)
    return None


def _owned_params(node: Node, result: LayerResult, infos: Dict[int, LayerInfo],
                  findings: List[Finding]) -> Dict[str, Shape]:
    """The parameters this node adds: all of them, less those tied by ``shares``."""
    if node.shares is None:
        return dict(result.params)
    owner = infos.get(node.shares)
    if owner is None:
        return dict(result.params)
    theirs = owner.result.params
    common = [name for name in result.params if name in theirs]
    if not common:
        findings.append(Finding("PL306", f"{node.type} shares no parameter name with {owner.node.type} "
                                         f"`{owner.node.trace}` (this: {', '.join(result.params) or 'none'}; "
                                         f"that: {', '.join(theirs) or 'none'})", node.config_path + ("shares",)))
        return dict(result.params)
    for name in common:
        if tuple(result.params[name]) != tuple(theirs[name]):
            findings.append(Finding("PL306", f"{node.type}.{name} has shape {format_shape(result.params[name])} but "
                                             f"{owner.node.type} `{owner.node.trace}`.{name} has "
                                             f"{format_shape(theirs[name])}; tied weights must match",
                                    node.config_path + ("shares",)))
    return {name: shape for name, shape in result.params.items() if name not in theirs}


def _check_dtypes(wanted: str, node: Node, inputs: Sequence[TensorSpec]) -> None:
    if wanted == "any" or not inputs:
        return
    first = inputs[0]
    if wanted == "int" and first.is_float:
        raise LayerError(f"expects integer indices, but its input is {first.dtype}; declare the input with "
                         f"`dtype: int64`", code="PL404")
    if wanted == "float" and not first.is_float:
        raise LayerError(f"expects a floating-point input, but its input is {first.dtype} (integer ids "
                         f"need an Embedding first)", code="PL404")
