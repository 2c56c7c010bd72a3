"""The torch modules of the tensor operations in paramlint/model/layers/tensor_ops.py
and matmul.py, for the torch bridge (``paramlint.torch``): ``MatMul``, ``Roll``,
``Chunk``, ``Split``, ``Buffer`` and ``StochasticDepth``.

Only the torch bridge imports this module.
"""
from __future__ import annotations

from typing import Sequence, Tuple, Union

import torch
from torch import nn


class MatMul(nn.Module):
    """``torch.matmul(a, b)``."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.matmul(a, b)


class Roll(nn.Module):
    """``torch.roll(x, shifts, dims)``."""

    def __init__(self, shifts: Union[int, Sequence[int]], dims: Union[int, Sequence[int]]) -> None:
        super().__init__()
        self.shifts = tuple(shifts) if isinstance(shifts, (list, tuple)) else shifts
        self.dims = tuple(dims) if isinstance(dims, (list, tuple)) else dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.roll(x, self.shifts, self.dims)

    def extra_repr(self) -> str:
        return f"shifts={self.shifts}, dims={self.dims}"


class Chunk(nn.Module):
    """``x.chunk(chunks, dim)``: a tuple of views."""

    def __init__(self, chunks: int, dim: int) -> None:
        super().__init__()
        self.chunks, self.dim = chunks, dim

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return x.chunk(self.chunks, self.dim)

    def extra_repr(self) -> str:
        return f"chunks={self.chunks}, dim={self.dim}"


class Split(nn.Module):
    """``x.split(split_size_or_sections, dim)``: a tuple of views."""

    def __init__(self, split_size_or_sections: Union[int, Sequence[int]], dim: int) -> None:
        super().__init__()
        given = split_size_or_sections
        self.split_size_or_sections = list(given) if isinstance(given, (list, tuple)) else given
        self.dim = dim

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return x.split(self.split_size_or_sections, self.dim)

    def extra_repr(self) -> str:
        return f"split_size_or_sections={self.split_size_or_sections}, dim={self.dim}"


class Buffer(nn.Module):
    """A buffer ``value`` of a given shape and dtype (zeros; load real values), returned by ``forward``."""

    def __init__(self, shape: Sequence[int], dtype: str = "float32", persistent: bool = True) -> None:
        super().__init__()
        self.register_buffer("value", torch.zeros(tuple(shape), dtype=getattr(torch, dtype)), persistent=persistent)

    def forward(self) -> torch.Tensor:
        return self.value

    def extra_repr(self) -> str:
        return f"shape={list(self.value.shape)}, dtype={self.value.dtype}"


class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth, written out: in training, ``x * noise`` where ``noise`` is
    ``[N, 1, ...]`` (``row``) or ``[1, ...]`` (``batch``) Bernoulli(1 - p) scaled by ``1 / (1 - p)``."""

    def __init__(self, p: float, mode: str) -> None:
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
        noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode}"


OPERATIONS = {cls.__name__: cls for cls in (MatMul, Roll, Chunk, Split, Buffer, StochasticDepth)}
