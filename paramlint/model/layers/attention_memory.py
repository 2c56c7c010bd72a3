"""What MultiheadAttention and the Transformer layers save for backward.

Measured with ``torch.autograd.graph.saved_tensors_hooks`` on torch 2.13
(unique storages, parameters excluded, batch > 1) and modelled here per
sample for the fused-attention path that CUDA takes in training (flash or
memory-efficient ``scaled_dot_product_attention``, dropout inside the
kernel).  The CPU takes the same path when dropout is 0, and there the model
matches the measurement byte for byte; with attention dropout the CPU falls
back to its math kernel and saves the [heads, L, S] matrices as well.

The pieces, per sample (E = embed_dim, h = heads, S' = S plus the bias_k and
zero-attention keys):

- batch_first makes every projection input a transposed view, which
  ``linear`` copies and saves (a length-1 sequence is saved as it is): L*E
  for the query, S*kdim for a separate key, S*vdim for a separate value
  (a shared key_value is copied twice when kdim or vdim differ from E);
- the projections of q, k and v (self-attention: one packed 3*L*E storage),
  except those replaced by the bias_k / zero-attention concatenations, which
  save two new S'*E tensors instead;
- fused kernel: its output (L*E, also the out-projection's input) and the
  fp32 logsumexp (h*L; CUDA's memory-efficient kernel pads L to a multiple of
  32);
- need_weights: the scaled query (L*E), the softmax (h*L*S'), with dropout a
  bool mask and the dropped weights (h*L*S' each), and the out-projection's
  input copy (L*E); the query projection is not kept there.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

from .base import SavedTensor

STATS = "float32"  # LayerNorm's mean/rstd and the attention logsumexp


def _projection_input(numel: int, length: int, index: int, dtype: str) -> SavedTensor:
    """The transposed input a projection saves: a copy, except for a sequence
    of length 1, whose transposed view is already contiguous."""
    return SavedTensor("input", numel, dtype, index) if length == 1 else SavedTensor("new", numel, dtype)


def mha_saved(query_len: int, key_len: int, embed_dim: int, kdim: int, vdim: int, heads: int, *, inputs: int,
              extra_keys: int, need_weights: bool, dropout: float, dtype: str) -> List[SavedTensor]:
    """MultiheadAttention called with 1 (self), 2 ([q, kv]) or 3 inputs."""
    L, S, E = query_len, key_len, embed_dim
    attended = S + extra_keys
    separate = kdim != E or vdim != E
    saved = [_projection_input(L * E, L, 0, dtype)]
    if inputs >= 2:
        saved.append(_projection_input(S * kdim, S, 1, dtype))
    if inputs == 3 or (inputs == 2 and separate):  # separate weights project a shared key_value twice
        saved.append(_projection_input(S * vdim, S, inputs - 1, dtype))
    if extra_keys:
        saved += [SavedTensor("new", attended * E, dtype), SavedTensor("new", attended * E, dtype)]
        if inputs == 1 and not need_weights:
            saved.append(SavedTensor("new", 3 * L * E, dtype))  # q keeps the packed storage alive
        elif not need_weights:
            saved.append(SavedTensor("new", L * E, dtype))
    elif inputs == 1:
        saved.append(SavedTensor("new", 3 * L * E, dtype))
    else:
        saved.append(SavedTensor("new", 2 * S * E, dtype))  # k and v (one storage or two)
        if not need_weights:
            saved.append(SavedTensor("new", L * E, dtype))
    if need_weights:
        saved += [SavedTensor("new", L * E, dtype), SavedTensor("new", heads * L * attended, dtype)]
        if 0 < dropout < 1:
            saved += [SavedTensor("new", heads * L * attended, "bool"),
                      SavedTensor("new", heads * L * attended, dtype)]
        saved.append(SavedTensor("new", L * E, dtype))
    else:
        saved += [SavedTensor("new", L * E, dtype), SavedTensor("new", heads * L, STATS, stats=True)]
    return saved


def layer_norm_saved(numel: int, rows: int, dtype: str, source: Optional[Tuple[str, int]] = None) -> List[SavedTensor]:
    """LayerNorm: its input (shared when ``source`` names the layer input) and mean/rstd."""
    kind, index = source or ("new", 0)
    return [SavedTensor(kind, numel, dtype, index), SavedTensor("new", rows, STATS, stats=True),
            SavedTensor("new", rows, STATS, stats=True)]


def block_saved(length: int, memory_len: Optional[int], d_model: int, heads: int, feedforward: int, *,
                dropout: float, activation: str, norm_first: bool, dtype: str,
                input_index: Optional[int] = 0) -> List[SavedTensor]:
    """One TransformerEncoderLayer (``memory_len`` None) or decoder layer.

    ``input_index`` is the layer's input among the module's inputs, or None
    when the layer input is made inside the module (a Transformer's later
    layers), so that a pre-norm's saved input is counted as new there.
    """
    L, E = length, d_model
    source = ("input", input_index) if input_index is not None else ("new", 0)
    drop = 0 < dropout < 1
    saved: List[SavedTensor] = []
    attention = [("self", L)] + ([("cross", memory_len)] if memory_len is not None else [])
    for number, (kind, key_len) in enumerate(attention):
        if norm_first:
            saved += layer_norm_saved(L * E, L, dtype, source if number == 0 else None)
        saved += mha_saved(L, key_len, E, E, E, heads, inputs=1 if kind == "self" else 2, extra_keys=0,
                           need_weights=False, dropout=dropout, dtype=dtype)
        if drop:
            saved.append(SavedTensor("new", L * E, "bool"))
        if not norm_first:
            saved += layer_norm_saved(L * E, L, dtype)  # the residual sum x + attention
    if norm_first:
        saved += layer_norm_saved(L * E, L, dtype)
    saved.append(SavedTensor("new", L * E, dtype))  # linear1's input: the norm's output
    saved.append(SavedTensor("new", L * feedforward, dtype))  # relu's output or gelu's input
    if activation == "gelu" or drop:
        saved.append(SavedTensor("new", L * feedforward, dtype))  # linear2's input
    if drop:
        saved += [SavedTensor("new", L * feedforward, "bool"), SavedTensor("new", L * E, "bool")]
    if not norm_first:
        saved += layer_norm_saved(L * E, L, dtype)
    return saved


def sdpa_saved(*, fused: bool, inputs: Tuple[int, int, int], batched: Tuple[bool, bool, bool], grouped: Tuple[int, int],
               scores: int, output: int, logsumexp: int, dropout: float, dtype: str,
               value_copied: bool = False) -> List[SavedTensor]:
    """scaled_dot_product_attention, element counts per sample.

    fused (flash / memory-efficient kernels: 4-d inputs with equal batch and
    heads, E == Ev): the inputs, the output and the fp32 logsumexp.  math
    kernel: the scaled query and key (``grouped``: key and value sizes after
    enable_gqa's repeat), the softmax (``scores`` elements), the value (a new
    tensor when repeated), and with dropout a bool mask and the dropped
    weights.  The value is kept as ``weights @ value`` folds it to 3-d
    (``reshape(-1, S, Ev)``): a view of the input where its leading dims
    (batch included) lie one after the other, else a copy
    (``value_copied``: a ``Select`` of a permuted qkv tensor in windowed
    attention).  Measured on the CPU without broadcasting; where leading dims
    broadcast, torch saves expanded copies and this is an approximation.
    """
    def shared(index: int) -> SavedTensor:
        return SavedTensor("input", inputs[index], dtype, index, per_sample=batched[index])

    if fused:
        return [shared(0), shared(1), shared(2), SavedTensor("output", output, dtype),
                SavedTensor("new", logsumexp, STATS, stats=True)]
    saved = [SavedTensor("new", inputs[0], dtype, per_sample=batched[0]), SavedTensor("new", grouped[0], dtype),
             SavedTensor("new", scores, dtype),
             shared(2) if grouped[1] == inputs[2] and not value_copied else SavedTensor("new", grouped[1], dtype)]
    if 0 < dropout < 1:
        saved += [SavedTensor("new", scores, "bool"), SavedTensor("new", scores, dtype)]
    return saved


def eager_saved(*, inputs: Tuple[int, int, int], contiguous: Tuple[bool, bool, bool], grouped: Tuple[int, int],
                scores: int, dropout: float, dtype: str) -> List[SavedTensor]:
    """transformers' eager attention (``eager_attention_forward``), per sample:
    ``repeat_kv`` (a new key and value with the query's heads when grouped),
    ``matmul(q, k^T) * scale``, the causal mask added, ``softmax(dtype=float32)
    .to(dtype)``, dropout, ``matmul(weights, v)``.  Saved: the query and key
    as the first matmul folds them to 3-d (a copy unless their batch and
    heads dims fold into one: here, unless contiguous), the float32 softmax,
    its half copy (half compute only) or with dropout the mask and the dropped
    weights, and the value as the second matmul folds it.  Measured against
    transformers' LlamaAttention (eager minus sdpa, fp32 and bf16, grouped or
    not) and the torch bridge (tests/test_inference.py)."""
    def folded(index: int, repeated: int) -> SavedTensor:
        if repeated != inputs[index]:
            return SavedTensor("new", repeated, dtype)  # repeat_kv's copy, contiguous
        return SavedTensor("input", inputs[index], dtype, index) if contiguous[index] \
            else SavedTensor("new", inputs[index], dtype)

    saved = [folded(0, inputs[0]), folded(1, grouped[0]), SavedTensor("new", scores, STATS, stats=True)]
    if 0 < dropout < 1:
        saved += [SavedTensor("new", scores, "bool"), SavedTensor("new", scores, dtype)]
    else:
        saved.append(SavedTensor("new", scores, dtype, half_only=True))
    saved.append(folded(2, grouped[1]))
    return saved
