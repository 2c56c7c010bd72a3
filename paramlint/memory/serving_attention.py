"""Causal attention while serving: the cache layers of a graph, and what
transformers' attention (5.25) allocates beyond the graph's own layer.

Every ``ScaledDotProductAttention`` with ``is_causal: true`` is a cache
layer: it caches its key and value inputs (``[..., kv_heads, seq,
head_dim]`` per sample; grouped-query heads are cached unrepeated).

Beyond the graph's layer, per sequence, with ``q`` queries, ``k`` keys,
``H`` query heads and ``b`` bytes per element of the model's dtype:

- ``eager`` (``eager_attention_forward``): ``repeat_kv`` copies key and
  value to ``H`` heads when they are grouped, for the whole call; the scores
  ``H x q x k`` peak at 8 bytes each in float32 (``matmul * scale`` and
  ``+ mask`` hold two copies) and 10 in half precision (the scores,
  softmax's float32 copy of its input and its float32 result: ATen converts
  before the kernel, except CUDA's float16 fast path: 2 + 4 + 2), each
  tensor its own allocation; then the output beside the weights in the
  model's dtype, which the attention module returns and the decoder layer
  holds until it returns (``hidden_states, _ = self.self_attn(...)``);
- ``sdpa`` with a mask (a sliding-window layer that sees ``k >= window``
  keys): ``repeat_kv``'s copies when grouped (``enable_gqa`` needs no
  mask; one decoded query packs the heads instead) and the kernel's
  floating-point copy of the boolean mask, ``[N, 1, q, k]`` as transformers
  expands it to the batch; without a mask
  (``is_causal``) nothing beyond the graph's layer.

The masks, made once before the first layer (``model_masks``): for eager
attention an additive ``[N, 1, q, k]`` mask in the model's dtype for the
full and one for the sliding-window layers; for sdpa a boolean ``[1, 1, q,
k]`` mask for the sliding-window layers that see at least ``window`` keys,
none for full attention (``is_causal``).
"""
from __future__ import annotations

from typing import Callable, Optional, Tuple

from ..core.record import Record
from ..model.analysis import ShapeAnalysis
from ..model.inference_setup import InferenceSetup
from .plan import ACTIVATIONS, TRANSIENT, Storages
from .precision import DeviceModel

CAUSAL_ATTENTION = "ScaledDotProductAttention"


class CacheLayer(Record):
    """One causal attention layer's cache: values per token per sequence
    (key and value), the sliding window (None: full attention), and the
    attention's query heads and head sizes (for the FLOPs)."""

    __slots__ = ("layer", "label", "key_per_token", "value_per_token", "window", "query_heads", "key_dim",
                 "value_dim", "eager")

    def __init__(self, layer: int, label: str, key_per_token: int, value_per_token: int, window: Optional[int],
                 query_heads: int, key_dim: int, value_dim: int, eager: bool = False) -> None:
        self.layer = layer
        self.label = label
        self.key_per_token = key_per_token
        self.value_per_token = value_per_token
        self.window = window
        self.query_heads = query_heads
        self.key_dim = key_dim
        self.value_dim = value_dim
        self.eager = eager

    @property
    def per_token(self) -> int:
        return self.key_per_token + self.value_per_token

    @property
    def grouped(self) -> bool:
        return bool(self.key_dim) and self.key_per_token // self.key_dim != self.query_heads

    def retained(self, tokens: int) -> int:
        """Positions the cache tensor holds after ``tokens`` have been seen
        (transformers slices ``[-window + 1:]``, which keeps all for window 1)."""
        if self.window is None or self.window <= 1:
            return tokens
        return min(tokens, self.window - 1)

    def attended(self, tokens: int) -> int:
        """Keys one new token attends to with ``tokens`` positions seen (itself included)."""
        return tokens if self.window is None else min(tokens, self.window)

    def masked(self, keys: int) -> bool:
        """Whether sdpa gets a mask (transformers skips it unless a window cuts the keys)."""
        return self.window is not None and keys >= self.window


