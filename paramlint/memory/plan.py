"""The storages of one training step and the layers that create, keep and free them.

``plan_forward`` walks the graph once and decides, for every layer, which
storages its forward pass allocates (outputs that are not views, the new
tensors it saves for backward, autocast's casts), which storage each value
lives in, which storages autograd keeps for backward (and until which
layer's backward), and when a storage that nobody keeps dies (after its last
consumer).  Sizes are per sample plus a fixed part, so that one plan serves
every batch size.  ``steps`` turns the plan into the step's timeline.
"""
from __future__ import annotations

import math
from typing import Dict, FrozenSet, Iterable, List, Optional, Sequence, Tuple

from ..core.record import Record
from ..model.analysis import LayerInfo, ShapeAnalysis
from ..model.graph import Frame, Node, Source
from ..model.layers import REGISTRY
from ..model.layers.base import SavedTensor, TensorSpec
from .layer_rules import (
    MODULE_TENSORS,
    MULTI_VIEWS,
    NO_GRAD_OUTPUTS,
    RESHAPES,
    WEIGHT_GRAD_ONLY_NEW,
    Layout,
    identity,
    is_contiguous,
    keeps_input,
    output_alias,
    output_layout,
    promotes_with_weight,
)
from .precision import HALF_WEIGHTS, DeviceModel, Precision, autocast_kind, dtype_bytes, widest
from .recurrent import RECURRENT, recurrent_saved

# Breakdown categories.
PARAMETERS, BUFFERS, GRADIENTS, STATE, INPUTS, ACTIVATIONS, TRANSIENT = range(7)
CATEGORIES = ("parameters", "buffers", "gradients", "optimizer_state", "inputs", "activations", "transient")
CASTING_PROMOTES = frozenset({"Concat", "Bilinear"})  # autocast casts their inputs (Add/Multiply promote inside)
CONV_TYPES = frozenset({"Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"})

ValueKey = Tuple[int, int]  # (node index, output index); inputs are (-1 - position, 0)
FLOATS = frozenset({"float32", "float16", "bfloat16", "float64"})


def _numel(spec: TensorSpec) -> int:
    return math.prod(spec.shape)


class Value:
    """A tensor of the forward pass: the storage it lives in, its dtype after
    the precision rules, whether it needs a gradient, its memory layout."""

    __slots__ = ("storage", "spec", "dtype", "requires_grad", "layout")

    def __init__(self, storage: int, spec: TensorSpec, dtype: str, requires_grad: bool, layout: Layout) -> None:
        self.storage = storage
        self.spec = spec
        self.dtype = dtype
        self.requires_grad = requires_grad
        self.layout = layout

    @property
    def contiguous(self) -> bool:
        return is_contiguous(self.layout, self.spec)


class Storages(Record):
    """Parallel lists: bytes per sample, fixed bytes, breakdown category,
    ``copies``: how many equal storages one entry stands for (a recurrent
    layer's per-step tensors), each rounded on its own, and ``owner``: the
    node being planned when the storage was made (``owner_now`` at the time;
    -1 for none), which lets memory.folding tell the copies of a repeated
    block apart."""

    __slots__ = ("per_sample", "fixed", "category", "copies", "owner", "owner_now")

    def __init__(self, per_sample: Optional[List[int]] = None, fixed: Optional[List[int]] = None,
                 category: Optional[List[int]] = None, copies: Optional[List[int]] = None,
                 owner: Optional[List[int]] = None) -> None:
        self.per_sample: List[int] = [] if per_sample is None else per_sample
        self.fixed: List[int] = [] if fixed is None else fixed
        self.category: List[int] = [] if category is None else category
        self.copies: List[int] = [1] * len(self.category) if copies is None else copies
        self.owner: List[int] = [-1] * len(self.category) if owner is None else owner
        self.owner_now = -1

    def new(self, numel: int, dtype: str, batched: bool, category: int, copies: int = 1) -> int:
        size = numel * dtype_bytes(dtype)
        self.per_sample.append(size if batched else 0)
        self.fixed.append(0 if batched else size)
        self.category.append(category)
        self.copies.append(copies)
        self.owner.append(self.owner_now)
        return len(self.category) - 1

    def new_fixed(self, size: int, category: int) -> int:
        self.per_sample.append(0)
        self.fixed.append(size)
        self.category.append(category)
        self.copies.append(1)
        self.owner.append(self.owner_now)
        return len(self.category) - 1


