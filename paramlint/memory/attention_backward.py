"""Backward FLOPs of the attention layers, as FlopCounterMode counts them on ``meta``.

There the attention core runs as two matrix products, scores = q @ k^T and
out = weights @ v, and a product's backward multiplies by one operand for
each *other* operand that needs a gradient: the scores' backward counts once
for q's gradient and once for k's; the output's once for v's and once for
the weights' (which need one when q or k does).  Every projection is a
Linear: once for its input's gradient, once for its weight's.
MultiheadAttention and the Transformer layers are chains of these, with a
LayerNorm (trainable in a trainable layer) before or after each part.
"""
from __future__ import annotations

from typing import Optional, Sequence

from ..model.layers.attention import sdpa_flops


def core_backward(scores: int, output: int, q: bool, k: bool, v: bool, mask: bool = False) -> int:
    """The attention core's backward, from the forward FLOPs of its two products
    and which of q, k, v (and an additive float mask) need a gradient."""
    weights = q or k or mask
    return scores * (q + k) + output * (weights + v)


def mha_backward(query_len: int, key_len: int, embed: int, kdim: int, vdim: int, attended: int,
                 grads: Sequence[bool], trainable: bool) -> int:
    """MultiheadAttention on query, key and value inputs, ``grads`` saying which
    need a gradient (a self-attention layer's single input is all three)."""
    projections = (2 * query_len * embed * embed, 2 * key_len * kdim * embed, 2 * key_len * vdim * embed)
    total = sum(flops * (grad + trainable) for flops, grad in zip(projections, grads))
    q, k, v = (grad or trainable for grad in grads)
    core = sdpa_flops(1, 1, query_len, attended, embed, 0)  # each product: [L, E] x [E, S] or [L, S] x [S, E]
    total += core_backward(core, core, q, k, v)
    if q or k or v:  # the output projection's input, the attention output
        total += 2 * query_len * embed * embed * (1 + trainable)
    return total


def block_backward(length: int, memory_len: Optional[int], d_model: int, feedforward: int, norm_first: bool,
                   grad: bool, memory_grad: bool, trainable: bool) -> int:
    """One TransformerEncoderLayer (``memory_len`` None) or TransformerDecoderLayer:
    self-attention, attention to the memory, the feed-forward pair; ``grad``
    and ``memory_grad`` say whether its input and its memory need a gradient."""
    attention_input = grad or (trainable and norm_first)  # norm_first: a trainable LayerNorm's output
    total = mha_backward(length, length, d_model, d_model, d_model, length, (attention_input,) * 3, trainable)
    grad = grad or trainable
    if memory_len is not None:
        total += mha_backward(length, memory_len, d_model, d_model, d_model, memory_len,
                              (grad, memory_grad, memory_grad), trainable)
        grad = grad or memory_grad
    if grad:
        total += 2 * length * d_model * feedforward * (1 + trainable) * 2
    return total


def transformer_backward(src_len: int, tgt_len: int, d_model: int, feedforward: int, norm_first: bool,
                         encoders: int, decoders: int, grads: Sequence[bool], trainable: bool) -> int:
    """torch.nn.Transformer: the encoder stack on src, the decoder stack on tgt and the memory."""
    memory, tgt = grads
    total = 0
    for _ in range(encoders):
        total += block_backward(src_len, None, d_model, feedforward, norm_first, memory, False, trainable)
        memory = memory or trainable
    for _ in range(decoders):
        total += block_backward(tgt_len, src_len, d_model, feedforward, norm_first, tgt, memory, trainable)
        tgt = tgt or memory or trainable
    return total
