"""Torch as the oracle for the serving peaks (CPU, live storages rounded as CUDA rounds them).

- ``measure_prefill`` / ``measure_decode``: transformers' own model for a
  Hugging Face config (the prefill with ``use_cache=True``; one decode step
  onto a ``DynamicCache`` that a prefill and a first decode step filled, so
  that every cache storage is one a decode step made, as in the steady state
  of ``generate``).
- ``run_as_modules``: a ``paramlint.torch`` model run the way transformers'
  modules run, written here independently of paramlint's memory model: a
  block use is a module call, so its arguments live until it returns; what
  the top level computed before a run of block uses lives until the run
  ends (the parent's locals around its layer loop); a value that two
  readers of its own block use read is a local of that block; each causal
  attention layer hands its key and value to the cache (``torch.cat``) and
  drops them before it attends; the position ids live for the whole pass.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import torch
from torch_memory import LiveStorages

from paramlint.torch import _call_inputs, _unpack

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


# -- transformers' own model -------------------------------------------------------------


def hf_model(config: Dict[str, Any], implementation: str, dtype: str) -> Any:
    import transformers

    fields = dict(config)
    model_type, (cls,) = fields.pop("model_type"), fields.pop("architectures")
    options = {"experts_implementation": "eager"} if model_type == "mixtral" else {}
    hf_config = transformers.AutoConfig.for_model(model_type, **fields, **options)
    torch.manual_seed(0)
    return getattr(transformers, cls)._from_config(hf_config, attn_implementation=implementation,
                                                   dtype=DTYPES[dtype]).eval()


def _tracked(model: Any, *extra: Any) -> LiveStorages:
    tracker = LiveStorages()
    tracker.track(list(model.parameters()), list(model.buffers()), *extra)
    tracker.reset_peak()
    return tracker


def measure_prefill(model: Any, *, batch: int, prompt: int, logits: str) -> int:
    ids = torch.randint(0, model.config.vocab_size, (batch, prompt))
    tracker = _tracked(model, ids)
    with torch.no_grad(), tracker:
        model(ids, use_cache=True, logits_to_keep=1 if logits == "last" else 0)
    return tracker.peak


def measure_decode(model: Any, *, batch: int, prompt: int) -> int:
    """The peak of one decode step onto a cache of prompt + 1 positions: after the prompt, one token, so
    that a sliding layer's cache is a view of a window that a decode step made (then the measured one)."""
    step = torch.zeros(batch, 1, dtype=torch.int64)
    with torch.no_grad():
        cache = model(torch.randint(0, model.config.vocab_size, (batch, prompt)), use_cache=True,
                      logits_to_keep=1).past_key_values
        if any(getattr(layer, "is_sliding", False) for layer in cache.layers):
            model(step, cache=cache, use_cache=True, logits_to_keep=1)
        else:  # the same sizes without a forward pass: one more position in each layer
            for layer in cache.layers:
                layer.keys = torch.cat([layer.keys, layer.keys[..., -1:, :]], dim=-2)
                layer.values = torch.cat([layer.values, layer.values[..., -1:, :]], dim=-2)
    kept = [getattr(layer, name) for layer in cache.layers for name in ("keys", "values", "_sliding_window_tensor")
            if getattr(layer, name, None) is not None]
    tracker = _tracked(model, step, kept)
    del kept  # the cache alone holds them: each is freed when its layer's update replaces it
    with torch.no_grad(), tracker:
        model(step, cache=cache, use_cache=True, logits_to_keep=1)
    return tracker.peak


# -- a format-1 model run as modules ----------------------------------------------------------


class Cache:
    """DynamicLayer's update for each causal attention layer: cat onto the cache, keep the last
    window - 1 positions (a view) for a sliding layer, return the whole."""

    def __init__(self) -> None:
        self.keys: Dict[int, Any] = {}
        self.values: Dict[int, Any] = {}

    def update(self, index: int, key: Any, value: Any, window: Optional[int]) -> Tuple[Any, Any]:
        empty = key.new_empty(key.shape[:-2] + (0,) + key.shape[-1:])
        full_key = torch.cat([self.keys.get(index, empty), key], dim=-2)
        if window is None:
            self.keys[index] = full_key
        full_value = torch.cat([self.values.get(index, empty), value], dim=-2)
        if window is None:
            self.values[index] = full_value
        else:
            self.keys[index] = full_key[..., -window + 1:, :]
            self.values[index] = full_value[..., -window + 1:, :]
        return full_key, full_value


def _key(source: Any) -> Any:
    return ("input", source.input_name) if source.node is None else (source.node, source.output)


def _lifetimes(nodes: List[Any]) -> Dict[Any, int]:
    """Value -> the position after which nothing holds it."""
    by_index = {node.index: node for node in nodes}
    position = {node.index: p for p, node in enumerate(nodes)}
    ends: Dict[Tuple, int] = {}
    for p, node in enumerate(nodes):
        for depth in range(1, len(node.frames) + 1):
            ends[tuple(node.frames[:depth])] = p
    run_end: Dict[int, Tuple[int, int]] = {}
    p = 0
    while p < len(nodes):
        if nodes[p].frames:
            q = p
            while q + 1 < len(nodes) and nodes[q + 1].frames:
                q += 1
            for member in range(p, q + 1):
                run_end[member] = (p, q)
            p = q + 1
        else:
            p += 1
    until: Dict[Any, int] = {}
    readers: Dict[Any, set] = {}
    for p, node in enumerate(nodes):
        inner = tuple(node.frames)
        for source in node.sources:
            key = _key(source)
            last = p
            made = tuple(by_index[source.node].frames) if source.node is not None else None
            if made is not None:
                entered = next((inner[:d] for d in range(1, len(inner) + 1) if inner[:d] != made[:d]), None)
                if entered is not None:
                    last = max(last, ends[entered])
                if not made and p in run_end and position[source.node] < run_end[p][0]:
                    last = max(last, run_end[p][1])
                if inner[:len(made)] == made:
                    readers.setdefault(key, set()).add(inner[:len(made) + 1] if len(inner) > len(made) else p)
            until[key] = max(until.get(key, -1), last)
    for key, who in readers.items():
        made = tuple(by_index[key[0]].frames)
        if len(who) > 1 and made:
            until[key] = max(until[key], ends[made])
    return until


def run_as_modules(model: Any, inputs: List[Any], cache: Cache) -> Any:
    steps = model._steps
    nodes = [node for node, _, _ in steps]
    until = _lifetimes(nodes)
    output = _key(model._output)
    values: Dict[Any, Any] = {("input", name): tensor for name, tensor in zip(model.input_names, inputs)}
    dying: Dict[int, List[Any]] = {}
    for key, last in until.items():
        if key[0] != "input" and key != output:
            dying.setdefault(last, []).append(key)
    attention = 0
    for p, (node, module, kwargs) in enumerate(steps):
        args = list(_call_inputs(node, [values[_key(s)] for s in node.sources]))
        for key in dying.get(p, ()):
            values.pop(key, None)
        if node.type == "ScaledDotProductAttention" and node.args.get("is_causal"):
            query, key, value = args
            del args
            key, value = cache.update(attention, key, value, getattr(module, "window", None))
            attention += 1
            result = module(query, key, value, **kwargs)
            del query, key, value
        else:
            result = module(*args, **kwargs)
            del args
        for number, tensor in enumerate(_unpack(node.type, result)):
            if (node.index, number) in until or (node.index, number) == output:
                values[(node.index, number)] = tensor
        del result
    return values[output]
