"""What language models add to the catalogue: ``RotaryEmbedding``,
``ApplyRotary`` and ``Experts`` (mixture-of-experts feed-forward); their
buffers (position ids, an embedding scale) are ``Buffer`` layers
(paramlint/model/layers/tensor_ops.py).

These are the pieces of Hugging Face decoders that no ``torch.nn`` class
covers; each is exact against the transformers module it stands for:

- ``RotaryEmbedding``: transformers' rotary module, once per model: the cos
  and sin tables ``[seq, dim]`` for positions ``0 .. seq-1`` (outputs 0 and
  1, not batched), and its two non-persistent buffers ``inv_freq`` and
  ``original_inv_freq`` of ``ceil(dim / 2)`` values each.  FLOPs 0 (the
  frequencies times the positions is a matmul with an inner size of 1, which
  torch runs as a broadcast multiply).
- ``ApplyRotary``: ``apply_rotary_pos_emb`` (the rotate-half convention) on
  ``from: [x, cos, sin]``: the first ``dim`` features of ``x [..., seq,
  head_dim]`` are rotated, the rest pass through (partial rotary, Phi-3).
  What it saves for backward is the shared tables.  FLOPs 0: elementwise.
  Its output lies in memory as ``x`` does, unless it ends in ``torch.cat``
  (features pass through, or ``concatenate``: Phi-3 always concatenates),
  which matters where the attention after it writes in the query's layout.
  Running, it holds three temporaries of the rotated size at once (the
  serving timelines count them: paramlint/memory/serving_steps.py).
- ``Experts``: transformers' fused experts (``MixtralExperts``): for each
  token the ``top_k`` experts its router chose, each a gated MLP
  ``down(act(x @ gate) * (x @ up))``; inputs ``[x, router_logits]``.
  Parameters ``gate_up_proj [E, 2 * I, H]`` and ``down_proj [E, H, I]``.
  Every token goes to ``top_k`` distinct experts, so the FLOPs do not depend
  on the routing: ``2 * top_k * 3 * H * I`` per token.  Under autocast the
  per-expert linears run in half on the gathered rows (their casts, outputs
  and each expert's weight slice cast are half, kept for backward) while
  the router's weights and the output stay in the input's dtype
  (memory/precision.py, ``AUTOCAST_INSIDE``); the weight casts assume every
  expert receives a token, as it does once tokens x top_k is large against
  the experts.  Not modelled: the backward of the loop makes a full-size
  gradient of each weight per expert (``select_backward``) and sums them
  one by one, beside per-expert gradients whose sizes follow the routing;
  a step whose peak falls there is under-predicted (tests/test_huggingface_peak.py).
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence, Tuple

from .base import Arg, LayerDef, LayerError, LayerResult, SavedTensor, TensorSpec, check_inferred


def _infer_rotary(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    if not x.is_float:
        raise LayerError(f"RotaryEmbedding needs a floating-point input, got {x.dtype}", code="PL404")
    if not x.shape:
        raise LayerError("RotaryEmbedding expects [seq, features] per sample, got a scalar", code="PL401")
    dim, seq = args["dim"], (x.shape[-2] if len(x.shape) > 1 else x.shape[0])
    frequencies = ((dim + 1) // 2,)  # torch.arange(0, dim, 2)
    table = TensorSpec((seq, 2 * frequencies[0]), x.dtype, batched=False)
    return LayerResult((table, table), buffers={"inv_freq": (frequencies, "float32"),
                                                "original_inv_freq": (frequencies, "float32")},
                       args=dict(args))


def _infer_apply_rotary(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x, cos, sin = inputs
    if not x.is_float:
        raise LayerError(f"ApplyRotary needs a floating-point input, got {x.dtype}", code="PL404")
    if len(x.shape) < 2:
        raise LayerError(f"ApplyRotary expects [..., seq, head_dim] per sample, got {x.describe()}", code="PL401")
    if cos.batched or sin.batched or cos.shape != sin.shape or len(cos.shape) != 2:
        raise LayerError("ApplyRotary needs `from: [x, cos, sin]`, the two [seq, dim] tables of a RotaryEmbedding",
                         code="PL401")
    (seq, dim), head_dim = cos.shape, x.shape[-1]
    if seq != x.shape[-2]:
        raise LayerError(f"ApplyRotary: the tables cover {seq} positions, the input has {x.shape[-2]}", code="PL401")
    if dim > head_dim:
        raise LayerError(f"ApplyRotary: the tables rotate {dim} features, but the input has only {head_dim}",
                         code="PL401")
    # q * cos and rotate_half(q) * sin keep the model's cos and sin tables (one storage each, shared).
    saved = (SavedTensor("input", cos.numel, cos.dtype, index=1, per_sample=False),
             SavedTensor("input", sin.numel, sin.dtype, index=2, per_sample=False))
    return LayerResult((x.with_shape(x.shape),), saved=saved, args=dict(args))


def _infer_experts(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x, logits = inputs
    experts, inner, top_k = args["num_experts"], args["intermediate_size"], args["top_k"]
    if not x.shape:
        raise LayerError("Experts needs [tokens, hidden] per sample, got a scalar", code="PL401")
    hidden = check_inferred("hidden_size", args["hidden_size"], x.shape[-1], "its input")
    if not logits.shape or logits.shape[-1] != experts:
        raise LayerError(f"Experts: the router gives {logits.shape[-1] if logits.shape else 0} logits per token, "
                         f"but there are {experts} experts", code="PL401")
    if top_k > experts:
        raise LayerError(f"`top_k` {top_k} is more than the {experts} experts", arg="top_k")
    tokens = math.prod(x.shape[:-1])
    params = {"gate_up_proj": (experts, 2 * inner, hidden), "down_proj": (experts, hidden, inner)}
    flops = 2 * tokens * top_k * 3 * hidden * inner
    return LayerResult((x.with_shape(x.shape),), params, flops=flops, args=dict(args, hidden_size=hidden),
                       saved=_experts_saved(tokens, experts, top_k, hidden, inner, x.dtype))


def _experts_saved(tokens: int, experts: int, top_k: int, hidden: int, inner: int, dtype: str) -> Tuple[SavedTensor, ...]:
    """What the routed loop keeps: the router's float32 softmax, top-k indices, their sum and values; then
    per (token, chosen expert) pair, which add up to ``tokens * top_k`` whatever the routing: the
    ``torch.where`` indices (two int64), the gathered input, the gate/up output, the activation, the
    gated product, the routing weight, the expert output and its weighted copy."""
    pairs = tokens * top_k
    return (SavedTensor("new", tokens * experts, "float32", stats=True),
            SavedTensor("new", tokens * top_k, "int64", stats=True),
            SavedTensor("new", tokens, "float32", stats=True),
            SavedTensor("new", tokens * top_k, "float32", stats=True),
            SavedTensor("new", 2 * pairs, "int64", stats=True),
            SavedTensor("new", pairs * hidden, dtype),
            SavedTensor("new", pairs * 2 * inner, dtype),
            SavedTensor("new", pairs * inner, dtype),
            SavedTensor("new", pairs * inner, dtype),
            SavedTensor("new", pairs, "float32", stats=True),
            SavedTensor("new", pairs * hidden, dtype),
            SavedTensor("new", pairs * hidden, "float32", stats=True))


def idle_expert_params(layers: Iterable[Tuple[str, Mapping[str, Any]]]) -> int:
    """Of ``(type, resolved args)`` layers, the expert parameters one token does not use (all experts
    but its ``top_k`` in each ``Experts`` layer): total minus this is the active count per token."""
    return sum((args["num_experts"] - args["top_k"]) * 3 * args["hidden_size"] * args["intermediate_size"]
               for layer_type, args in layers if layer_type == "Experts")


LAYERS = (
    LayerDef("RotaryEmbedding", "language", {
        "dim": Arg("pos_int", doc="rotated features per head (head_dim, or head_dim x partial_rotary_factor)"),
        "base": Arg("pos_number", 10000.0, "rope_theta, the base of the frequencies"),
    }, _infer_rotary,
        doc="transformers' rotary module (LlamaRotaryEmbedding): the cos and sin tables [seq, dim] (NAME.0, "
            "NAME.1) at positions 0..seq-1 of its input [seq, features]; buffers inv_freq and original_inv_freq."),
    LayerDef("ApplyRotary", "language", {
        "concatenate": Arg("bool", False, "concatenate the rotated and the passed-through features even when none "
                                          "pass through (Phi-3's apply_rotary_pos_emb): a new contiguous tensor "
                                          "rather than one in x's memory layout"),
    }, _infer_apply_rotary, min_inputs=3, max_inputs=3,
             doc="transformers' apply_rotary_pos_emb (rotate-half) on `from: [x, cos, sin]`: x [..., seq, head_dim], "
                 "its first `dim` features rotated by the RotaryEmbedding tables, the rest passed through."),
    LayerDef("Experts", "language", {
        "num_experts": Arg("pos_int", doc="experts (num_local_experts)"),
        "intermediate_size": Arg("pos_int", doc="width of each expert's gated MLP"),
        "top_k": Arg("pos_int", 2, "experts per token (num_experts_per_tok)"),
        "hidden_size": Arg("opt_pos_int", None, "model width; inferred from the input's last dimension"),
        "activation": Arg("enum", "silu", "the gate's activation", ("silu", "gelu", "gelu_pytorch_tanh")),
    }, _infer_experts, min_inputs=2, max_inputs=2,
        doc="Mixture-of-experts feed-forward on `from: [x, router_logits]` (transformers' fused experts): each "
            "token through its top_k experts' gated MLPs. Parameters gate_up_proj [E, 2I, H], down_proj [E, H, I]."),
)
