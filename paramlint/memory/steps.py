"""The timeline of one steady-state training step, from the forward plan.

A step is ``(frees_before, allocs, frees_after, phase, layer)``: the
simulator frees, allocates, takes the peak, then frees again.  The timeline
follows eager PyTorch: ``zero_grad(set_to_none=True)``; the forward pass
(``plan``); the loss; backward in reverse layer order (torch's
autograd engine runs nodes by decreasing sequence number, which is the
reverse of the forward order), where each layer allocates the gradients of
its inputs and parameters and then releases the gradients it received and
the saved tensors it was the last to need; then ``optimizer.step()`` with its
temporaries.  Gradients that two consumers send to one value are summed
into a new tensor after the second consumer has released its own (torch's
InputBuffer, measured), and a residual connection keeps the gradient it
forwarded alive across its block.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ..core.record import Record
from ..model.analysis import ShapeAnalysis
from ..model.training import (
    OPTIMIZERS,
    TrainingSetup,
    is_paged,
    optimizer_impl,
    shared_state_bytes,
    state_tensor_bytes,
    step_temporaries,
)
from .dora_backward import dora_backward, is_dora_add
from .layer_rules import backward_temporaries, gradient_is_view
from .plan import (
    ACTIVATIONS,
    BUFFERS,
    GRADIENTS,
    INPUTS,
    PARAMETERS,
    STATE,
    TRANSIENT,
    ForwardPlan,
    Storages,
    Value,
    value_key,
)
from .precision import HALF_WEIGHTS, DeviceModel, Precision, autocast_kind, dtype_bytes

Step = Tuple[Tuple[int, ...], Tuple[int, ...], Tuple[int, ...], str, int]

# Losses: (target dtype, target is the output's shape, what the loss keeps
# for backward beyond its inputs as a multiple of the output, a 0-d weight).
LOSSES: Dict[str, Tuple[str, bool, int, bool]] = {
    "CrossEntropyLoss": ("int64", False, 1, True),   # log_softmax's output; nll_loss's total_weight
    "NLLLoss": ("int64", False, 0, True),
    "MSELoss": ("float32", True, 0, False),
    "L1Loss": ("float32", True, 0, False),
    "SmoothL1Loss": ("float32", True, 0, False),
    "HuberLoss": ("float32", True, 0, False),
    "BCEWithLogitsLoss": ("float32", True, 0, False),
    "KLDivLoss": ("float32", True, 0, False),
}


class Timeline(Record):
    __slots__ = ("storages", "steps", "persistent", "layer_saved", "grads")

    # persistent: alive from the start of the step
    # layer_saved: layer -> storages it keeps first
    # grads: the parameters' gradients the optimizer steps on (its temporaries scale with them)
    def __init__(self, storages: Storages, steps: List[Step], persistent: List[int],
                 layer_saved: Optional[Dict[int, List[int]]] = None, grads: Optional[List[int]] = None) -> None:
        self.storages = storages
        self.steps = steps
        self.persistent = persistent
        self.layer_saved: Dict[int, List[int]] = {} if layer_saved is None else layer_saved
        self.grads: List[int] = [] if grads is None else grads


class ParamTensor(Record):
    __slots__ = ("key", "numel", "trainable")

    def __init__(self, key: Tuple[int, str], numel: int, trainable: bool) -> None:
        self.key = key
        self.numel = numel
        self.trainable = trainable


def param_tensors(shapes: ShapeAnalysis) -> List[ParamTensor]:
    """Every parameter tensor once (tied ones at their owner)."""
    tensors = []
    for info in shapes.layers:
        node = info.node
        owner = shapes.layers[node.shares].result.params if node.shares is not None else {}
        for name, shape in info.result.params.items():
            if name in owner:
                continue
            tensors.append(ParamTensor((node.index, name), math.prod(shape), node.trainable))
    return tensors


def class_count(spec_shape: Sequence[int]) -> int:
    """Classes of a cross-entropy over this output: the last dim of a [L, C]
    sequence, the first of [C, d1, ...], the only one of [C]."""
    if len(spec_shape) == 2:
        return spec_shape[-1]
    return spec_shape[0] if spec_shape else 1


class _Emitter:
    def __init__(self, plan: ForwardPlan, shapes: ShapeAnalysis, setup: TrainingSetup, precision: Precision,
                 device: DeviceModel, tuning: Optional[Any] = None) -> None:
        self.plan = plan
        self.shapes = shapes
        self.setup = setup
        self.precision = precision
        self.device = device
        self.storages = plan.storages
        self.steps: List[Step] = []
        self.shards = setup.devices if setup.sharding != "none" else 1
        self.refs: Dict[int, int] = {}
        self.buffers: Dict[Tuple[int, int], int] = {}
        self.grads: Dict[Tuple[int, str], int] = {}
        self.pending: List[Tuple[Tuple[int, str], int]] = []
        self.tuning = tuning  # memory.adapters.TuningMemory: per-tensor bytes and trainability
        self.params = param_tensors(shapes)
        if tuning is not None:
            self.params = [p.replace(trainable=tuning.trainable.get(p.key, p.trainable)) for p in self.params]
        self.input_names = list(shapes.inputs)
        self.param_numel = {p.key: p.numel for p in self.params}
        self.deferred: Dict[int, List[Callable[[int], None]]] = {}  # layer -> what runs after its backward

    def step(self, allocs: Sequence[int] = (), frees: Sequence[int] = (), phase: str = "", layer: int = -1,
             before: Sequence[int] = ()) -> None:
        self.steps.append((tuple(before), tuple(allocs), tuple(frees), phase, layer))

    def sharded(self, size: int, stages: Tuple[str, ...]) -> int:
        return -(-size // self.shards) if self.setup.sharding in stages else size

    # -- what exists before the step -----------------------------------------------

    def persistent(self) -> List[int]:
        storages = self.storages
        alive = list(self.plan.input_storages)
        weight = self.precision.weight_bytes
        impl = optimizer_impl(self.setup, self.device.default_impl)
        zero3 = ("zero3",)
        trainable_shapes = []
        overrides = self.tuning.param_bytes if self.tuning is not None else {}
        parts = self.tuning.param_parts if self.tuning is not None else {}
        for tensor in self.params:
            storages.owner_now = tensor.key[0]
            for size in parts.get(tensor.key) or (overrides.get(tensor.key, tensor.numel * weight),):
                alive.append(storages.new_fixed(self.sharded(size, zero3), PARAMETERS))
            if not tensor.trainable:
                continue
            shape = (tensor.numel,) if tensor.numel else (0,)
            trainable_shapes.append(shape)
            for size in state_tensor_bytes(self.setup, shape, weight) \
                    if self.setup.optimizer not in ("Adafactor",) else self._adafactor_state(tensor):
                if self.device.name == "cuda" and is_paged(self.setup, shape, size):
                    continue  # CUDA managed memory, outside the allocator
                alive.append(storages.new_fixed(self.sharded(size, ("zero1", "zero2", "zero3")), STATE))
            if impl == "fused" or self.device.name == "cpu":  # 0-d state lives on the CPU otherwise
                alive += [storages.new_fixed(4, STATE) for _ in range(OPTIMIZERS[self.setup.optimizer].step_scalar)]
        storages.owner_now = -1
        alive += [storages.new_fixed(size, STATE) for size in shared_state_bytes(self.setup, trainable_shapes)]
        if self.tuning is not None:  # modules_to_save: the frozen originals
            alive += [storages.new_fixed(size, PARAMETERS) for size in self.tuning.extra_frozen]
        for info in self.shapes.layers:
            storages.owner_now = info.node.index
            for shape, dtype in info.result.buffers.values():
                buffer_dtype = self.precision.activation_dtype(dtype) if dtype == "float32" else dtype
                alive.append(storages.new_fixed(math.prod(shape) * dtype_bytes(buffer_dtype), BUFFERS))
        storages.owner_now = -1
        return alive

    def _adafactor_state(self, tensor: "ParamTensor") -> List[int]:
        info = self.shapes.layers[tensor.key[0]]
        shape = info.result.params[tensor.key[1]]
        return state_tensor_bytes(self.setup, tuple(shape), self.precision.weight_bytes)

    # -- forward and loss ------------------------------------------------------------

    def forward(self) -> None:
        for index, layer in enumerate(self.plan.layers):
            self.storages.owner_now = index
            gathered = self._gathered(index)
            self.step(layer.allocs + gathered, layer.frees + gathered, "forward", index)
        self.storages.owner_now = -1

    def _gathered(self, index: int) -> List[int]:
        """ZeRO-3 gathers a layer's full parameters around its forward and its backward."""
        if self.tuning is not None and index in self.tuning.dequantized:  # bitsandbytes' dequantized weight
            return [self.storages.new_fixed(self.tuning.dequantized[index], TRANSIENT)]
        if self.setup.sharding != "zero3" or self.shards == 1:
            return []
        numel = sum(math.prod(shape) for shape in self.shapes.layers[index].result.params.values())
        return [self.storages.new_fixed(numel * self.precision.weight_bytes, TRANSIENT)] if numel else []

    def loss(self) -> Optional[int]:
        """The loss's forward; returns the gradient of the model output it starts backward with."""
        out = self.plan.values[self.plan.output]
        spec = out.spec
        target_dtype, same_shape, keeps, weight = LOSSES.get(self.setup.loss, LOSSES["CrossEntropyLoss"])
        target_numel = spec.numel if same_shape else spec.numel // max(class_count(spec.shape), 1)
        target = self.storages.new(target_numel, target_dtype, spec.batched, INPUTS)
        self.plan.input_storages.append(target)
        loss_dtype = "float32" if self.precision.autocast else out.dtype  # losses autocast to fp32 on both devices
        cast = None
        if loss_dtype != out.dtype and out.spec.is_float:
            cast = self.storages.new(spec.numel, loss_dtype, spec.batched, TRANSIENT)
        kept = [self.storages.new(spec.numel, loss_dtype, spec.batched, ACTIVATIONS) for _ in range(keeps)]
        scalar = self.storages.new_fixed(4, ACTIVATIONS)
        total_weight = [self.storages.new_fixed(4, ACTIVATIONS)] if weight else []
        allocs = ([cast] if cast is not None else []) + kept + [scalar] + total_weight
        self.step(allocs, [cast] if cast is not None and cast not in kept else [], "loss", -1)
        self.step((), self.plan.cached_weights, "loss", -1)  # autocast's cache ends with the forward
        # backward of the loss
        ones = self.storages.new_fixed(4, TRANSIENT)
        grad_kept = [self.storages.new(spec.numel, loss_dtype, spec.batched, TRANSIENT) for _ in kept]
        self.step([ones] + grad_kept, [ones], "backward", -1)
        grad = self.storages.new(spec.numel, loss_dtype, spec.batched, TRANSIENT)
        self.step([grad], kept + grad_kept, "backward", -1)  # total_weight lives as long as the loss
        if cast is not None:
            half = self.storages.new(spec.numel, out.dtype, spec.batched, TRANSIENT)
            self.step([half], [grad], "backward", -1)
            grad = half
        return grad

    # -- backward -------------------------------------------------------------------------

    def backward(self, first_grad: Optional[int]) -> None:
        if first_grad is not None:
            self.refs[first_grad] = 1
            self.buffers[self.plan.output] = first_grad
        keep_until = self.plan.keep_until
        release: Dict[int, List[int]] = {}
        for storage, layer in keep_until.items():
            release.setdefault(layer, []).append(storage)
        pinned = set(self.plan.pinned)
        for index in range(len(self.plan.layers) - 1, -1, -1):
            self.storages.owner_now = index
            layer = self.plan.layers[index]
            region = self.plan.regions.get(index)
            if region is not None and region[1] == index:
                twins = [t for member in range(region[0], index + 1) for t in self.plan.layers[member].twins]
                if twins:
                    self.step(twins, (), "recompute", index)
            released = [s for s in release.get(index, ()) if s not in pinned]
            if layer.recorded:
                self._layer_backward(index, released)
            elif released:
                self.step((), released, "backward", index)
            for emit in self.deferred.pop(index, ()):
                emit(index)
        self.storages.owner_now = -1

    def _layer_backward(self, index: int, released: List[int]) -> None:
        """The layer's autograd node, then (under autocast) the nodes of its
        casts, inputs first, then parameters in order (measured): each turns
        a half gradient into the fp32 one of the parameter or input it was
        cast from; then the gradients reach their values (a second one for
        the same value is summed)."""
        info = self.shapes.layers[index]
        if is_dora_add(info):  # memory/dora_backward.py: its small nodes one by one
            for after, emit in dora_backward(self, index, released):
                self.deferred.setdefault(after, []).append(emit)
            self._flush(index, [])
            return
        node = info.node
        layer = self.plan.layers[index]
        incoming = [self.buffers.pop((index, j)) for j in range(len(info.result.outputs)) if (index, j) in self.buffers]
        allocs: List[int] = []
        frees: List[int] = []
        before: List[int] = []
        casts: List[Tuple[int, int]] = []  # (half gradient, the gradient it becomes)
        if node.type in ("Parameter", "Buffer"):
            for storage in incoming:
                self._unref(storage, before)
            self._param_grads(info, allocs, frees, casts, half=False)
            self.step(allocs, frees, "backward", index, before)
            self._flush(index, [])
            return
        deliveries: List[Tuple[Tuple[int, int], int]] = []
        args = info.result.args or node.args
        for k, source in enumerate(node.sources):
            key = value_key(source, self.input_names)
            value = self.plan.values[key]
            if not value.requires_grad:
                continue
            out_dtype = self.plan.values[(index, 0)].dtype
            if gradient_is_view(node.type, args, k, info.inputs, info.result.outputs[0]) and incoming \
                    and value.dtype == out_dtype:  # (a mixed-dtype Add casts the gradient back: a new one)
                grad = incoming[0]
            else:
                cast = layer.cast_inputs.get(k)
                if cast is not None:  # the gradient of autocast's copy, then of the original
                    half = self.storages.new(value.spec.numel, cast, value.spec.batched, TRANSIENT)
                    allocs.append(half)
                    grad = self.storages.new(value.spec.numel, value.dtype, value.spec.batched, TRANSIENT)
                    casts.append((half, grad))
                else:
                    grad = self._new_grad(value, allocs)
            if key[0] < 0:  # a model input: nobody needs its gradient
                if casts and casts[-1][1] == grad:
                    frees.append(casts.pop()[0])
                elif grad not in incoming:
                    frees.append(grad)
                continue
            self.refs[grad] = self.refs.get(grad, 0) + 1
            deliveries.append((key, grad))
        lower = self.precision.autocast and autocast_kind(node.type, self.device) in HALF_WEIGHTS
        param_casts: List[Tuple[int, int]] = []
        self._param_grads(info, allocs, frees, param_casts, half=lower)
        gathered = self._gathered(index)
        allocs += gathered
        frees += gathered
        early = self._decomposed(index, allocs, frees, released)
        # the gradients it received die with the call, its saved tensors right after
        for storage in incoming:
            self._unref(storage, before if early is not None else frees)
        before += early or ()
        frees.extend(s for s in released if s not in (early or ()))
        self.step(allocs, frees, "backward", index, before)
        for half, grad in casts + param_casts:  # the casts' nodes: inputs, then parameters (measured order)
            self.step([grad], [half], "backward", index)
        self._flush(index, deliveries)

    def _decomposed(self, index: int, allocs: List[int], frees: List[int], released: List[int]) -> Optional[List[int]]:
        """A backward of many small nodes (layer_rules.backward_temporaries): its temporaries at the
        chain's peak join ``allocs``; returned: the storages the first nodes release before that peak
        (its own saved tensors but an upcast input copy, which the last node uses), or None."""
        info = self.shapes.layers[index]
        count = backward_temporaries(info.node.type, info.result.args or info.node.args)
        if not count:
            return None
        source = self.plan.values[value_key(info.node.sources[0], self.input_names)]
        if not source.requires_grad:
            return None
        spec = source.spec
        temps = [self.storages.new(spec.numel, "float32", spec.batched, TRANSIENT) for _ in range(count)]
        allocs += temps
        frees += temps
        own = [s for s in self.plan.layers[index].allocs if s in released]
        return own[1:] if own and source.dtype != "float32" else own

    def _flush(self, index: int, deliveries: List[Tuple[Tuple[int, int], int]]) -> None:
        """Hand the gradients to their values, and sum tied weights' gradients."""
        sums: List[int] = []
        dropped: List[int] = []
        for key, grad in deliveries:
            self._deliver(key, grad, sums, dropped)
        if sums and self.pending:  # the input buffers sum as the gradients arrive, AccumulateGrad runs after
            self.step(sums, dropped, "backward", index)
            sums, dropped = [], []
        for param, extra in self.pending:
            total = self.storages.new_fixed(self.storages.fixed[extra], GRADIENTS)
            sums.append(total)
            dropped += [extra, self.grads[param]]
            self.grads[param] = total
        self.pending.clear()
        if sums:
            self.step(sums, dropped, "backward", index)

    def _new_grad(self, value: Value, allocs: List[int]) -> int:
        grad = self.storages.new(value.spec.numel, value.dtype, value.spec.batched, TRANSIENT)
        allocs.append(grad)
        return grad

    def _deliver(self, key: Tuple[int, int], grad: int, allocs: List[int], frees: List[int]) -> None:
        """Add ``grad`` (already referenced) to the gradient buffer of value ``key``
        as torch's InputBuffer does: the first is kept, a second one is summed
        into a new tensor (torch 2.13 measured: ``aten.add``, never ``add_``)."""
        held = self.buffers.get(key)
        if held is None:
            self.buffers[key] = grad
            return
        total = self.storages.new_fixed(self.storages.fixed[grad], TRANSIENT)
        self.storages.per_sample[total] = self.storages.per_sample[grad]
        allocs.append(total)
        self.refs[total] = 1
        self.buffers[key] = total
        self._unref(grad, frees)
        self._unref(held, frees)

    def _unref(self, storage: int, frees: List[int]) -> None:
        count = self.refs.get(storage, 1) - 1
        self.refs[storage] = count
        if count <= 0:
            frees.append(storage)

    def _param_grads(self, info: Any, allocs: List[int], frees: List[int], casts: List[Tuple[int, int]], *,
                     half: bool) -> None:
        node = info.node
        trainable = self.tuning.trainable if self.tuning is not None else {}
        if not node.trainable and not any(trainable.get((node.index, name)) for name in info.result.params):
            return
        owner = self.shapes.layers[node.shares].result.params if node.shares is not None else {}
        weight = self.precision.weight_bytes
        for name, shape in info.result.params.items():
            key = (node.shares, name) if name in owner else (node.index, name)
            if not trainable.get(key, node.trainable):
                continue
            numel = math.prod(shape)
            if self.setup.sharding in ("zero2", "zero3"):  # the full gradient until it is reduce-scattered
                full = self.storages.new_fixed(numel * weight, TRANSIENT)
                allocs.append(full)
                frees.append(full)
            size = self.sharded(numel * weight, ("zero2", "zero3"))
            if key in self.grads:  # a tied weight's second gradient: AccumulateGrad sums out of place
                grad = self.storages.new_fixed(size, TRANSIENT)
                self.pending.append((key, grad))
            else:
                grad = self.grads[key] = self.storages.new_fixed(size, GRADIENTS)
            if half:  # the gradient of autocast's half copy, which its cast's node turns into this one
                copy = self.storages.new_fixed(numel * dtype_bytes(self.precision.half or "float32"), TRANSIENT)
                allocs.append(copy)
                casts.append((copy, grad))
            else:
                allocs.append(grad)

    # -- optimizer ------------------------------------------------------------------------

    def optimizer(self) -> None:
        temp = optimizer_temporary(self.setup, self.device, [self.storages.fixed[g] for g in self.grads.values()])
        if temp:
            storage = self.storages.new_fixed(temp, TRANSIENT)
            self.step([storage], [storage], "optimizer", -1)
        else:
            self.step((), (), "optimizer", -1)


