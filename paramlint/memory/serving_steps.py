"""The prefill pass and one decode step as timelines, as transformers (5.25) runs a decoder.

Both start from the memory model's eval forward pass of the graph (every
value until its last consumer, paramlint/memory/plan.py), with values held
as module calls hold them (paramlint/memory/module_calls.py), and add what
transformers' code allocates around the graph's layers:

- the int64 position of each new token (``cache_position``), and for each
  sliding-window cache layer its window as an int64 scalar
  (``DynamicSlidingWindowLayer._sliding_window_tensor``), for the whole pass;
- ``ApplyRotary``: ``q * cos + rotate_half(q) * sin`` holds three tensors
  of the rotated size at once beside its input (the first product,
  ``rotate_half``'s ``cat`` and the second product, or the two products and
  their sum); a partial rotary then concatenates the sum with the rest;
- each causal attention layer: ``cache.update`` (``torch.cat``) makes the
  layer's key and value cache, and the key and value the layer computed die
  there (``key_states`` is rebound to the cache); decoding, the grown key
  then value cache replaces the old one;
- the attention itself beyond the graph's own layer (``attention_work``);
- a mixture of experts' loop (paramlint/memory/serving_experts.py);
- the masks, made before the first layer and kept to the end
  (``model_masks``).

docs/memory.md has the formulas; tests/test_inference.py the measurements.
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

from ..model.analysis import ShapeAnalysis
from ..model.inference_setup import InferenceSetup
from .module_calls import caller_end, held_until, hold_values
from .plan import ACTIVATIONS, TRANSIENT, Storages, plan_forward, value_key
from .precision import PRECISION_MODELS, DeviceModel
from .serving_attention import CacheLayer, attention_work, cache_layers, model_masks
from .serving_experts import expert_steps
from .steps import Timeline, inference_timeline


def _eval_pass(shapes: ShapeAnalysis, output: Any, setup: InferenceSetup, device: DeviceModel) -> Tuple[Any, Timeline]:
    precision = PRECISION_MODELS[setup.dtype]
    plan = plan_forward(shapes, output, precision, device, training=False)
    return plan, hold_values(inference_timeline(plan, shapes, precision), plan, held_until(shapes))


def _per_sequence(storages: Storages, size: int, category: int = ACTIVATIONS) -> int:
    """A storage of ``size`` bytes for each sequence of the batch."""
    return storages.new(size, "bool", True, category)  # one byte an element: numel is the bytes


def _run_scalars(storages: Storages, layers: Tuple[CacheLayer, ...], tokens: int) -> List[int]:
    """Position ids (int64 per new token) and each sliding cache layer's window (an int64 scalar)."""
    made = [storages.new_fixed(8 * tokens, ACTIVATIONS)]
    made += [storages.new_fixed(8, ACTIVATIONS) for layer in layers if layer.window is not None]
    return made


def _rotary_steps(storages: Storages, shapes: ShapeAnalysis, plan: Any, index: int) -> Tuple[Tuple[int, ...],
                                                                                         Tuple[int, ...]]:
    """ApplyRotary's temporaries: three of the rotated size before the output exists, and with a partial
    rotary the sum beside the concatenated output."""
    info = shapes.layers[index]
    x, cos = info.inputs[0], info.inputs[1]
    rotated = x.numel // x.shape[-1] * cos.shape[-1] if x.shape[-1] else 0
    dtype = plan.values[(index, 0)].dtype
    before = tuple(storages.new(rotated, dtype, x.batched, TRANSIENT) for _ in range(3))
    during = (storages.new(rotated, dtype, x.batched, TRANSIENT),) if cos.shape[-1] < x.shape[-1] else ()
    return before, during


def _key_and_value(shapes: ShapeAnalysis, plan: Any, index: int) -> Tuple[int, ...]:
    names = list(shapes.inputs)
    return tuple(plan.values[value_key(source, names)].storage for source in shapes.layers[index].node.sources[1:3])


def _with_rotary(steps: List[Any], storages: Any, shapes: ShapeAnalysis, plan: Any, step: Any) -> Tuple[Any, Any]:
    """An ApplyRotary step's running temporaries: those made ahead of it as their own step, those alive
    during it added to its allocations and frees; returns its (allocs, frees)."""
    _, allocs, frees, phase, index = step
    if shapes.layers[index].node.type == "ApplyRotary":
        ahead, during = _rotary_steps(storages, shapes, plan, index)
        steps.append(((), ahead, ahead, phase, index))
        allocs, frees = allocs + during, frees + during
    return allocs, frees


