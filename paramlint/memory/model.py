"""Training memory per device: the peak of one steady-state training step.

What is predicted is ``torch.cuda.max_memory_allocated()`` during
``zero_grad(set_to_none=True)``, forward, loss, ``backward()`` and
``optimizer.step()`` in eager PyTorch, once the optimizer state exists, plus
the eval-mode inference peak.  The step is simulated storage by storage
(plan, steps, simulation): parameters, buffers, optimizer
state and the batch exist throughout; the forward pass allocates outputs and
what autograd saves, and frees values nobody keeps after their last
consumer; backward runs in reverse, allocating gradients and freeing each
saved tensor after its last user; the optimizer step adds its temporaries.
Every allocation is rounded up to 512 bytes, and a fixed CUDA overhead
(workspaces) is added.  docs/memory.md has the measurements behind it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple, Union

from ..core.record import Record
from ..core.runtime import collector_paused
from ..model.analysis import ShapeAnalysis
from ..model.graph import Source
from ..model.training import TrainingSetup
from .plan import CATEGORIES, plan_forward
from .precision import CUDA, PRECISION_MODELS, DeviceModel
from .simulation import MemoryTrace, SimResult, TracePoint, layer_bytes, simulate
from .step_flops import StepFlops, stacked_step_flops, step_flops
from .steps import Timeline, inference_timeline, optimizer_temporary, training_timeline

if TYPE_CHECKING:  # imported when a model has a stack to fold (memory.folding)
    from .folding import Fold, FoldedTimeline


class MemoryEstimate(Record):
    """The peak and its parts, in bytes per device.

    ``params`` ... ``transient`` are what is alive at the peak (they add up
    to ``peak`` with ``overhead``); ``activations`` counts the saved tensors,
    the model output and the loss's saved tensors.  ``forward_activations``
    is what the forward pass leaves saved for backward (the per-layer
    ``layer_activations`` plus the output and loss), ``all_gradients`` every
    parameter gradient, ``inference_peak`` an eval-mode forward pass.
    """

    __slots__ = ("params", "gradients", "optimizer_state", "activations", "buffers", "inputs", "transient", "overhead",
                 "forward_activations", "all_gradients", "phase", "peak_layer", "batch_size", "layer_activations",
                 "forward_flops", "backward_flops", "layer_backward_flops", "inference", "trace")

    # forward_flops: per step (batch x per sample), as FlopCounterMode counts
    # layer_backward_flops: per sample
    def __init__(self, params: int, gradients: int, optimizer_state: int, activations: int, buffers: int = 0,
                 inputs: int = 0, transient: int = 0, overhead: int = 0, forward_activations: int = 0,
                 all_gradients: int = 0, phase: str = "", peak_layer: int = -1, batch_size: int = 1,
                 layer_activations: Tuple[int, ...] = (), forward_flops: int = 0, backward_flops: int = 0,
                 layer_backward_flops: Tuple[int, ...] = (), inference: Optional[Callable[[], int]] = None,
                 trace: Optional[Callable[[], MemoryTrace]] = None) -> None:
        self.params = params
        self.gradients = gradients
        self.optimizer_state = optimizer_state
        self.activations = activations
        self.buffers = buffers
        self.inputs = inputs
        self.transient = transient
        self.overhead = overhead
        self.forward_activations = forward_activations
        self.all_gradients = all_gradients
        self.phase = phase
        self.peak_layer = peak_layer
        self.batch_size = batch_size
        self.layer_activations = layer_activations
        self.forward_flops = forward_flops
        self.backward_flops = backward_flops
        self.layer_backward_flops = layer_backward_flops
        self.inference = inference
        self.trace = trace  # the simulated step, point by point (for charts; computed on demand)

    def _values(self) -> Tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__[:-2])  # not the two callables

    @property
    def inference_peak(self) -> int:
        """The eval-mode forward peak (computed when first asked for)."""
        return self.inference() if self.inference is not None else 0

    @property
    def peak(self) -> int:
        return (self.params + self.buffers + self.gradients + self.optimizer_state + self.inputs + self.activations
                + self.transient + self.overhead)

    def parts(self) -> Dict[str, int]:
        """The peak's parts, in the order the reports show them."""
        return {"params": self.params, "buffers": self.buffers, "gradients": self.gradients,
                "optimizer_state": self.optimizer_state, "inputs": self.inputs, "activations": self.activations,
                "transient": self.transient, "overhead": self.overhead}

    def to_dict(self) -> Dict[str, object]:
        return dict(self.parts(), peak=self.peak, inference_peak=self.inference_peak,
                    forward_activations=self.forward_activations, all_gradients=self.all_gradients,
                    peak_phase=self.phase, batch_size=self.batch_size,
                    activations_by_layer=list(self.layer_activations),
                    step_flops={"forward": self.forward_flops, "backward": self.backward_flops,
                                "backward_by_layer": list(self.layer_backward_flops)})


