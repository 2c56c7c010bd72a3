"""Serving: weights, the KV cache, the prefill and decode peaks, their FLOPs.

The KV cache is read off the graph, whatever front end made it: every
``ScaledDotProductAttention`` with ``is_causal: true`` caches its key and
value inputs (``[..., kv_heads, seq, head_dim]`` per sample; grouped-query
heads are cached unrepeated), one token being ``numel / seq`` values of each.
It follows transformers' ``DynamicCache`` (5.25): a full-attention layer
keeps every position, a sliding-window layer (``window: W``) keeps the last
``W - 1`` (``DynamicSlidingWindowLayer``: the current token makes the W-th).
After ``generate`` with N new tokens on a P-token prompt the cache holds
``P + N - 1`` positions (the last token made is never fed back), unless the
section gives ``context_length``.

The prefill peak is the eval-mode forward pass of the graph at the prompt
length, with each causal attention layer's cache allocated as it runs and
kept, and with ``logits: last`` the final Linear applied to the last
position only (``logits_to_keep=1``).  The decode peak is one forward pass
of one token per sequence over a full cache.  Both follow what transformers'
modules hold and allocate around the graph's layers
(paramlint/memory/serving_steps.py, serving_attention.py, module_calls.py).
docs/memory.md has the formulas and the measurements.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, List, Mapping, Optional, Tuple

from ..core.diagnostics import ERROR
from ..core.record import Record
from ..model.analysis import ShapeAnalysis, analyze_shapes
from ..model.graph import build_graph
from ..model.inference_setup import InferenceSetup
from ..rules import severity_of
from .precision import CUDA, DeviceModel
from .serving_attention import CAUSAL_ATTENTION, CacheLayer, cache_layers
from .serving_steps import decode_timeline, prefill_timeline
from .simulation import MemoryTrace, TracePoint, simulate

_SLICE_NAME = "__paramlint_last_position"


def kv_cache_bytes(layers: Tuple[CacheLayer, ...], setup: InferenceSetup, tokens: int,
                   batch: Optional[int] = None) -> int:
    """The cache tensors' bytes (``numel * element_size`` summed over keys and values)."""
    batch = setup.batch_size if batch is None else batch
    return batch * setup.kv_bytes * sum(layer.per_token * layer.retained(tokens) for layer in layers)


class InferenceEstimate(Record):
    """Serving figures in bytes (per device) and FLOPs (per step, whole batch)."""

    __slots__ = ("batch_size", "prompt_tokens", "cached_tokens", "weights", "kv_cache", "kv_per_token",
                 "prefill_peak", "decode_peak", "prefill_flops", "decode_flops", "overhead", "layers", "trace")

    # trace: the prefill and the decode step as the simulation walks them (for charts; computed on demand)
    def __init__(self, batch_size: int, prompt_tokens: int, cached_tokens: int, weights: int, kv_cache: int,
                 kv_per_token: int, prefill_peak: int, decode_peak: int, prefill_flops: int, decode_flops: int,
                 overhead: int = 0, layers: Tuple[CacheLayer, ...] = (),
                 trace: Optional[Callable[[], Tuple[MemoryTrace, MemoryTrace]]] = None) -> None:
        self.batch_size = batch_size
        self.prompt_tokens = prompt_tokens
        self.cached_tokens = cached_tokens
        self.weights = weights
        self.kv_cache = kv_cache
        self.kv_per_token = kv_per_token
        self.prefill_peak = prefill_peak
        self.decode_peak = decode_peak
        self.prefill_flops = prefill_flops
        self.decode_flops = decode_flops
        self.overhead = overhead
        self.layers = layers
        self.trace = trace

    def _values(self) -> Tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__[:-1])  # not the callable

    @property
    def peak(self) -> int:
        return max(self.prefill_peak, self.decode_peak)

    def to_dict(self) -> Mapping[str, Any]:
        return {"batch_size": self.batch_size, "prompt_tokens": self.prompt_tokens,
                "cached_tokens": self.cached_tokens, "weights": self.weights, "kv_cache": self.kv_cache,
                "kv_cache_per_token": self.kv_per_token, "prefill_peak": self.prefill_peak,
                "decode_peak": self.decode_peak, "peak": self.peak,
                "flops": {"prefill": self.prefill_flops, "decode_step": self.decode_flops}}


