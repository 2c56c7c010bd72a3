"""A fine-tuning run from ``training.lora`` and ``training.quantization``:
peft's adapters on the model (model/finetune.py), bitsandbytes' quantized
layers (memory/quantization.py), and what the memory model plans, the
adapted graph (memory/adapters.py), whole or with a long stack of equal
copies written as four (memory/short_stack.py).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Set, Tuple

from ..core.diagnostics import Finding
from ..core.record import Record
from ..model.analysis import ShapeAnalysis, analyze_shapes
from ..model.finetune import FineTune
from ..model.graph import Graph, Source
from ..model.layers.base import DTYPE_BYTES
from .adapters import TuningMemory, adapted_graph, tuning_memory
from .model import MemoryModel
from .quantization import Quantization

class Planned(Record):
    """What the memory model plans for a run: the adapted graph's ``shapes`` and ``output``, the
    per-tensor ``tuning``, and the ``fold`` of a stack written with fewer copies than the model has
    (memory/short_stack.py; None: the whole adapted graph, folded where it has a stack of equal copies)."""

    __slots__ = ("shapes", "output", "tuning", "fold")

    def __init__(self, shapes: ShapeAnalysis, output: Source, tuning: TuningMemory, fold: Optional[Any] = None
                 ) -> None:
        self.shapes = shapes
        self.output = output
        self.tuning = tuning
        self.fold = fold


class FineTuneRun(Record):
    """Everything the pipeline knows about a fine-tuning run: the adapters
    (``finetune``), the quantization, and what the memory model plans
    (``planned``).  ``shapes``, ``output`` and ``tuning`` are the whole
    adapted graph's, written out when first asked for where ``planned``
    holds a shortened stack; ``tuning``'s totals (base weights, adapters,
    quantized bytes) are the whole model's either way."""

    __slots__ = ("finetune", "quantization", "quantized", "planned", "expand", "written")

    def __init__(self, finetune: FineTune, quantization: Optional[Quantization], quantized: Tuple[int, ...],
                 planned: Planned, expand: Optional[Callable[[], Planned]] = None) -> None:
        self.finetune = finetune
        self.quantization = quantization
        self.quantized = quantized
        self.planned = planned
        self.expand = expand  # the whole adapted graph, when ``planned`` holds a shortened stack
        self.written: Optional[Planned] = None

    @property
    def full(self) -> Planned:
        if self.expand is None:
            return self.planned
        if self.written is None:
            self.written = self.expand()
        return self.written

    @property
    def shapes(self) -> ShapeAnalysis:
        return self.full.shapes

    @property
    def output(self) -> Source:
        return self.full.output

    @property
    def tuning(self) -> TuningMemory:
        return self.full.tuning

    def whole(self) -> Tuple[ShapeAnalysis, Source, TuningMemory]:
        full = self.full
        return full.shapes, full.output, full.tuning


def memory_model(run: Optional[FineTuneRun], shapes: ShapeAnalysis, output: Source, setup: Any,
                 **options: Any) -> MemoryModel:
    """The memory model of a model (``shapes``, ``output``), or of its fine-tuning run's adapted graph."""
    tuning = fold = expand = None
    if run is not None:
        shapes, output, tuning, fold = run.planned.shapes, run.planned.output, run.planned.tuning, run.planned.fold
        expand = run.whole if run.expand is not None else None
    if fold is None and shapes.equal_copies:  # a stack of equal copies: planned as three (imported only then)
        from .folding import find_fold

        fold = find_fold(shapes, output)
    return MemoryModel(shapes, setup, output=output, tuning=tuning, fold=fold, expand=expand, **options)