def cache_layers(shapes: ShapeAnalysis) -> Tuple[CacheLayer, ...]:
    """The causal attention layers of the graph, in order."""
    layers = []
    for index, info in enumerate(shapes.layers):
        if info.node.type != CAUSAL_ATTENTION or not info.result.args.get("is_causal"):
            continue
        query, key, value = info.inputs
        if not key.batched or len(key.shape) < 2:
            continue  # a key shared by the whole batch is not cached per sequence
        per_key = key.numel // key.shape[-2] if key.shape[-2] else 0
        per_value = value.numel // value.shape[-2] if value.shape[-2] else 0
        heads = query.numel // (query.shape[-2] * query.shape[-1]) if query.shape[-2] and query.shape[-1] else 0
        layers.append(CacheLayer(index, f"{info.node.type} `{info.node.trace}`", per_key, per_value,
                                 info.result.args.get("window"), heads, query.shape[-1], value.shape[-1],
                                 info.result.args.get("attn_implementation") == "eager"))
    return tuple(layers)


def score_bytes(setup: InferenceSetup, device: DeviceModel) -> Tuple[int, ...]:
    """Bytes per attention score of each tensor eager attention holds at its peak: in float32 the scores
    twice (``matmul * scale``, ``+ mask``); in half precision the masked scores, softmax's float32 copy of
    them and its float32 result, or on CUDA in float16 the result and its half copy."""
    if setup.dtype == "fp32":
        return (4, 4)
    if setup.dtype == "fp16" and device.name == "cuda":
        return (2, 4, 2)
    return (2, 4, 4)


def attention_work(storages: Storages, layer: CacheLayer, setup: InferenceSetup, device: DeviceModel, *,
                   queries: int, keys: int) -> Tuple[Tuple[int, ...], Tuple[int, ...], Tuple[int, ...]]:
    """What attention holds beyond the graph's layer, as tuples of transient storages: at its peak before
    the output exists; beside the output; and what it returns (eager's weights, which the decoder layer
    holds until it returns)."""
    dtype_bytes = setup.weight_bytes
    repeats: Tuple[Callable[[], int], ...] = ()
    if layer.grouped and (layer.eager or (layer.masked(keys) and queries > 1)):
        repeats = tuple((lambda dim=dim: _transient(storages, dtype_bytes * layer.query_heads * keys * dim))
                        for dim in (layer.key_dim, layer.value_dim))
    scores = layer.query_heads * queries * keys
    if layer.eager:
        work = tuple(_transient(storages, size * scores) for size in score_bytes(setup, device))
        work += tuple(make() for make in repeats)
        return work, tuple(make() for make in repeats), (_transient(storages, dtype_bytes * scores),)
    logsumexp = _transient(storages, 4 * layer.query_heads * queries)
    if layer.masked(keys):
        mask = _transient(storages, dtype_bytes * queries * keys)  # of the mask expanded to the batch
        return (), (mask, logsumexp) + tuple(make() for make in repeats), ()
    return (), (logsumexp,), ()


def model_masks(storages: Storages, layers: Tuple[CacheLayer, ...], setup: InferenceSetup, *, queries: int,
                keys_of: Callable[[CacheLayer], int]) -> Tuple[int, ...]:
    """The masks transformers makes before the first layer (one per kind of layer that needs one)."""
    eager = {layer.window is not None: keys_of(layer) for layer in layers if layer.eager}
    made = tuple(storages.new(setup.weight_bytes * queries * keys, "bool", True, ACTIVATIONS)
                 for keys in eager.values())
    sliding = [keys_of(layer) for layer in layers if not layer.eager and layer.masked(keys_of(layer))]
    if sliding:
        made += (storages.new_fixed(queries * sliding[0], ACTIVATIONS),)
    return made


def _transient(storages: Storages, per_sequence: int) -> int:
    return storages.new(per_sequence, "bool", True, TRANSIENT)