class MemoryModel:
    """The batch-independent timelines of one model and training setup;
    :meth:`estimate` runs them for any batch size (``paramlint fit`` searches
    over it).  Building is linear in the number of layers, and so is each
    estimate."""

    def __init__(self, shapes: ShapeAnalysis, setup: TrainingSetup, *, output: Optional[Source] = None,
                 device: DeviceModel = CUDA, checkpoint_blocks: bool = False, tuning: Optional[Any] = None,
                 fold: Optional["Fold"] = None, expand: Optional[Callable[[], Tuple[ShapeAnalysis, Source, Any]]] = None
                 ) -> None:
        self.shapes = shapes
        self.setup = setup
        self.tuning = tuning  # memory.adapters.TuningMemory of a fine-tuning run (shapes are its adapted graph's)
        self.device = device
        self.checkpoint_blocks = checkpoint_blocks
        self.fold = fold  # memory.folding: a stack of equal blocks, planned as three copies and unrolled
        # a fold whose shapes hold fewer copies than the model (fold.short): ``expand`` gives the whole
        # model's (shapes, output, tuning) for what cannot be read from the copies stored
        self.expand = expand
        self.precision = PRECISION_MODELS[setup.precision]
        self.output = output if output is not None else Source(len(shapes.layers) - 1)
        self.layers = len(shapes.layers) + ((fold.count - fold.stored) * fold.size if fold is not None else 0)
        with collector_paused():
            self._training = self._timeline(self._training_timeline, optimizer=True)
        self._inference: Optional[Union[Timeline, "FoldedTimeline"]] = None
        self.flops = self._step_flops()

    def _timeline(self, build: Callable[..., Timeline], *, optimizer: bool) -> Union[Timeline, "FoldedTimeline"]:
        if self.fold is not None:
            from .folding import fold_timeline

            grads = (lambda sizes: optimizer_temporary(self.setup, self.device, sizes)) if optimizer else None
            folded = fold_timeline(build, self.shapes, self.output, self.fold, grads)
            if folded is not None:
                return folded
            self._expanded()
        return build(self.shapes, self.output, None)

    def _expanded(self) -> None:
        """Hold the whole model from now on (a fold that does not unroll exactly is planned in full)."""
        if self.fold is not None and self.fold.short:
            if self.expand is None:
                raise ValueError("a fold over fewer copies than the model has needs `expand`")
            self.shapes, self.output, self.tuning = self.expand()
            self.fold = None

    def _step_flops(self) -> StepFlops:
        fold = self.fold
        if fold is not None and fold.short:
            flops = stacked_step_flops(self.shapes, self.output, fold.start, fold.size, fold.stored, fold.count)
            if flops is not None:
                return flops
            self._expanded()
        return step_flops(self.shapes, self.output)

    def _training_timeline(self, shapes: ShapeAnalysis, output: Source,
                           index: Optional[Callable[[int], Optional[int]]]) -> Timeline:
        tuning = self.tuning if index is None or self.tuning is None else self.tuning.renumbered(index)
        plan = plan_forward(shapes, output, self.precision, self.device, training=True,
                            checkpoint_blocks=self.checkpoint_blocks,
                            autocast_exempt=tuning.dequantized if tuning is not None else (),
                            keeps_input=tuning.int8_layers if tuning is not None else (),
                            grad_outputs=tuning.grad_outputs() if tuning is not None else ())
        return training_timeline(plan, shapes, self.setup, self.precision, self.device, tuning)

    def _inference_timeline(self, shapes: ShapeAnalysis, output: Source,
                            index: Optional[Callable[[int], Optional[int]]]) -> Timeline:
        tuning = self.tuning if index is None or self.tuning is None else self.tuning.renumbered(index)
        plan = plan_forward(shapes, output, self.precision, self.device, training=False,
                            autocast_exempt=tuning.dequantized if tuning is not None else ())
        return inference_timeline(plan, shapes, self.precision, tuning.param_bytes if tuning is not None else None)

    @property
    def training(self) -> Timeline:
        """The training step's timeline, every layer's storages and steps written out."""
        if not isinstance(self._training, Timeline):  # folded
            self._training = self._training.written_out()
        return self._training

    @property
    def inference(self) -> Timeline:
        """The eval-mode timeline, written out."""
        walk = self._inference_walk()
        if not isinstance(walk, Timeline):  # folded
            self._inference = walk = walk.written_out()
        return walk

    def _inference_walk(self) -> Union[Timeline, "FoldedTimeline"]:
        if self._inference is None:
            with collector_paused():
                self._inference = self._timeline(self._inference_timeline, optimizer=False)
        return self._inference

    def inference_peak(self, batch: int) -> int:
        return _simulate(self._inference_walk(), batch, self.device.rounding).peak + self.device.overhead

    def simulate(self, batch: int) -> SimResult:
        return _simulate(self._training, batch, self.device.rounding)

    def peak(self, batch: int) -> int:
        return self.simulate(batch).peak + self.device.overhead

    def trace(self, batch: int) -> MemoryTrace:
        """Every moment of the training step at ``batch``, as the simulation walks it."""
        points: List[TracePoint] = []
        result = simulate(self.training, batch, self.device.rounding, trace=points)
        return MemoryTrace(tuple(points), self.device.overhead, result.peak + self.device.overhead, result.phase,
                           result.layer)

    def estimate(self, batch: Optional[int] = None) -> MemoryEstimate:
        batch = batch or self.setup.batch_size
        rounding = self.device.rounding
        result = self.simulate(batch)
        parts = dict(zip(CATEGORIES, result.breakdown))
        end = dict(zip(CATEGORIES, result.end_of_forward))
        walk = self._training
        if not isinstance(walk, Timeline):  # folded
            layers = walk.layer_bytes(batch, rounding, self.layers)
            gradients = walk.gradient_bytes(rounding)
        else:
            layers = layer_bytes(walk, batch, rounding, self.layers)
            gradients = sum(-(-walk.storages.fixed[s] // rounding) * rounding for s in _gradient_storages(walk))
        return MemoryEstimate(
            params=parts["parameters"], gradients=parts["gradients"], optimizer_state=parts["optimizer_state"],
            activations=parts["activations"], buffers=parts["buffers"], inputs=parts["inputs"],
            transient=parts["transient"], overhead=self.device.overhead,
            forward_activations=end["activations"], all_gradients=gradients, phase=result.phase,
            peak_layer=result.layer, batch_size=batch, layer_activations=tuple(layers),
            forward_flops=batch * self.flops.forward, backward_flops=batch * self.flops.backward,
            layer_backward_flops=self.flops.layer_backward,
            inference=lambda: self.inference_peak(batch),
            trace=lambda: self.trace(batch))


def _simulate(walk: Union[Timeline, "FoldedTimeline"], batch: int, rounding: int) -> SimResult:
    return simulate(walk, batch, rounding) if isinstance(walk, Timeline) else walk.simulate(batch, rounding)


def _gradient_storages(timeline: Timeline) -> List[int]:
    gradients = CATEGORIES.index("gradients")
    return [s for s, c in enumerate(timeline.storages.category) if c == gradients]