def plan_finetune(data: Mapping[str, Any], graph: Graph, shapes: ShapeAnalysis, lora: Any,
                  quantization_section: Optional[Mapping[str, Any]], weight_size: int,
                  base_dtype: Optional[str], *, autocast_half: Optional[str] = None, short: bool = True
                  ) -> Tuple[Optional[FineTuneRun], List[Any]]:
    """The run for ``training.lora`` (None without one); findings where peft would refuse it.
    ``autocast_half``: the half dtype of a mixed precision (DoRA keeps a half copy of a weight);
    ``short``: adapt a long stack of equal copies with four (memory/short_stack.py; the tests turn it off)."""
    from ..model.finetune import apply_lora
    from ..model.module_names import module_paths
    from .quantization import quantized_layers, read_quantization

    if lora is None:
        if quantization_section and (quantization_section.get("load_in_4bit") or
                                     quantization_section.get("load_in_8bit")):
            return None, [Finding("PL521", "a quantized model trains only through adapters: add `training.lora` "
                                           "(bitsandbytes' 4- and 8-bit weights take no gradient)",
                                  ("training", "quantization"))]
        return None, []
    paths, containers = module_paths(graph, data)
    model = data.get("transformers") if isinstance(data.get("transformers"), Mapping) else {}
    output_embeddings = model.get("output_embeddings")
    finetune, findings = apply_lora(shapes, paths, containers, lora, output_embeddings=output_embeddings,
                                    model_type=model.get("model_type"))
    warnings = [f for f in findings if f.code == "PL522"]
    if len(warnings) < len(findings):
        return None, findings
    quantization = read_quantization(quantization_section)
    quantized: Tuple[int, ...] = ()
    if quantization is not None:
        owners = [i.node.index for i in shapes.layers if i.result.params]
        tied = [i.node.index for i in shapes.layers if i.node.shares is not None]
        tied += [i.node.shares for i in shapes.layers if i.node.shares is not None]
        quantized = tuple(quantized_layers(quantization, paths, [i.node.type for i in shapes.layers], owners, tied,
                                           output_embeddings))
    from ..model.graph import MAX_NODES
    from .adapters import adapted_size

    size = adapted_size(graph, finetune, cast=weight_size == 4)
    if size > MAX_NODES:  # what the graph builder's limit holds every graph to, peft's branches included
        return None, [Finding("PL103", f"with peft's LoRA branches ({len(finetune.adapted):,} adapted layers) the "
                                       f"network has {size:,} layers, past the limit of {MAX_NODES:,}",
                              ("training", "lora", "target_modules"))]
    adapt = _Adapting(finetune, quantization, set(quantized), weight_size, base_dtype, autocast_half)
    if short and graph.repeats:
        from .short_stack import short_stack

        stack = short_stack(graph, shapes, finetune, adapt.quantized, graph.output)
        planned = adapt.short(stack) if stack is not None else None
        if planned is not None:
            whole = lambda: adapt.whole(graph, shapes)[0]  # noqa: E731 - written out on demand
            return FineTuneRun(finetune, quantization, quantized, planned, whole), warnings
    planned, problems = adapt.whole(graph, shapes)
    if planned is None:  # a branch torch could not run either (a dilated conv: lora_A has no dilation)
        detail = problems[0].message if problems else "its shapes do not analyse"
        return None, [Finding("PL521", f"a LoRA branch as peft builds it cannot run on this model: {detail}",
                              ("training", "lora", "target_modules"))]
    return FineTuneRun(finetune, quantization, quantized, planned), warnings


