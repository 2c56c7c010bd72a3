"""A fine-tuning run as the memory model sees it: the graph with peft's
LoRA branches written out, and what differs per parameter tensor.

peft's ``lora.Linear.forward`` is ``result = base_layer(x)`` then
``result = result + lora_B(lora_A(dropout(x))) * scaling``; the branch is
written out as ordinary layers after the adapted one (Dropout when
``lora_dropout > 0``, Linear/ConvNd ``lora_A`` and ``lora_B`` without bias,
Scale, Add), and every consumer of the adapted layer reads the Add.  So the
simulator sees what autograd saves: the dropout mask, lora_A's input,
lora_B's input, and nothing for the frozen base layer's weight.  An adapted
Embedding is ``embedding(x, A.T) @ B.T``: an Embedding of r values and a
Linear.  (DoRA's tensors go on its ``lora_add``: memory/dora.py.)

Per parameter tensor: a quantized weight takes bitsandbytes' bytes
(memory/quantization.py) and its layer dequantizes a copy in the compute
dtype for a moment in forward and in backward; frozen base weights take
``training.base_dtype`` (the dtype the pretrained weights are loaded in)
when given; a ``modules_to_save`` layer runs its trained copy and keeps the
frozen original.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Mapping, Optional, Set, Tuple

from ..core.record import Record
from ..model.analysis import ShapeAnalysis
from ..model.finetune import FineTune
from ..model.graph import Graph, Node, Source
from ..model.layers.base import DTYPE_BYTES
from .quantization import Quantization, weight_bytes

ParamKey = Tuple[int, str]


class TuningMemory(Record):
    """Per-tensor differences for the training timeline (keys: (node, param name) of the adapted graph)."""

    __slots__ = ("param_bytes", "trainable", "extra_frozen", "dequantized", "adapter_bytes", "quantized_bytes",
                 "quantization_stats", "base_bytes", "param_parts", "int8_layers")

    # base_bytes: the model's own weights (quantized ones packed), trained copies included; before rounding
    # param_parts: a quantized weight's tensors (packed values, absmax, code, ...), each its own allocation
    def __init__(self, param_bytes: Dict[ParamKey, int], trainable: Dict[ParamKey, bool], extra_frozen: List[int],
                 dequantized: Dict[int, int], adapter_bytes: int = 0, quantized_bytes: int = 0,
                 quantization_stats: int = 0, base_bytes: int = 0,
                 param_parts: Optional[Dict[ParamKey, Tuple[int, ...]]] = None,
                 int8_layers: Tuple[int, ...] = ()) -> None:
        self.param_bytes = param_bytes
        self.trainable = trainable
        self.extra_frozen = extra_frozen
        self.dequantized = dequantized
        self.adapter_bytes = adapter_bytes
        self.quantized_bytes = quantized_bytes
        self.quantization_stats = quantization_stats
        self.base_bytes = base_bytes
        self.param_parts: Dict[ParamKey, Tuple[int, ...]] = {} if param_parts is None else param_parts
        self.int8_layers = int8_layers  # 8-bit layers: bitsandbytes' matmul holds the input (ctx.A) for backward

    def grad_outputs(self) -> Tuple[int, ...]:
        """Layers with some trained parameter (a bias unfrozen by peft's ``bias``): their outputs need a
        gradient even where the layer itself (its weight) is frozen."""
        return tuple(sorted({layer for (layer, _), trained in self.trainable.items() if trained}))

    def renumbered(self, index: Callable[[int], Optional[int]]) -> "TuningMemory":
        """The same run on a graph whose nodes ``index`` renumbers (None: a node it leaves out)."""
        def keys(table: Mapping[ParamKey, Any]) -> Dict[ParamKey, Any]:
            moved = ((index(node), name, value) for (node, name), value in table.items())
            return {(node, name): value for node, name, value in moved if node is not None}

        dequantized = {index(node): size for node, size in self.dequantized.items()}
        dequantized.pop(None, None)  # type: ignore[call-overload]
        int8 = tuple(moved for moved in map(index, self.int8_layers) if moved is not None)
        return self.replace(param_bytes=keys(self.param_bytes), trainable=keys(self.trainable),
                            dequantized=dequantized, param_parts=keys(self.param_parts), int8_layers=int8)


def _adapter_layers(node: Node, info_args: Mapping[str, Any], weight: Tuple[int, ...], r: int,
                    dropout: float, factor: float, cast: bool, dora: bool = False) -> List[Tuple[str, Dict[str, Any]]]:
    """(suffix, entry) of the layers peft's forward adds after ``node``; ``from`` is filled in later."""
    layers: List[Tuple[str, Dict[str, Any]]] = []
    if cast and node.type != "Embedding":  # _cast_input_dtype: x.to(lora_A.weight.dtype), float32
        layers.append(("cast_input", {"type": "Cast", "dtype": "float32"}))
    if node.type == "Embedding":
        if dora:  # the moment DoRA computes its weight norm (memory/dora.py)
            layers.append(("dora_weight_norm", {"type": "Identity"}))
        layers.append(("lora_embedding_A", {"type": "Embedding", "num_embeddings": weight[0], "embedding_dim": r}))
        layers.append(("lora_embedding_B", {"type": "Linear", "out_features": weight[1], "bias": False}))
    else:
        if dropout > 0:
            layers.append(("lora_dropout", {"type": "Dropout", "p": dropout}))
        if dora:  # the moment DoRA computes its weight norm (memory/dora.py)
            layers.append(("dora_weight_norm", {"type": "Identity"}))
        if node.type == "Linear":
            layers.append(("lora_A", {"type": "Linear", "out_features": r, "bias": False}))
            layers.append(("lora_B", {"type": "Linear", "out_features": weight[0], "bias": False}))
        else:
            kernel = list(weight[2:])
            layers.append(("lora_A", {"type": node.type, "out_channels": r, "kernel_size": kernel,
                                      "stride": info_args.get("stride", 1), "padding": info_args.get("padding", 0),
                                      "bias": False}))
            layers.append(("lora_B", {"type": node.type, "out_channels": weight[0], "kernel_size": [1] * len(kernel),
                                      "groups": info_args.get("groups", 1), "bias": False}))
    if not dora:  # DoRA scales inside its lora_add (memory/dora.py)
        layers.append(("scale", {"type": "Scale", "factor": factor}))
    return layers


def _base_result_args(layer_type: str, args: Mapping[str, Any], weight: Tuple[int, ...]) -> Dict[str, Any]:
    """The arguments of DoRA's recomputed base output (dropout): the base layer's, without its bias."""
    if layer_type == "Linear":
        return {"out_features": weight[0], "bias": False}
    kept = {k: args[k] for k in ("stride", "padding", "dilation", "groups", "padding_mode") if k in args}
    return {"out_channels": weight[0], "kernel_size": list(weight[2:]), **kept, "bias": False}


def _base_result(nodes: List[Node], node: Node, args: Mapping[str, Any], weight: Tuple[int, ...], dropped: int,
                 base: int) -> int:
    """DoRA with dropout recomputes the base output from the dropped input without the bias:
    ``F.linear(dropout(x), W)`` after lora_B, ``conv_fn(dropout(x), W)`` before lora_A (peft's order)."""
    nodes.append(Node(len(nodes), node.type, _base_result_args(node.type, args, weight), (Source(dropped),),
                      node.config_path, f"{node.label}.dora_base_result", node.frames, False, shares=base))
    return len(nodes) - 1


def adapted_size(graph: Graph, finetune: FineTune, *, cast: bool = True) -> int:
    """The number of nodes :func:`adapted_graph` writes, counted without writing them."""
    settings = finetune.settings
    per_type: Dict[str, int] = {}
    total = len(graph.nodes)
    for index in finetune.adapted:
        node_type = graph.nodes[index].type
        if node_type not in per_type:
            branch = _adapter_layers(graph.nodes[index], {}, (1, 1, 1), settings.r, settings.lora_dropout, 1.0,
                                     cast, settings.use_dora)
            dora_base = settings.use_dora and node_type != "Embedding" and settings.lora_dropout > 0
            per_type[node_type] = len(branch) + 1 + dora_base  # the branch, its Add (and DoRA's base result)
        total += per_type[node_type]
    return total


def adapted_graph(graph: Graph, shapes: ShapeAnalysis, finetune: FineTune, *,
                  cast: bool = True) -> Tuple[Graph, Dict[int, int]]:
    """The graph with each LoRA branch after its layer; returns it and old index -> new index.
    ``cast``: the branch's input is cast to float32, the adapters' dtype (not
    under a pure-half precision, where paramlint keeps every weight in half)."""
    settings = finetune.settings
    factor = settings.lora_alpha / settings.r
    nodes: List[Node] = []
    renumber: Dict[int, int] = {}   # old node -> the node its consumers read (the Add)
    position: Dict[int, int] = {}   # old node -> its own new index
    kinds: Dict[int, Tuple[bool, bool]] = {}  # old node -> (adapted, trained): what makes a copy its predecessor
    branches: Dict[Tuple[Any, ...], List[Tuple[str, str, Dict[str, Any]]]] = {}  # the copies share their branches
    untied = finetune.untied_copies()  # a tied head's own trained copy: a parameter of its own

    def remap(source: Source) -> Source:
        return source if source.node is None else Source(renumber[source.node], source.output, source.input_name)

    for node in graph.nodes:
        info = shapes.layers[node.index]
        sources = tuple(remap(s) for s in node.sources)
        shares = position[node.shares] if node.shares is not None and node.index not in untied else None
        own = [t for t in finetune.layer_tensors[node.index] if t.role != "adapter"]
        main = next((t for t in own if t.name == "weight"), own[0] if own else None)
        trained = node.index in finetune.copies or (main is not None and main.trainable)
        base = Node(len(nodes), node.type, node.args, sources, node.config_path, node.label, node.frames, trained,
                    shares, node.checkpoint)
        nodes.append(base)
        position[node.index] = renumber[node.index] = base.index
        adapted = node.index in finetune.adapted
        kinds[node.index] = (adapted, trained)
        if not adapted:
            continue
        previous = sources[0]
        args = info.result.args or node.args
        weight = tuple(info.result.params["weight"])
        key = (node.type, id(args), weight)
        branch = branches.get(key)
        if branch is None:
            branch = branches[key] = [
                (suffix, entry["type"], {k: v for k, v in entry.items() if k != "type"})
                for suffix, entry in _adapter_layers(node, args, weight, settings.r, settings.lora_dropout, factor,
                                                     cast, settings.use_dora)]
        dropped = None
        recomputed: Optional[int] = None
        for suffix, layer_type, layer_args in branch:
            nodes.append(Node(len(nodes), layer_type, layer_args, (previous,), node.config_path,
                              f"{node.label}.{suffix}", node.frames, True))
            previous = Source(len(nodes) - 1)
            dropped = previous.node if suffix == "lora_dropout" else dropped
            if suffix == "dora_weight_norm" and dropped is not None and node.type != "Linear":
                recomputed = _base_result(nodes, node, args, weight, dropped, base.index)  # before lora_A
        if settings.use_dora and node.type == "Linear" and dropped is not None:
            recomputed = _base_result(nodes, node, args, weight, dropped, base.index)  # after lora_B
        added = (Source(base.index), previous) + ((Source(recomputed),) if recomputed is not None else ())
        nodes.append(Node(len(nodes), "Add", {}, added, node.config_path,
                          f"{node.label}.lora_add", node.frames, True))
        renumber[node.index] = len(nodes) - 1
    output = remap(graph.output)
    repeats = _adapted_repeats(graph, position, len(nodes), kinds)
    return graph.replace(nodes=tuple(nodes), output=output, repeats=repeats), position


def _adapted_repeats(graph: Graph, position: Mapping[int, int], total: int,
                     kinds: Mapping[int, Tuple[bool, bool]]) -> Tuple[Any, ...]:
    """The graph's repeats in the adapted graph: kept where every copy still has the same number of nodes.
    A cloned copy (each the copy before again) stays cloned where its layers are adapted and trained as
    the copy before's: its branches are then that copy's again, one copy along."""
    kept = []
    for repeat in graph.repeats:
        end = repeat.start + repeat.count * repeat.size
        starts = [position[repeat.start + copy * repeat.size] for copy in range(repeat.count)]
        starts.append(position[end] if end < len(graph.nodes) else total)
        sizes = {after - before for before, after in zip(starts, starts[1:])}
        if len(sizes) != 1:
            continue
        cloned = repeat.cloned if repeat.cloned and cloned_copies_alike(repeat, kinds.__getitem__) else 0
        kept.append(repeat.replace(start=starts[0], size=sizes.pop(), cloned=cloned))
    return tuple(kept)


def _tied_adapter_keys(finetune: FineTune, position: Callable[[int], Optional[int]],
                       cast: bool) -> Dict[ParamKey, int]:
    """The adapted graph's keys of the adapters that are views of other adapters' storage, and their sizes."""
    settings = finetune.settings
    keys: Dict[ParamKey, int] = {}
    for old, tensors in finetune.adapted.items():
        new = position(old)
        if new is None or not any(t.view_of is not None for t in tensors):
            continue
        linear = Node(0, "Linear", {}, (), (), "")
        branch = [suffix for suffix, _ in _adapter_layers(linear, {}, (1, 1), settings.r, settings.lora_dropout, 1.0,
                                                          cast, settings.use_dora)]
        for tensor in tensors:
            if tensor.view_of is not None:
                keys[(new + 1 + branch.index(tensor.name), "weight")] = tensor.numel  # type: ignore[index]
    return keys


def cloned_copies_alike(repeat: Any, kind: Callable[[int], Any]) -> bool:
    """Whether every copy of ``repeat`` from the first cloned one on has, node for node, the ``kind`` of
    the copy before it (its adaptation, training, quantization: what makes its branches that copy's)."""
    first = repeat.start + (repeat.cloned - 1) * repeat.size  # the copy the cloned ones follow
    pattern = [kind(first + local) for local in range(repeat.size)]
    return all(kind(first + copy * repeat.size + local) == expected
               for copy in range(1, repeat.count - repeat.cloned + 1) for local, expected in enumerate(pattern))


def tuning_memory(finetune: FineTune, position: Callable[[int], Optional[int]],
                  quantization: Optional[Quantization], quantized: Set[int], weight_size: int,
                  base_dtype: Optional[str]) -> TuningMemory:
    """Bytes and trainability per tensor of the adapted graph (``position``: base node -> adapted node;
    None for a node the adapted graph leaves out, a copy of a shortened stack: its bytes count in the
    totals, it has no entry of its own)."""
    param_bytes: Dict[ParamKey, int] = {}
    trainable: Dict[ParamKey, bool] = {}
    dequantized: Dict[int, int] = {}
    param_parts: Dict[ParamKey, Tuple[int, ...]] = {}
    frozen_size = DTYPE_BYTES.get(base_dtype, weight_size) if base_dtype else weight_size
    quantized_total = stats = base = frozen = 0
    seen: Set[int] = set()
    untied = finetune.untied_copies()
    for old, tensors in finetune.layer_tensors.items():
        new = position(old)
        for tensor in tensors:
            if tensor.role == "adapter" or (id(tensor) in seen and old not in untied):
                continue
            seen.add(id(tensor))
            key = (new, tensor.name)
            # a module's trained copy stands for its parameters (a tied copy, ensure_weight_tying: its weight)
            trained = tensor.trainable or finetune.copy_of(old, tensor.name) is not None
            if new is not None:
                trainable[key] = trained  # type: ignore[index]
            if trained:
                base += tensor.numel * weight_size
                continue
            if old in quantized and tensor.name == "weight" and quantization is not None:
                parts = weight_bytes(quantization, tensor.shape)
                size = sum(parts.values())
                quantized_total += parts["packed"]
                stats += size - parts["packed"]
                if new is not None:
                    param_parts[key] = tuple(parts.values())  # type: ignore[index]
                    compute = "float16" if quantization.bits == 8 else quantization.compute_dtype
                    dequantized[new] = math.prod(tensor.shape) * DTYPE_BYTES.get(compute, 4)
            else:
                size = tensor.numel * frozen_size
            frozen += size
            if new is not None:
                param_bytes[key] = size  # type: ignore[index]
    extra = []
    originals: Set[int] = set()
    for old in finetune.copies:
        # the frozen original stays (the copy, trained, is the layer's own parameters), once per tensor; an
        # untied head's shared original is its owner's parameter
        for t in finetune.layer_tensors[old]:
            if t.role == "adapter" or id(t) in originals or finetune.copy_of(old, t.name) is None or \
                    (old in untied and t.layer != old):
                continue
            originals.add(id(t))
            extra.append(t.numel * frozen_size)
    views = _tied_adapter_keys(finetune, position, weight_size == 4)
    param_bytes.update((key, 0) for key in views)  # ensure_weight_tying: views of the embedding's adapters
    adapter_bytes = (finetune.adapter_params - sum(views.values())) * weight_size
    base += frozen - stats + sum(extra)
    int8 = tuple(dequantized) if quantization is not None and quantization.bits == 8 else ()
    return TuningMemory(param_bytes, trainable, extra, dequantized, adapter_bytes, quantized_total, stats, base,
                        param_parts, int8)
