"""``MatMul``: ``torch.matmul(a, b)`` on two inputs, with its broadcasting.

The arithmetic follows ATen's ``matmul`` (torch 2.13) path by path, because
the path decides what ``FlopCounterMode`` counts and what autograd saves:

- 1-d @ 1-d ``dot`` and 2-d @ 1-d ``mv``: no FLOPs counted (the counter has
  no formula for them);
- 1-d @ 2-d and 2-d @ 2-d: ``mm``, ``2*n*m*p``;
- one operand of 3 or more dims and the other of 1 or 2 ("folded"): the big
  one is reshaped to a matrix (transposed first when it is the right one)
  and multiplied with ``mm`` (or ``mv``: not counted);
- otherwise ``bmm`` on both operands expanded to the broadcast batch dims
  and reshaped to 3-d.

Each operand is saved as the matrix the kernel reads: a view of the input
where the reshape is a view (``input``), else a copy (``new``).  All float
operands are taken to need a gradient (layer outputs and Parameters do).
The batch (dim 0 of a batched input) must stay dim 0 of the output: it may
not be a matrix dim nor broadcast against another size.
"""
from __future__ import annotations

import math
from typing import Any, List, Mapping, Optional, Sequence, Tuple

from . import layout
from .base import LayerDef, LayerError, LayerResult, SavedTensor, TensorSpec, format_shape

N = layout.BATCH  # the batch size inside full shapes


def _full(x: TensorSpec) -> List[int]:
    return list(layout.full_shape(x))


def _text(shape: Sequence[int]) -> str:
    return format_shape(["N" if s == N else s for s in shape])


def _merges(shape: Sequence[int], strides: Sequence[int]) -> bool:
    """Whether ``reshape`` can fold these dims into one without a copy (size-1 dims aside)."""
    kept = [(size, stride) for size, stride in zip(shape, strides) if size != 1]
    return all(outer == inner * size for (_, outer), (size, inner) in zip(kept, kept[1:]))


class _Operand:
    """One input: its full shape, strides, and how it is saved."""

    def __init__(self, tensor: TensorSpec, index: int) -> None:
        self.tensor = tensor
        self.index = index
        self.shape = _full(tensor)
        self.strides = list(layout.strides_of(tensor))

    def saved(self, shape: Sequence[int], strides: Sequence[int], fold: int) -> SavedTensor:
        """The operand as the kernel reads it: ``shape``/``strides`` (expanded or transposed) reshaped with
        its first ``fold`` dims folded into one."""
        per_sample = self.tensor.batched or N in shape
        numel = math.prod(shape) // (N if N in shape else 1)
        if _merges(shape[:fold], strides[:fold]):
            return SavedTensor("input", self.tensor.numel, self.tensor.dtype, self.index,
                               per_sample=self.tensor.batched)
        return SavedTensor("new", numel, self.tensor.dtype, per_sample=per_sample)


def _broadcast(a: Sequence[int], b: Sequence[int], shapes: str) -> List[int]:
    rank = max(len(a), len(b))
    a = [1] * (rank - len(a)) + list(a)
    b = [1] * (rank - len(b)) + list(b)
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            if N in (x, y):
                raise LayerError(f"MatMul would broadcast the batch against size {y if x == N else x} "
                                 f"({shapes}): the result would depend on the batch size", code="PL401")
            raise LayerError(f"MatMul cannot broadcast the batch dims of {shapes}: {x} vs {y}", code="PL401")
        out.append(y if x == 1 else x)
    return out


def _expanded(op: _Operand, batch: Sequence[int], matrix: Sequence[int]) -> Tuple[List[int], List[int]]:
    """``op.expand(*batch, *matrix)``: the shape and strides (0 where a dim is broadcast)."""
    shape = list(batch) + list(matrix)
    own = op.shape[-len(matrix):] if matrix else []
    lead_shape = op.shape[:len(op.shape) - len(own)]
    lead_strides = op.strides[:len(lead_shape)]
    strides = list(op.strides[len(lead_shape):])
    pad = len(batch) - len(lead_shape)
    lead = [(1, 0)] * pad + list(zip(lead_shape, lead_strides))
    batch_strides = [stride if size == target else 0 for (size, stride), target in zip(lead, batch)]
    if len(matrix) != len(own):  # a 1-d operand expanded to [*batch, 1, m]
        strides = [0] + strides
    return shape, batch_strides + strides