class _Adapting:
    """The adapted graph of one run, whole or with a shortened stack."""

    def __init__(self, finetune: FineTune, quantization: Optional[Quantization], quantized: Set[int],
                 weight_size: int, base_dtype: Optional[str], autocast_half: Optional[str]) -> None:
        self.finetune = finetune
        self.quantization = quantization
        self.quantized = quantized
        self.weight_size = weight_size
        self.base_dtype = base_dtype
        self.autocast_half = autocast_half

    def whole(self, graph: Graph, shapes: ShapeAnalysis) -> Tuple[Optional[Planned], List[Finding]]:
        finetune = self.finetune
        new_graph, position = adapted_graph(graph, shapes, finetune, cast=self.weight_size == 4)
        adapted, problems = analyze_shapes(new_graph, {})
        if adapted is None:
            return None, problems
        if finetune.settings.use_dora:
            adapted = self._with_dora(adapted, finetune, position, self.quantized)
        tuning = tuning_memory(finetune, position.__getitem__, self.quantization, self.quantized, self.weight_size,
                               self.base_dtype)
        if finetune.wrapped:
            adapted, tuning = _with_wrapped(adapted, finetune, position, tuning)
        return Planned(adapted, new_graph.output, tuning), problems

    def short(self, stack: Any) -> Optional[Planned]:
        """The adapted graph of ``stack``'s cut graph (None when it does not analyse: the whole graph then
        gives the finding)."""
        from .short_stack import composed

        cut = stack.restricted(self.finetune)
        new_graph, position = adapted_graph(stack.graph, stack.shapes, cut, cast=self.weight_size == 4)
        adapted, _ = analyze_shapes(new_graph, {})
        if adapted is None:
            return None
        if cut.settings.use_dora:
            quantized = {index for index in range(len(stack.graph.nodes)) if stack.full_index(index) in self.quantized}
            adapted = self._with_dora(adapted, cut, position, quantized)
        tuning = tuning_memory(self.finetune, composed(position, stack), self.quantization, self.quantized,
                               self.weight_size, self.base_dtype)
        return Planned(adapted, new_graph.output, tuning, stack.fold(position))

    def _with_dora(self, adapted: ShapeAnalysis, finetune: FineTune, position: Mapping[int, int],
                   quantized: Set[int]) -> ShapeAnalysis:
        return _with_dora(adapted, finetune, position, self.quantization, quantized, self.weight_size,
                          self.base_dtype, self.autocast_half)


def _with_wrapped(adapted: ShapeAnalysis, finetune: FineTune, position: Mapping[int, int],
                  tuning: TuningMemory) -> Tuple[ShapeAnalysis, TuningMemory]:
    """Adapters on a layer's parameters (peft's ParamWrapper) become that layer's trainable parameters:
    their gradients and optimizer state count; the activations of the merged weight are not modelled."""
    layers = list(adapted.layers)
    trainable = dict(tuning.trainable)
    for old, tensors in finetune.wrapped.items():
        info = layers[position[old]]
        params = dict(info.result.params)
        for tensor in tensors:
            params[tensor.name] = tensor.shape
            trainable[(position[old], tensor.name)] = True
        added = sum(t.numel for t in tensors)
        layers[position[old]] = info.replace(result=info.result.replace(params=params), params=info.params + added,
                                             trainable_params=info.trainable_params + added)
    return adapted.replace(layers=tuple(layers)), tuning.replace(trainable=trainable)


def _with_dora(adapted: ShapeAnalysis, finetune: FineTune, position: Mapping[int, int],
               quantization: Optional[Quantization], quantized: Set[int], weight_size: int,
               base_dtype: Optional[str], autocast_half: Optional[str]) -> ShapeAnalysis:
    from .dora import with_dora_tensors

    frozen: Dict[int, str] = {}  # DoRA's W.to(x.dtype) is a copy of a dequantized or narrower weight
    stored = base_dtype if base_dtype and DTYPE_BYTES.get(base_dtype, weight_size) != weight_size else None
    for old in finetune.adapted:
        if old in quantized or stored:
            frozen[position[old]] = "float32" if weight_size == 4 else "bfloat16"
    return with_dora_tensors(adapted, dropout=finetune.settings.lora_dropout > 0, autocast_half=autocast_half,
                             frozen_dtypes=frozen, biases_trained=finetune.settings.bias != "none",
                             r=finetune.settings.r,
                             trained=frozenset(position[old] for old, tensors in finetune.layer_tensors.items()
                                               if any(t.trainable for t in tensors if t.role != "adapter")))


def finetune_contributors(run: FineTuneRun) -> Tuple[Tuple[str, int], ...]:
    """The largest trainable contributions: adapters by kind, trained copies, biases."""
    from ..model.budgets import top_contributors

    totals: Dict[str, int] = {}
    for tensor in run.finetune.tensors:
        if tensor.trainable:
            kind = {"adapter": f"LoRA {tensor.name}", "copy": "modules_to_save copies"}.get(tensor.role,
                                                                                         f"base {tensor.name}")
            totals[kind] = totals.get(kind, 0) + tensor.numel
    largest = sorted(totals.items(), key=lambda item: -item[1])[:3]
    return top_contributors(largest)