def prefill_timeline(shapes: ShapeAnalysis, output: Any, setup: InferenceSetup, device: DeviceModel,
                     tokens: int) -> Timeline:
    """The eval forward pass at the prompt length, each cache allocated at its layer and kept."""
    plan, timeline = _eval_pass(shapes, output, setup, device)
    storages = timeline.storages
    layers = cache_layers(shapes)
    by_layer = {layer.layer: layer for layer in layers}
    steps: List[Any] = []
    held: Dict[int, List[int]] = {}  # layer -> what is freed after it
    for before, allocs, frees, phase, index in timeline.steps:
        allocs, frees = _with_rotary(steps, storages, shapes, plan, (before, allocs, frees, phase, index))
        layer = by_layer.get(index)
        if layer is not None:
            retained = layer.retained(tokens)
            stored = tokens if retained < tokens else retained  # a sliced cache is a view of the whole
            cache = tuple(_per_sequence(storages, per * stored * setup.kv_bytes)
                          for per in (layer.key_per_token, layer.value_per_token))
            dropped = tuple(s for s in _key_and_value(shapes, plan, index) if s in frees)
            frees = tuple(s for s in frees if s not in dropped)
            steps.append((before, cache, tuple(dict.fromkeys(dropped)), "prefill", index))
            before = ()
            work, kept, returned = attention_work(storages, layer, setup, device, queries=tokens, keys=tokens)
            if work:
                steps.append(((), work, work, phase, index))
            allocs, frees = allocs + kept + returned, frees + kept
            _hold(held, caller_end(shapes, index), index, returned)
        _append(steps, storages, shapes, plan, (before, allocs, frees + tuple(held.pop(index, ())), phase, index))
    _hold_masks(steps, model_masks(storages, layers, setup, queries=tokens, keys_of=lambda layer: tokens))
    return Timeline(storages, steps, timeline.persistent + _run_scalars(storages, layers, tokens))


def decode_timeline(step_shapes: ShapeAnalysis, output: Any, setup: InferenceSetup, device: DeviceModel,
                    tokens: int) -> Timeline:
    """One token per sequence with ``tokens - 1`` positions cached: the
    cache grows by ``torch.cat`` (a new key, then a new value storage, each
    old one freed once replaced), then the layer attends."""
    plan, timeline = _eval_pass(step_shapes, output, setup, device)
    storages = timeline.storages
    layers = cache_layers(step_shapes)
    persistent = list(timeline.persistent) + _run_scalars(storages, layers, 1)
    by_layer = {layer.layer: layer for layer in layers}
    steps: List[Any] = []
    held: Dict[int, List[int]] = {}  # layer -> what is freed after it
    for before, allocs, frees, phase, index in timeline.steps:
        allocs, frees = _with_rotary(steps, storages, step_shapes, plan, (before, allocs, frees, phase, index))
        layer = by_layer.get(index)
        if layer is not None:
            old_length = _stored(layer, tokens - 1)
            new_length = layer.retained(tokens - 1) + 1
            dropped = tuple(dict.fromkeys(s for s in _key_and_value(step_shapes, plan, index) if s in frees))
            frees = tuple(s for s in frees if s not in dropped)
            olds = [_per_sequence(storages, per * old_length * setup.kv_bytes)
                    for per in (layer.key_per_token, layer.value_per_token)]
            persistent += olds
            news = [_per_sequence(storages, per * new_length * setup.kv_bytes)
                    for per in (layer.key_per_token, layer.value_per_token)]
            if layer.window is None:  # DynamicLayer: keys = cat(keys, k), then values = cat(values, v)
                steps += [((), (news[0],), (olds[0],), "decode", index),
                          ((), (news[1],), (olds[1],) + dropped, "decode", index)]
            else:  # DynamicSlidingWindowLayer: both cats, then both caches sliced
                steps += [((), (news[0],), (), "decode", index),
                          ((), (news[1],), tuple(olds) + dropped, "decode", index)]
            work, kept, returned = attention_work(storages, layer, setup, device, queries=1,
                                                  keys=layer.attended(tokens))
            if work:
                steps.append(((), work, work, phase, index))
            allocs, frees = allocs + kept + returned, frees + kept
            _hold(held, caller_end(step_shapes, index), index, returned)
        _append(steps, storages, step_shapes, plan,
                (before, allocs, frees + tuple(held.pop(index, ())), phase, index))
    _hold_masks(steps, model_masks(storages, layers, setup, queries=1, keys_of=lambda layer: layer.attended(tokens)))
    return Timeline(storages, steps, persistent)


def _hold(held: Dict[int, List[int]], until: int, index: int, storages: Tuple[int, ...]) -> None:
    """Free ``storages`` after layer ``until`` (``index``, the layer being planned, or a later one)."""
    held.setdefault(max(until, index), []).extend(storages)


def _append(steps: List[Any], storages: Storages, shapes: ShapeAnalysis, plan: Any, step: Any) -> None:
    """A layer's step, or for a mixture of experts its loop step by step."""
    if shapes.layers[step[4]].node.type == "Experts":
        steps.extend(expert_steps(storages, shapes, plan, step[4], step))
    else:
        steps.append(step)


def _hold_masks(steps: List[Any], masks: Tuple[int, ...]) -> None:
    """The masks exist before the first layer and until the last."""
    if not masks or not steps:
        return
    before, allocs, frees, phase, index = steps[0]
    steps[0] = (before, masks + allocs, frees, phase, index)
    before, allocs, frees, phase, index = steps[-1]
    steps[-1] = (before, allocs, frees + masks, phase, index)


def _stored(layer: CacheLayer, tokens: int) -> int:
    """Positions in a cache's storage after decoding up to ``tokens``: a
    sliding layer keeps a view of the window made by the last ``cat``."""
    retained = layer.retained(tokens)
    return retained + 1 if retained < tokens else retained