def optimizer_temporary(setup: TrainingSetup, device: DeviceModel, grad_sizes: Sequence[int]) -> int:
    """Bytes of ``optimizer.step()``'s temporaries over gradients of these sizes (foreach: a few
    multiples of all of them; for-loop: of the largest)."""
    k_sum, k_max = step_temporaries(setup, optimizer_impl(setup, device.default_impl))
    rounding = device.rounding
    rounded = [-(-size // rounding) * rounding for size in grad_sizes]
    return int(k_sum * sum(rounded) + k_max * max(rounded, default=0))


def training_timeline(plan: ForwardPlan, shapes: ShapeAnalysis, setup: TrainingSetup, precision: Precision,
                      device: DeviceModel, tuning: Optional[Any] = None) -> Timeline:
    """The whole step: see the module docstring.  ``tuning``: a fine-tuning
    run's per-tensor bytes and trainability (memory.adapters)."""
    emitter = _Emitter(plan, shapes, setup, precision, device, tuning)
    persistent = emitter.persistent()
    emitter.forward()
    grad = emitter.loss()
    persistent = persistent + [plan.input_storages[-1]]
    emitter.backward(grad)
    emitter.optimizer()
    return Timeline(plan.storages, emitter.steps, persistent, _layer_saved(plan), list(emitter.grads.values()))


def inference_timeline(plan: ForwardPlan, shapes: ShapeAnalysis, precision: Precision,
                       param_bytes: Optional[Dict[Tuple[int, str], int]] = None) -> Timeline:
    """An eval-mode forward under ``torch.no_grad()``: parameters, buffers, the
    input, and every value until its last consumer."""
    storages = plan.storages
    persistent = list(plan.input_storages)
    weight = precision.weight_bytes
    for tensor in param_tensors(shapes):
        storages.owner_now = tensor.key[0]
        size = (param_bytes or {}).get(tensor.key, tensor.numel * weight)
        persistent.append(storages.new_fixed(size, PARAMETERS))
    for info in shapes.layers:
        storages.owner_now = info.node.index
        for shape, dtype in info.result.buffers.values():
            buffer_dtype = precision.activation_dtype(dtype) if dtype == "float32" else dtype
            persistent.append(storages.new_fixed(math.prod(shape) * dtype_bytes(buffer_dtype), BUFFERS))
    storages.owner_now = -1
    steps: List[Step] = []
    for index, layer in enumerate(plan.layers):
        steps.append(((), tuple(layer.allocs), tuple(layer.frees), "inference", index))
    return Timeline(storages, steps, persistent)


def _layer_saved(plan: ForwardPlan) -> Dict[int, List[int]]:
    """The storages each layer keeps alive after the forward pass (those it is the first to keep)."""
    twins = {t for layer in plan.layers for t in layer.twins}
    by_layer: Dict[int, List[int]] = {}
    for storage, layer in plan.first_saver.items():
        if plan.storages.category[storage] not in (INPUTS, PARAMETERS) and storage not in twins:
            by_layer.setdefault(layer, []).append(storage)
    return by_layer
