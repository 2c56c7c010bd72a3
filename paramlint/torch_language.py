"""The torch side of paramlint's language-model layers
(``RotaryEmbedding``, ``ApplyRotary``, ``Experts``, and transformers' float32
``RMSNorm`` variants), for :mod:`paramlint.torch`.

Each computes what the transformers code it stands for computes, so that
counts, FLOPs and saved tensors can be compared against torch.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

import torch
from torch import nn

_ACTIVATIONS = {"silu": nn.functional.silu, "gelu": nn.functional.gelu,
                "gelu_pytorch_tanh": lambda x: nn.functional.gelu(x, approximate="tanh")}


class RotaryEmbedding(nn.Module):
    """transformers' rotary module: cos and sin tables for positions 0..seq-1 of its input [N, seq, features],
    in the input's dtype, computed in float32 without gradients."""

    def __init__(self, dim: int, base: float = 10000.0) -> None:
        super().__init__()
        self.dim, self.base = dim, base
        inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.register_buffer("original_inv_freq", inv_freq.clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        seq = x.shape[-2]
        with torch.no_grad():
            freqs = torch.outer(torch.arange(seq, device=x.device, dtype=torch.float32), self.inv_freq.float())
            angles = torch.cat((freqs, freqs), dim=-1)
            return angles.cos().to(x.dtype), angles.sin().to(x.dtype)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, base={self.base}"


class ApplyRotary(nn.Module):
    """transformers' ``apply_rotary_pos_emb`` (rotate-half) on one tensor with the model's tables;
    ``concatenate``: Phi-3's, which concatenates the passed-through features even when there are none."""

    def __init__(self, concatenate: bool = False) -> None:
        super().__init__()
        self.concatenate = concatenate

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        dim = cos.shape[-1]
        rotated, rest = x[..., :dim], x[..., dim:]
        out = (rotated * cos) + (_rotate_half(rotated) * sin)  # the same temporaries, in the same order
        return torch.cat((out, rest), dim=-1) if rest.shape[-1] or self.concatenate else out


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Experts(nn.Module):
    """transformers' fused experts (``MixtralExperts``) with its top-k softmax router's choice."""

    def __init__(self, num_experts: int, intermediate_size: int, top_k: int = 2, activation: str = "silu",
                 hidden_size: int = 0) -> None:
        super().__init__()
        self.num_experts, self.top_k = num_experts, top_k
        self.act = _ACTIVATIONS[activation]
        self.gate_up_proj = nn.Parameter(torch.randn(num_experts, 2 * intermediate_size, hidden_size) * 0.02)
        self.down_proj = nn.Parameter(torch.randn(num_experts, hidden_size, intermediate_size) * 0.02)

    def forward(self, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        probs = torch.softmax(logits.reshape(-1, self.num_experts).float(), dim=-1)
        weights, chosen = torch.topk(probs, self.top_k, dim=-1)
        weights = weights / weights.sum(dim=-1, keepdim=True)
        out = torch.zeros_like(x)
        for expert in range(self.num_experts):
            token, slot = torch.where(chosen == expert)
            if token.numel() == 0:
                continue
            gate, up = nn.functional.linear(x[token], self.gate_up_proj[expert]).chunk(2, dim=-1)
            y = nn.functional.linear(self.act(gate) * up, self.down_proj[expert])
            out.index_add_(0, token, (y * weights[token, slot, None]).to(out.dtype))
        return out.reshape(shape)


class TransformersRMSNorm(nn.Module):
    """transformers' RMSNorm, computed in float32: ``weight * normalized.to(x.dtype)`` (LlamaRMSNorm), or
    with ``unit_offset`` ``(normalized * (1 + weight.float())).type_as(x)`` (GemmaRMSNorm, weight from 0)."""

    def __init__(self, normalized_shape: Union[int, Sequence[int]], eps: Optional[float] = None,
                 elementwise_affine: bool = True, upcast: bool = True, unit_offset: bool = False) -> None:
        super().__init__()
        if unit_offset and not elementwise_affine:
            raise ValueError("unit_offset scales by 1 + weight: it needs elementwise_affine")
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.dims = tuple(range(-len(shape), 0))
        self.eps = torch.finfo(torch.float32).eps if eps is None else eps
        self.unit_offset = unit_offset
        start = torch.zeros if unit_offset else torch.ones
        self.weight = nn.Parameter(start(shape)) if elementwise_affine else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.to(torch.float32)
        h = h * torch.rsqrt(h.pow(2).mean(self.dims, keepdim=True) + self.eps)
        if self.unit_offset:
            return (h * (1.0 + self.weight.float())).type_as(x)
        h = h.to(x.dtype)
        return h if self.weight is None else self.weight * h

    def extra_repr(self) -> str:
        return f"dims={self.dims}, eps={self.eps}, unit_offset={self.unit_offset}"


def rms_norm(normalized_shape: Any, eps: Optional[float] = None, elementwise_affine: bool = True,
             upcast: bool = False, unit_offset: bool = False) -> nn.Module:
    """``torch.nn.RMSNorm``, or transformers' float32 variant when ``upcast`` or ``unit_offset``."""
    if upcast or unit_offset:
        return TransformersRMSNorm(normalized_shape, eps, elementwise_affine, upcast, unit_offset)
    shape = normalized_shape if isinstance(normalized_shape, int) else tuple(normalized_shape)
    return nn.RMSNorm(shape, eps=eps, elementwise_affine=elementwise_affine)


LANGUAGE_OPERATIONS = (RotaryEmbedding, ApplyRotary, Experts)
# Layer types whose module depends on their arguments: type -> factory.
LAYER_FACTORIES: Dict[str, Callable[..., nn.Module]] = {"RMSNorm": rms_norm}