class LayerPlan:
    """What one layer's forward pass does to memory: ``allocs`` (a storage in
    both ``allocs`` and ``frees`` lives only during the layer), ``frees``
    (values dead after it), ``twins`` (checkpointed: what recomputation
    allocates again), ``cast_inputs`` (input index -> the dtype autocast cast
    it to), ``recorded`` (autograd records it: its output needs a gradient)."""

    __slots__ = ("allocs", "frees", "twins", "cast_inputs", "recorded")

    def __init__(self) -> None:
        self.allocs: List[int] = []
        self.frees: List[int] = []
        self.twins: List[int] = []
        self.cast_inputs: Dict[int, str] = {}
        self.recorded = False


class ForwardPlan(Record):
    __slots__ = ("storages", "values", "layers", "input_storages", "output", "pinned", "keep_until", "first_saver",
                 "cached_weights", "regions", "useful")

    # pinned: alive for the whole step: inputs, the model output
    # keep_until: saved storage -> the layer whose backward frees it
    # first_saver: saved storage -> the layer that keeps it first (per-layer figures)
    # cached_weights: autocast's weight casts, freed when the forward ends
    # regions: layer -> (first, last) layer of its checkpointed region
    # useful: the layer's output reaches the model output
    def __init__(self, storages: Storages, values: Dict[ValueKey, Value], layers: List[LayerPlan],
                 input_storages: List[int], output: ValueKey, pinned: List[int], keep_until: Dict[int, int],
                 first_saver: Dict[int, int], cached_weights: List[int], regions: Dict[int, Tuple[int, int]],
                 useful: List[bool]) -> None:
        self.storages = storages
        self.values = values
        self.layers = layers
        self.input_storages = input_storages
        self.output = output
        self.pinned = pinned
        self.keep_until = keep_until
        self.first_saver = first_saver
        self.cached_weights = cached_weights
        self.regions = regions
        self.useful = useful


def value_key(source: Source, input_names: Sequence[str]) -> ValueKey:
    if source.node is None:
        return (-1 - list(input_names).index(source.input_name), 0)
    return (source.node, source.output)


def checkpoint_regions(nodes: Sequence[Node], *, every_block: bool = False) -> Dict[int, Tuple[int, int]]:
    """Layers recomputed in backward: runs of layers under the same block use
    with ``checkpoint: true`` (the outermost such use), or one layer marked
    so; ``every_block`` treats every outermost block use as marked."""
    keys: List[Optional[Tuple[Frame, ...]]] = []
    for node in nodes:
        key = None
        for depth, frame in enumerate(node.frames):
            if getattr(frame, "checkpoint", False) or every_block:
                key = node.frames[:depth + 1]
                break
        if key is None and node.checkpoint:
            key = ((), node.index)  # type: ignore[assignment]
        keys.append(key)
    regions: Dict[int, Tuple[int, int]] = {}
    start = 0
    for index in range(1, len(nodes) + 1):
        if index == len(nodes) or keys[index] != keys[start]:
            if keys[start] is not None:
                for member in range(start, index):
                    regions[member] = (start, index - 1)
            start = index
    return regions