class InferenceError(Exception):
    """The section cannot be applied to this graph."""


# ---------------------------------------------------------------------------
# The graph at another sequence length

def declared_tokens(data: Mapping[str, Any]) -> Optional[int]:
    """The sequence length (dim 0) of the config's first input."""
    shapes = _input_shapes(data)
    return shapes[0][0] if shapes and shapes[0] else None


def _input_shapes(data: Mapping[str, Any]) -> List[List[int]]:
    entries = [data["input"]] if "input" in data else list((data.get("inputs") or {}).values())
    return [list(e["shape"] if isinstance(e, Mapping) else e) for e in entries]


def with_tokens(data: Mapping[str, Any], tokens: int, *, last_logits: bool,
                implementation: Optional[str] = None) -> Mapping[str, Any]:
    """The config with every input's dim 0 (the sequence) set to ``tokens``;
    with ``last_logits`` a final Linear reads the last position only; with
    ``implementation`` every attention layer that names none uses it."""
    data = copy.deepcopy(dict(data))
    if implementation is not None:
        entries = list(data["layers"]) + [e for b in (data.get("blocks") or {}).values() for e in b["layers"]]
        for entry in entries:
            if isinstance(entry, dict) and entry.get("type") == CAUSAL_ATTENTION:
                entry.setdefault("attn_implementation", implementation)

    def resize(entry: Any) -> Any:
        if isinstance(entry, Mapping):
            return dict(entry, shape=resize(entry["shape"]))
        return [tokens] + list(entry[1:]) if entry else entry

    if "input" in data:
        data["input"] = resize(data["input"])
    elif data.get("inputs"):
        data["inputs"] = {name: resize(entry) for name, entry in data["inputs"].items()}
    layers = list(data["layers"])
    last = layers[-1]
    if last_logits and isinstance(last, Mapping) and last.get("type") == "Linear":
        cut: dict = {"type": "Slice", "dim": 1, "start": -1, "name": _SLICE_NAME}
        if "from" in last:
            cut["from"] = last["from"]
        layers[-1:] = [cut, dict(last, **{"from": _SLICE_NAME})]
    data["layers"] = layers
    data.pop("budgets", None)
    return data


def analyse_at(data: Mapping[str, Any], tokens: int, *, last_logits: bool = False,
               implementation: Optional[str] = None) -> Tuple[ShapeAnalysis, Any]:
    """Shapes of the graph at ``tokens`` positions, and its output; raises
    InferenceError with torch's complaint when the graph refuses that length."""
    graph, findings = build_graph(with_tokens(data, tokens, last_logits=last_logits, implementation=implementation))
    if graph is not None:
        shapes, findings = analyze_shapes(graph, {})
        if shapes is not None:
            return shapes, graph.output
    message = next((f.message for f in findings if (f.severity or severity_of(f.code)) == ERROR), "")
    raise InferenceError(f"the graph does not accept {tokens} tokens: {message}")


# ---------------------------------------------------------------------------
# Figures

def _attention_flops(layers: Tuple[CacheLayer, ...], queries: int, keys_of: Any) -> int:
    """q @ k^T and weights @ v per sequence as FlopCounterMode counts them on
    the meta device (the math kernel's bmm, causal or not): 2 * heads *
    queries * keys * (E + Ev)."""
    return sum(2 * layer.query_heads * queries * keys_of(layer) * (layer.key_dim + layer.value_dim)
               for layer in layers)


def _flops_without_attention(shapes: ShapeAnalysis, layers: Tuple[CacheLayer, ...]) -> int:
    cached = {layer.layer for layer in layers}
    return sum(info.result.flops for index, info in enumerate(shapes.layers) if index not in cached)