def _infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    a, b = _Operand(inputs[0], 0), _Operand(inputs[1], 1)
    shapes = f"{_text(a.shape)} @ {_text(b.shape)}"
    dtype = _dtype(inputs)
    ra, rb = len(a.shape), len(b.shape)
    if ra == 0 or rb == 0:
        raise LayerError(f"MatMul needs inputs of at least 1 dim (batch included), got {shapes}", code="PL401")
    m1 = a.shape[-1]
    m2 = b.shape[-2] if rb > 1 else b.shape[-1]
    if N in (m1, m2):
        raise LayerError(f"MatMul would multiply along the batch dimension ({shapes}): the result would depend "
                         f"on the batch size", code="PL401")
    if m1 != m2:
        raise LayerError(f"MatMul cannot multiply {shapes}: {m1} (last dim of the first) != {m2} "
                         f"({'dim -2' if rb > 1 else 'the size'} of the second)", code="PL401")
    n = a.shape[-2] if ra > 1 else None
    p = b.shape[-1] if rb > 1 else None
    batch = _broadcast(a.shape[:-2], b.shape[:-2], shapes) if ra > 2 or rb > 2 else []
    out = batch + [d for d in (n, p) if d is not None]
    batched = any(t.batched for t in inputs)
    if batched and (not out or out[0] != N or N in out[1:]):
        raise LayerError(f"MatMul would move the batch out of dim 0 ({shapes} -> {_text(out)}): the result would "
                         f"depend on the batch size", code="PL401")
    saved, flops = _path(a, b, ra, rb, batch, n, m1, p)
    output = TensorSpec(tuple(out[1:] if batched else out), dtype, batched)
    if not inputs[0].is_float:
        saved = []
    return LayerResult((output,), flops=flops, saved=tuple(saved))


def _dtype(inputs: Sequence[TensorSpec]) -> str:
    """One dtype for both operands; a float Parameter or Buffer (unbatched) takes the model's float dtype."""
    a, b = inputs
    if a.is_float and b.is_float and not (a.batched and b.batched):
        return (a if a.batched else b).dtype
    if a.dtype != b.dtype:
        raise LayerError(f"MatMul needs inputs of one dtype, got {a.dtype} and {b.dtype}", code="PL404")
    return a.dtype


def _path(a: _Operand, b: _Operand, ra: int, rb: int, batch: List[int], n: Optional[int], m: int,
          p: Optional[int]) -> Tuple[List[SavedTensor], int]:
    """What the kernel torch picks saves, and the FLOPs FlopCounterMode counts for one sample."""
    per = N if N in (a.shape + b.shape) else 1
    if ra <= 2 and rb <= 2:
        flops = 0 if rb == 1 else 2 * (n or 1) * m * (p or 1)
        return [a.saved(a.shape, a.strides, 1), b.saved(b.shape, b.strides, 1)], flops // per if flops else 0
    if (ra >= 3 and rb <= 2) or (rb >= 3 and ra <= 2):  # folded: both need a gradient
        if ra >= 3:
            big, small, shape, strides = a, b, a.shape, a.strides
        else:
            big, small = b, a
            shape = b.shape[:-2] + [b.shape[-1], b.shape[-2]]
            strides = b.strides[:-2] + [b.strides[-1], b.strides[-2]]
        rows = math.prod(shape[:-1])
        flops = 2 * rows * m * (p if ra >= 3 and rb == 2 else n if ra == 2 else 1)
        counted = (ra >= 3 and rb == 2) or (rb >= 3 and ra == 2)
        saved = [big.saved(shape, strides, len(shape) - 1), small.saved(small.shape, small.strides, 1)]
        return saved, (flops // per) if counted else 0
    if ra == 3 and rb == 3 and a.shape[0] != b.shape[0] and 1 in (a.shape[0], b.shape[0]):
        return _path_squeezed(a, b, n, m, p, per)  # torch squeezes the batch of 1 away and folds instead
    a_shape, a_strides = _expanded(a, batch, [n if n is not None else 1, m])
    b_shape, b_strides = _expanded(b, batch, [m, p] if p is not None else [m])
    saved = [a.saved(a_shape, a_strides, len(batch)), b.saved(b_shape, b_strides, len(batch))]
    return saved, 2 * math.prod(batch) * (n or 1) * m * (p or 1) // per


def _path_squeezed(a: _Operand, b: _Operand, n: Optional[int], m: int, p: Optional[int],
                   per: int) -> Tuple[List[SavedTensor], int]:
    """3-d @ 3-d where one batch is 1: torch squeezes it and folds the other."""
    big = b if a.shape[0] == 1 else a
    if big is a:
        shape, strides = a.shape, a.strides
    else:
        shape = b.shape[:-2] + [b.shape[-1], b.shape[-2]]
        strides = b.strides[:-2] + [b.strides[-1], b.strides[-2]]
    small = b if big is a else a
    saved = [big.saved(shape, strides, 2), small.saved(small.shape[1:], small.strides[1:], 1)]
    return saved, 2 * math.prod(shape[:-1]) * m * (p if big is a else n) // per


LAYERS = (
    LayerDef("MatMul", "merge", {}, _infer, min_inputs=2, max_inputs=2, input_dtype="any",
             doc="torch.matmul(a, b) on `from: [a, b]`, with its broadcasting of the leading dims and its 1-d "
                 "cases; a Parameter or Buffer operand has no batch dimension."),
)