class _Planner:
    def __init__(self, shapes: ShapeAnalysis, precision: Precision, device: DeviceModel, training: bool,
                 checkpoint_blocks: bool = False, autocast_exempt: FrozenSet[int] = frozenset(),
                 keeps_input: FrozenSet[int] = frozenset(), grad_outputs: FrozenSet[int] = frozenset()) -> None:
        self.shapes = shapes
        self.grad_outputs = grad_outputs  # frozen layers whose output still needs a gradient (a trained bias)
        self.autocast_exempt = autocast_exempt  # layers autocast does not see (bitsandbytes' matmuls)
        self.keeps_input = keeps_input  # layers whose autograd Function holds its input (ctx.A, 8-bit)
        self.precision = precision
        self.device = device
        self.training = training
        self.storages = Storages()
        self.values: Dict[ValueKey, Value] = {}
        self.input_names = list(shapes.inputs)
        self.input_keys = {name: (-1 - position, 0) for position, name in enumerate(self.input_names)}
        self.families = {name: layer.family for name, layer in REGISTRY.items()}
        self.last_use: Dict[int, int] = {}
        self.keep_until: Dict[int, int] = {}
        self.first_saver: Dict[int, int] = {}
        self.cached: Dict[Tuple[int, str], int] = {}
        self.cached_saved: set = set()
        self.layers: List[LayerPlan] = []
        self.region_made: Dict[int, set] = {}
        self.region_twins: Dict[Tuple[int, int], int] = {}  # (region, storage kept) -> its recomputed twin
        nodes = [info.node for info in shapes.layers]
        self.regions = checkpoint_regions(nodes, every_block=checkpoint_blocks) if training else {}
        self.useful: List[bool] = []

    def half(self) -> str:
        return self.precision.half or "float32"

    def compute_dtype(self, info: LayerInfo, inputs: Sequence[Value]) -> str:
        """The float dtype the layer computes in."""
        floats = [v.dtype for v in inputs if v.spec.is_float]
        base = floats[0] if floats else self.precision.activation_dtype("float32")
        if not self.precision.autocast or info.node.index in self.autocast_exempt:
            return base
        kind = autocast_kind(info.node.type, self.device)
        if kind in HALF_WEIGHTS:
            return self.half()
        if kind == "fp32":
            return "float32"
        if kind in ("promote", "composite"):
            return widest(floats) if floats else "float32"
        return base

    # -- forward -------------------------------------------------------------------

    def run(self, output: Source) -> ForwardPlan:
        for position, (name, spec) in enumerate(self.shapes.inputs.items()):
            dtype = self.precision.activation_dtype(spec.dtype)  # bf16/fp16 models take half inputs
            storage = self.storages.new(spec.numel, dtype, spec.batched, INPUTS)
            self.values[(-1 - position, 0)] = Value(storage, spec, dtype, False, identity(spec.rank))
        input_storages = [self.values[(-1 - p, 0)].storage for p in range(len(self.input_names))]
        for info in self.shapes.layers:
            self.storages.owner_now = info.node.index
            self.layers.append(self._layer(info))
        self.storages.owner_now = -1
        out_key = value_key(output, self.input_names)
        pinned = list(input_storages) + [self.values[out_key].storage]
        if self.storages.category[pinned[-1]] == TRANSIENT:
            self.storages.category[pinned[-1]] = ACTIVATIONS  # the output, which the caller holds
        pinned_set = set(pinned)
        for storage, last in self.last_use.items():
            if storage not in self.keep_until and storage not in pinned_set and storage not in self.cached_saved \
                    and self.storages.category[storage] != PARAMETERS:
                self.layers[last].frees.append(storage)
        cached = [s for s in self.cached.values() if s not in self.cached_saved]
        return ForwardPlan(self.storages, self.values, self.layers, input_storages, out_key, pinned, self.keep_until,
                           self.first_saver, cached, self.regions, self.useful)

    def _layer(self, info: LayerInfo) -> LayerPlan:
        node, result = info.node, info.result
        index_here = node.index
        plan = LayerPlan()
        values, keys = self.values, self.input_keys
        inputs = [values[(s.node, s.output) if s.node is not None else keys[s.input_name]] for s in node.sources]
        last_use = self.last_use
        for value in inputs:
            last_use[value.storage] = index_here
        trainable = node.trainable and bool(result.params)
        needs_grad = (trainable or index_here in self.grad_outputs or any(v.requires_grad for v in inputs)) \
            and node.type not in NO_GRAD_OUTPUTS
        plan.recorded = self.training and needs_grad and self.useful[index_here]
        compute = self.compute_dtype(info, inputs)
        layer_type = node.type
        args = result.args or node.args
        out_compute = compute
        if self.precision.autocast and autocast_kind(layer_type, self.device) == "inside":
            out_compute = inputs[0].dtype  # half inside, the output in its input's dtype
        for index, spec in enumerate(result.outputs):
            dtype = spec.dtype if spec.dtype != "float32" else out_compute
            if index == 0 and promotes_with_weight(layer_type, args):
                dtype = widest([dtype, self.precision.activation_dtype("float32")])
            alias = None
            if (index == 0 or layer_type in MULTI_VIEWS) and inputs:
                alias = output_alias(layer_type, args, info.inputs, training=self.training,
                                     contiguous=layer_type not in RESHAPES or inputs[0].contiguous)
            if layer_type == "Cast":  # x.to(dtype): autocast leaves it alone; the same dtype is the input itself
                dtype = args["dtype"]
                alias = 0 if inputs[0].dtype == dtype else None
            if layer_type in MODULE_TENSORS:
                storage = self.storages.new_fixed(0, PARAMETERS)
            elif alias is not None:
                storage = inputs[alias].storage
                dtype = inputs[alias].dtype
            else:
                storage = self.storages.new(_numel(spec), dtype, spec.batched, TRANSIENT)
                plan.allocs.append(storage)
            if (index == 0 or layer_type in MULTI_VIEWS) and inputs:
                saves_output = any(saved.kind == "output" for saved in result.saved)
                layout = output_layout(layer_type, args, info.inputs, spec, inputs[0].layout,
                                       self.families[layer_type], saves_output, self.device.name)
            else:
                layout = identity(len(spec.shape) + spec.batched)
            values[(index_here, index)] = Value(storage, spec, dtype, needs_grad and dtype in FLOATS, layout)
            if last_use.get(storage, -1) < index_here:
                last_use[storage] = index_here
        if self.precision.autocast and index_here not in self.autocast_exempt:
            self._weight_casts(info, plan, inputs, trainable)
        for temporary in result.scratch:  # live only during the layer
            storage = self.storages.new(temporary.numel, self._new_dtype(temporary, compute), temporary.per_sample,
                                        TRANSIENT)
            plan.allocs.append(storage)
            plan.frees.append(storage)
        if plan.recorded:
            self._saved(info, plan, inputs, compute, trainable)
        elif inputs and self.precision.autocast:
            self._input_casts(info, plan, inputs, compute, saved_indices=())
        region = self.regions.get(node.index)
        if region is not None:
            made = self.region_made.setdefault(region[0], set())
            made.update(self.values[(node.index, i)].storage for i in range(len(result.outputs)))
        return plan

    def _keep(self, storage: int, layer: int) -> None:
        if self.storages.category[storage] == TRANSIENT:
            self.storages.category[storage] = ACTIVATIONS
        self.keep_until[storage] = min(self.keep_until.get(storage, layer), layer)
        self.first_saver.setdefault(storage, layer)

    def _saved(self, info: LayerInfo, plan: LayerPlan, inputs: Sequence[Value], compute: str,
               trainable: bool) -> None:
        node = info.node
        region = self.regions.get(node.index)
        kept: List[int] = []
        saved_inputs = []
        listed = info.result.saved
        if node.type in RECURRENT:
            listed = recurrent_saved(node.type, info.result.args, info.inputs[0], self.device.name)
        for position, saved in enumerate(listed):
            if saved.numel == 0 or (saved.half_only and compute == "float32"):
                continue
            if saved.kind == "new" and node.type in WEIGHT_GRAD_ONLY_NEW and not trainable and saved.per_sample \
                    and saved.numel == info.inputs[0].numel:
                continue  # the normalized input, kept only for the weight's gradient
            if saved.kind == "input" and saved.index < len(inputs):
                if not keeps_input(node.type, trainable, len(inputs) != 2 or inputs[1 - saved.index].requires_grad):
                    continue
                if saved.upcast and inputs[saved.index].dtype != "float32":  # its float32 copy instead
                    storage = self.storages.new(saved.numel, "float32", saved.per_sample, ACTIVATIONS)
                    plan.allocs.append(storage)
                    kept.append(storage)
                    continue
                saved_inputs.append(saved.index)
                continue
            if saved.kind == "output" and saved.index < len(info.result.outputs):
                kept.append(self.values[(node.index, saved.index)].storage)
                continue
            storage = self.storages.new(saved.numel, self._new_dtype(saved, compute), saved.per_sample, ACTIVATIONS,
                                        saved.copies)
            if node.type == "EmbeddingBag" and position == 4:  # offset2bag has one more entry per batch
                self.storages.fixed[storage] += 8
            plan.allocs.append(storage)
            kept.append(storage)
        kept += self._input_casts(info, plan, inputs, compute, saved_indices=saved_inputs)
        if node.index in self.keeps_input and inputs:
            kept.append(inputs[0].storage)
        kept += self._saved_weight_casts(info, plan, inputs, checkpointed=region is not None)
        if region is None:
            for storage in kept:
                self._keep(storage, node.index)
            return
        # Checkpointed: the forward keeps only the region's inputs; backward recomputes the rest.
        first, _ = region
        made = self.region_made.setdefault(first, set())
        external = {v.storage for v in inputs if v.storage not in made}
        for storage in dict.fromkeys(kept):
            if storage in external:
                continue
            if storage in plan.allocs and self.storages.category[storage] == ACTIVATIONS:
                plan.frees.append(storage)  # made, then dropped by the checkpoint
            twin = self.region_twins.get((first, storage))
            if twin is None:  # recomputed once, however many layers of the region keep it
                twin = self.storages.new_fixed(self.storages.fixed[storage], ACTIVATIONS)
                self.storages.per_sample[twin] = self.storages.per_sample[storage]
                self.storages.copies[twin] = self.storages.copies[storage]
                plan.twins.append(twin)
                self.region_twins[(first, storage)] = twin
            self._keep(twin, node.index)
        for storage in external:
            self._keep(storage, first)

    def _new_dtype(self, saved: SavedTensor, compute: str) -> str:
        if saved.dtype == "bool":
            return "bool" if self.device.bool_masks else compute
        if saved.stats or saved.dtype not in ("float32", "float16", "bfloat16"):
            return saved.dtype
        return compute

    def _input_casts(self, info: LayerInfo, plan: LayerPlan, inputs: Sequence[Value], compute: str,
                     saved_indices: Sequence[int]) -> List[int]:
        """Inputs the layer keeps: their own storage, or the copy a cast or a
        reshape makes (autocast into half or float32; a permuted input that
        Linear must copy).  Casts nobody keeps live only during the layer."""
        kept = []
        kind = autocast_kind(info.node.type, self.device) if self.precision.autocast and \
            info.node.index not in self.autocast_exempt else "follow"
        casting = kind in ("lower", "fp32") or (kind == "promote" and info.node.type in CASTING_PROMOTES)
        for index, value in enumerate(inputs):
            cast = casting and value.spec.is_float and value.dtype != compute
            copy = info.node.type == "Linear" and not value.contiguous and len(value.spec.shape) > 1
            if not (cast or copy):
                if index in saved_indices:
                    kept.append(value.storage)
                continue
            if cast:
                plan.cast_inputs[index] = compute
            storage = self.storages.new(value.spec.numel, compute if cast else value.dtype, value.spec.batched,
                                        ACTIVATIONS if index in saved_indices else TRANSIENT)
            if index in saved_indices:
                plan.allocs.append(storage)
                kept.append(storage)
            else:
                plan.allocs.append(storage)
                plan.frees.append(storage)
        return kept

    def _weight_casts(self, info: LayerInfo, plan: LayerPlan, inputs: Sequence[Value], trainable: bool) -> None:
        """Autocast's half copies of the weights of a layer that runs in half:
        cached until the forward pass ends (trainable weights), or made for
        this call only (frozen ones)."""
        if autocast_kind(info.node.type, self.device) not in HALF_WEIGHTS:
            return
        node = info.node
        for name, shape in info.result.params.items():
            key = (node.shares if node.shares is not None and name in self._owner_params(node) else node.index, name)
            numel = math.prod(shape)
            if trainable:
                if key not in self.cached:
                    self.cached[key] = self.storages.new(numel, self.half(), False, TRANSIENT)
                    plan.allocs.append(self.cached[key])
            else:
                copy = self.storages.new(numel, self.half(), False, TRANSIENT)
                plan.allocs.append(copy)
                plan.frees.append(copy)

    def _saved_weight_casts(self, info: LayerInfo, plan: LayerPlan, inputs: Sequence[Value], *,
                            checkpointed: bool) -> List[int]:
        """Half weight copies kept for backward: a convolution keeps its weight;
        a Linear (and the other matmul layers) keeps it when the input needs a gradient."""
        if not self.precision.autocast or autocast_kind(info.node.type, self.device) not in HALF_WEIGHTS \
                or info.node.index in self.autocast_exempt:
            return []
        node = info.node
        keeps = node.type in CONV_TYPES or any(v.requires_grad for v in inputs)
        if not keeps:
            return []
        kept = []
        for name, shape in info.result.params.items():
            if len(shape) < 2:
                continue
            key = (node.shares if node.shares is not None and name in self._owner_params(node) else node.index, name)
            storage = self.cached.get(key)
            if storage is None or checkpointed:  # frozen, or recomputed: a copy of its own
                storage = self.storages.new(math.prod(shape), self.half(), False, ACTIVATIONS)
                plan.allocs.append(storage)
            else:
                self.storages.category[storage] = ACTIVATIONS
                self.cached_saved.add(storage)
            kept.append(storage)
        return kept

    def _owner_params(self, node: Node) -> Dict[str, Tuple[int, ...]]:
        owner = self.shapes.layers[node.shares] if node.shares is not None else None
        return owner.result.params if owner is not None else {}