class InferenceModel:
    """The serving figures of one graph and section for any batch size or
    context (``paramlint fit --inference`` searches over them); the graph is
    analysed once per sequence length asked for."""

    def __init__(self, data: Mapping[str, Any], shapes: ShapeAnalysis, output: Any, setup: InferenceSetup, *,
                 device: DeviceModel = CUDA) -> None:
        self.data = data
        self.setup = setup
        self.device = device
        self.layers = cache_layers(shapes)
        if not self.layers:
            raise InferenceError("no ScaledDotProductAttention layer with is_causal: true: nothing to cache")
        self.declared = declared_tokens(data)
        self._analysed = {}
        if setup.logits == "all" and self.declared is not None and setup.attn_implementation == "sdpa":
            self._analysed[(self.declared, False)] = (shapes, output)

    def _at(self, tokens: int, last_logits: bool) -> Tuple[ShapeAnalysis, Any]:
        key = (tokens, last_logits)
        if key not in self._analysed:
            self._analysed[key] = analyse_at(self.data, tokens, last_logits=last_logits,
                                             implementation=self.setup.attn_implementation)
        return self._analysed[key]

    def estimate(self, batch: Optional[int] = None, *, prompt: Optional[int] = None) -> InferenceEstimate:
        """Figures at ``batch`` sequences and a ``prompt``-token prompt (default: the section's); the cache
        then holds prompt + new_tokens - 1 positions, or context_length when that is larger than the prompt."""
        setup, device = self.setup, self.device
        batch = batch or setup.batch_size
        prompt = prompt or setup.prompt_tokens or self.declared or 1
        cached = setup.cached_tokens(prompt)
        if setup.context_length is not None:
            cached = max(cached, prompt)
        elif cached < prompt:
            raise InferenceError(f"context_length {cached} is shorter than the prompt ({prompt} tokens)")
        layers = self.layers
        prompt_shapes, prompt_output = self._at(prompt, setup.logits == "last")
        step_shapes, step_output = self._at(1, False)
        rounding = device.rounding
        timelines = (prefill_timeline(prompt_shapes, prompt_output, setup, device, prompt),
                     decode_timeline(step_shapes, step_output, setup, device, cached))
        prefill, decode = (simulate(timeline, batch, rounding) for timeline in timelines)
        prefill_flops = (_flops_without_attention(prompt_shapes, cache_layers(prompt_shapes))
                         + _attention_flops(layers, prompt, lambda _: prompt))
        decode_flops = _flops_without_attention(step_shapes, cache_layers(step_shapes)) + _attention_flops(
            layers, 1, lambda layer: layer.attended(cached))
        return InferenceEstimate(
            batch_size=batch, prompt_tokens=prompt, cached_tokens=cached,
            weights=prefill.part("parameters") + prefill.part("buffers"),
            kv_cache=kv_cache_bytes(layers, setup, cached, batch),
            kv_per_token=setup.kv_bytes * sum(layer.per_token for layer in layers),
            prefill_peak=prefill.peak + device.overhead, decode_peak=decode.peak + device.overhead,
            prefill_flops=batch * prefill_flops, decode_flops=batch * decode_flops, overhead=device.overhead,
            layers=layers, trace=lambda: tuple(_trace(timeline, batch, device) for timeline in timelines))


def _trace(timeline: Any, batch: int, device: DeviceModel) -> MemoryTrace:
    points: List[TracePoint] = []
    result = simulate(timeline, batch, device.rounding, trace=points)
    return MemoryTrace(tuple(points), device.overhead, result.peak + device.overhead, result.phase, result.layer)


def estimate_inference(data: Mapping[str, Any], shapes: ShapeAnalysis, output: Any, setup: InferenceSetup, *,
                       device: DeviceModel = CUDA) -> InferenceEstimate:
    """All serving figures for the section.  Raises InferenceError."""
    return InferenceModel(data, shapes, output, setup, device=device).estimate()
