"""Torch as the oracle for training memory on the CPU.

``LiveStorages`` is a ``TorchDispatchMode`` that follows every tensor storage
an operator creates (forward, backward and the optimizer step alike) and the
moment it is freed (a weak reference on the storage), with each storage's
bytes rounded up to 512 as CUDA's caching allocator rounds them.  The peak of
the live total is what ``torch.cuda.max_memory_allocated()`` would report for
the same allocations, less what kernels allocate internally (cuDNN/cuBLAS
workspaces: paramlint's documented fixed overhead).

``training_step`` runs one steady-state step the way the issue defines it:
``zero_grad(set_to_none=True)``, forward, loss, ``backward()``,
``optimizer.step()``, after a first step so that the optimizer state exists.
``run_graph`` executes a ``paramlint.torch`` model releasing each value after
its last consumer, as hand-written eager code does.
"""
from __future__ import annotations

import warnings
import weakref
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import pytest

torch = pytest.importorskip("torch")
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from torch.utils._pytree import tree_flatten  # noqa: E402
from torch.utils.weak import WeakIdKeyDictionary  # noqa: E402

ROUND = 512


def rounded(nbytes: int) -> int:
    return -(-nbytes // ROUND) * ROUND


class LiveStorages(TorchDispatchMode):
    """Live tensor-storage bytes (512-rounded): ``current``, ``peak``, and a
    ``timeline`` of (operator, live bytes) after each operator."""

    def __init__(self, *, timeline: bool = False) -> None:
        super().__init__()
        self.current = 0
        self.peak = 0
        self._sizes: Any = WeakIdKeyDictionary()
        self._refs: List[Any] = []
        self.keep_timeline = timeline
        self.timeline: List[Tuple[str, int]] = []

    def track(self, *tensors: Any) -> None:
        """Count tensors made outside the mode (parameters, inputs, state)."""
        flat, _ = tree_flatten(list(tensors))
        for tensor in flat:
            if isinstance(tensor, torch.Tensor):
                self._add(tensor)
        self.peak = max(self.peak, self.current)

    def reset_peak(self) -> None:
        self.peak = self.current

    def _add(self, tensor: Any) -> None:
        storage = tensor.untyped_storage()
        if storage in self._sizes or storage.nbytes() == 0:
            return
        size = rounded(storage.nbytes())
        self._sizes[storage] = size
        self.current += size
        self._refs.append(weakref.ref(storage, self._freer(size)))

    def _freer(self, size: int) -> Callable[[Any], None]:
        def free(_: Any) -> None:
            self.current -= size
        return free

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        out = func(*args, **(kwargs or {}))
        flat, _ = tree_flatten(out)
        for tensor in flat:
            if isinstance(tensor, torch.Tensor) and tensor.device.type != "meta":
                self._add(tensor)
        self.peak = max(self.peak, self.current)
        if self.keep_timeline:
            self.timeline.append((str(func), self.current))
        return out


def run_graph(model: Any, *inputs: Any) -> Any:
    """``model`` (a ParamlintModel) run node by node, each value dropped after
    its last consumer (the bridge's own forward keeps every value to the end).
    Checkpointed layers (``checkpoint: true`` on a layer or a block use) run
    as one ``torch.utils.checkpoint`` region each, non-reentrant."""
    from paramlint.memory.plan import checkpoint_regions
    from paramlint.torch import _call_inputs, _unpack

    named = dict(zip(model.input_names, inputs))
    steps = model._steps
    regions = checkpoint_regions([node for node, _, _ in steps]) if torch.is_grad_enabled() and model.training else {}
    output = model._output
    last_use: Dict[Any, int] = {}
    for position, (node, _, _) in enumerate(steps):
        end = regions[node.index][1] if node.index in regions else position
        for source in node.sources:
            last_use[_key(source)] = end
    values: Dict[Any, Any] = {("input", name): tensor for name, tensor in named.items()}

    def run_node(node: Any, module: Any, kwargs: Any, local: Dict[Any, Any]) -> None:
        args = _call_inputs(node, [local[_key(s)] for s in node.sources])
        for number, tensor in enumerate(_unpack(node.type, module(*args, **kwargs))):
            if (node.index, number) in last_use or (node.index, number) == _key(output):
                local[(node.index, number)] = tensor  # (an output nobody reads dies at once)

    position = 0
    while position < len(steps):
        node = steps[position][0]
        first, last = regions.get(node.index, (position, position))
        members = steps[first:last + 1]
        if node.index not in regions:
            run_node(*members[0], values)
        else:
            inside = {n.index for n, _, _ in members}
            external = list(dict.fromkeys(_key(s) for n, _, _ in members for s in n.sources
                                          if s.node not in inside or s.node is None))
            wanted = [key for key, use in last_use.items() if key[0] in inside and use > last]
            wanted += [_key(output)] if output.node in inside and _key(output) not in wanted else []

            def region(*tensors: Any, members: Any = members, external: Any = external, wanted: Any = wanted) -> Any:
                local = dict(zip(external, tensors))
                for member in members:
                    run_node(*member, local)
                return tuple(local[key] for key in wanted)

            from torch.utils.checkpoint import checkpoint

            outs = checkpoint(region, *[values[key] for key in external], use_reentrant=False)
            values.update(zip(wanted, outs))
        for key, use in list(last_use.items()):
            if use == last and key != _key(output) and key[0] != "input":
                values.pop(key, None)
        position = last + 1
    return values[_key(output)]


def _key(source: Any) -> Any:
    return ("input", source.input_name) if source.node is None else (source.node, source.output)


def training_step(model: Any, inputs: Sequence[Any], target: Any, optimizer: Any,
                  forward: Optional[Callable[..., Any]] = None, loss_fn: Optional[Callable[..., Any]] = None,
                  timeline: bool = False, resident: Sequence[Any] = ()) -> LiveStorages:
    """The live-storage peak of one steady-state training step (after a warm-up step).
    ``resident``: more tensors that live through the step (bitsandbytes' quantization statistics)."""
    forward = forward or (lambda *xs: model(*xs))
    loss_fn = loss_fn or torch.nn.functional.cross_entropy

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        out = forward(*inputs)
        loss = loss_fn(out.reshape(-1, out.shape[-1]) if out.dim() == 3 else out, target)
        loss.backward()
        optimizer.step()

    model.train()
    step()
    optimizer.zero_grad(set_to_none=True)
    tracker = LiveStorages(timeline=timeline)
    tracker.track(list(model.parameters()), list(model.buffers()), list(inputs), target,
                  [s for state in optimizer.state.values() for s in state.values() if isinstance(s, torch.Tensor)],
                  list(resident))
    tracker.reset_peak()
    with tracker:
        step()
    return tracker


def network_saved(model: Any, inputs: Sequence[Any], *, run: Optional[Callable[..., Any]] = None) -> Dict[int, int]:
    """Bytes of the unique storages autograd saves in one training-mode forward
    of a ``paramlint.torch`` model, by the graph node that saves each first;
    parameters, buffers and the model inputs are left out, and so is the
    workspace of oneDNN's CPU LSTM (uint8, its size is oneDNN's; paramlint
    predicts cuDNN's reserve space instead).  Sizes are the storages' own
    bytes (no rounding)."""
    owned = {t.untyped_storage().data_ptr() for t in list(model.parameters()) + list(model.buffers())}
    owned |= {t.untyped_storage().data_ptr() for t in inputs}
    current = [-1]
    handles = [module.register_forward_pre_hook(_setter(current, node.index))
               for node, module, _ in model._steps]
    found: Dict[int, Tuple[int, int]] = {}

    def pack(tensor: Any) -> Any:
        storage = tensor.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in owned and ptr not in found and storage.nbytes() and tensor.dtype != torch.uint8:
            found[ptr] = (current[0], storage.nbytes())
        return tensor

    model.train()
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            (run or run_graph)(model, *inputs)
    finally:
        for handle in handles:
            handle.remove()
    by_node: Dict[int, int] = {}
    for node, size in found.values():
        by_node[node] = by_node.get(node, 0) + size
    return by_node


def _setter(current: List[int], index: int) -> Callable[..., None]:
    def hook(module: Any, args: Any) -> None:
        current[0] = index
    return hook


def saved_in_precision(precision: str, model: Any, inputs: Sequence[Any], **options: Any) -> Tuple[int, int]:
    """:func:`saved_by_lifetime` in the forward a precision runs: under bf16 autocast for ``bf16-mixed``,
    in float32 otherwise (peft's warnings silenced)."""
    context = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16-mixed" else warnings.catch_warnings()
    with context:
        return saved_by_lifetime(model, inputs, **options)


def saved_by_lifetime(model: Any, inputs: Sequence[Any], *, run: Optional[Callable[..., Any]] = None,
                      holders: Sequence[Any] = ()) -> Tuple[int, int]:
    """(kept, freed): bytes of the storages autograd packs in one training-mode
    forward of a ``paramlint.torch`` model, split by whether they are still
    alive when the forward ends (kept for backward) or were freed before
    (packed into a graph that nothing reaches, as DoRA's ``lora_B(lora_A(eye))``).
    The same exclusions as :func:`network_saved`; a storage is followed by
    a weak reference, so a freed address reused later counts again.
    ``holders``: modules whose autograd Function keeps its input as a ``ctx``
    attribute, out of the hooks' sight (bitsandbytes' 8-bit matmul, ``ctx.A``):
    their inputs still alive when the forward ends count as kept too."""
    owned = {t.untyped_storage().data_ptr() for t in list(model.parameters()) + list(model.buffers())}
    owned |= {t.untyped_storage().data_ptr() for t in inputs}
    entries: Dict[int, Tuple[Any, int]] = {}
    packed: List[Tuple[Any, int]] = []

    def pack(tensor: Any) -> Any:
        storage = tensor.untyped_storage()
        ptr = storage.data_ptr()
        known = entries.get(ptr)
        if ptr in owned or not storage.nbytes() or tensor.dtype == torch.uint8 or \
                (known is not None and known[0]() is not None):
            return tensor
        entries[ptr] = (weakref.ref(storage), storage.nbytes())
        packed.append(entries[ptr])
        return tensor

    held: List[Any] = []
    handles = [module.register_forward_pre_hook(lambda module, args: held.append(args[0].untyped_storage()))
               for module in holders]
    model.train()
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            out = (run or run_graph)(model, *inputs)
            held_refs = [weakref.ref(storage) for storage in held]
            held.clear()  # (the hook's own references go first)
            alive = {ref().data_ptr() for ref, _ in packed if ref() is not None}
            kept = sum(size for ref, size in packed if ref() is not None)
            freed = sum(size for ref, size in packed if ref() is None)
            for ref in held_refs:
                storage = ref()
                if storage is not None and storage.data_ptr() not in alive | owned:
                    alive.add(storage.data_ptr())
                    kept += storage.nbytes()
    finally:
        for handle in handles:
            handle.remove()
    del out
    return kept, freed