def plan_forward(shapes: ShapeAnalysis, output: Source, precision: Precision, device: DeviceModel, *,
                 training: bool = True, checkpoint_blocks: bool = False,
                 autocast_exempt: Iterable[int] = (), keeps_input: Iterable[int] = (),
                 grad_outputs: Iterable[int] = ()) -> ForwardPlan:
    """The forward half of the plan (see the module docstring).  ``autocast_exempt``:
    layers that run in their input's dtype whatever autocast says (bitsandbytes'
    quantized Linears: a custom autograd Function that saves no tensor through
    autograd); ``keeps_input``: of those, the ones whose Function holds its
    input for backward as an attribute (the 8-bit ``ctx.A``); ``grad_outputs``: frozen
    layers with a trained parameter besides the weight (peft's ``bias``), whose output
    needs a gradient."""
    planner = _Planner(shapes, precision, device, training, checkpoint_blocks, frozenset(autocast_exempt),
                       frozenset(keeps_input), frozenset(grad_outputs))
    planner.useful = useful_layers(shapes, output)
    return planner.run(output)


def useful_layers(shapes: ShapeAnalysis, output: Source) -> List[bool]:
    useful = [False] * len(shapes.layers)
    if output.node is not None:
        useful[output.node] = True
    for info in reversed(shapes.layers):
        if useful[info.node.index]:
            for source in info.node.sources:
                if source.node is not None:
                    useful[source.node] = True
    return useful
