"""Memory layout: the strides torch gives each output, so that ``View`` is
accepted exactly where torch can view a tensor without copying it.

A :class:`~paramlint.model.layers.base.TensorSpec` carries ``strides`` (the whole
tensor's, batch first) only when its layout is not the standard contiguous
one.  Each ``LayerDef`` names the rule that lays out its outputs
(``layout=``, applied by :func:`lay_out` after ``infer``):

- none: a fresh row-major tensor (Linear, LayerNorm, softmax, reductions...);
- :func:`as_pointwise`: what torch's TensorIterator gives an elementwise op:
  the input's strides when it is dense, else a dense tensor in the input's
  dim order (activations, dropout, ``Add``/``Multiply``);
- :func:`as_memory_format`: channels-last in, channels-last out; otherwise
  contiguous (convolutions, pools, BatchNorm, upsampling, padding...);
- :func:`as_pool_1d`: the same for the 1-d pools, which torch runs as 2-d
  pools on ``x.unsqueeze(-2)``;
- :func:`as_inferred`: the layer's ``infer`` set the strides itself (views
  such as ``Permute`` and ``Slice``, recurrent and attention outputs);
- a layer's own rule where torch has its own (GLU, PReLU, Concat, conv with
  circular padding, TransformerEncoderLayer with ``norm_first``).

The functions follow ATen's ``computeStride`` (view), ``TensorIterator``'s
``compute_fast_setup_type`` / ``reorder_dimensions`` (pointwise) and
``suggest_memory_format`` (channels-last).  Strides that depend on the batch
size (an LSTM's ``batch_first`` output is a transposed ``[S, N, H]``) use
:data:`BATCH`, which stands for any batch size above 1.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Tuple

from .base import Layout, TensorSpec

Strides = Tuple[int, ...]

# The batch size in strides that depend on it: any size above 1 gives the
# same answers; this one cannot be mistaken for a product of sizes.
BATCH = 2**61 - 1

def full_shape(x: TensorSpec) -> Tuple[int, ...]:
    return (BATCH,) + tuple(x.shape) if x.batched else tuple(x.shape)


def contiguous_strides(shape: Sequence[int]) -> Strides:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def strides_of(x: TensorSpec) -> Strides:
    return x.strides if x.strides is not None else contiguous_strides(full_shape(x))


def with_strides(x: TensorSpec, strides: Optional[Sequence[int]]) -> TensorSpec:
    """``x`` laid out with ``strides`` (``None``: contiguous)."""
    if strides is not None and tuple(strides) == contiguous_strides(full_shape(x)):
        strides = None
    return TensorSpec(x.shape, x.dtype, x.batched, None if strides is None else tuple(strides))


def is_contiguous(shape: Sequence[int], strides: Sequence[int]) -> bool:
    """torch's ``is_contiguous()``: the strides of size-1 dims do not matter."""
    expected = 1
    for size, stride in zip(reversed(shape), reversed(strides)):
        if size != 1:
            if stride != expected:
                return False
            expected *= size
    return True


def _non_overlapping_and_dense(shape: Sequence[int], strides: Sequence[int]) -> bool:
    expected = 1
    for stride, size in sorted((st, s) for s, st in zip(shape, strides) if s >= 2):
        if stride != expected:
            return False
        expected *= size
    return True


# ---------------------------------------------------------------------------
# Channels-last (NHWC / NDHWC), as torch recognises and allocates it.

def _channels_last_order(rank: int) -> Tuple[int, ...]:
    return (1, 3, 2, 0) if rank == 4 else (1, 4, 3, 2, 0)


def channels_last_strides(shape: Sequence[int]) -> Strides:
    strides = [0] * len(shape)
    step = 1
    for d in _channels_last_order(len(shape)):
        strides[d] = step
        step *= max(shape[d], 1)
    return tuple(strides)


def _is_channels_last_contiguous(shape: Sequence[int], strides: Sequence[int]) -> bool:
    if len(shape) != 4:
        return False
    expected = 1
    for d in _channels_last_order(4):
        if shape[d] != 1:
            if strides[d] != expected:
                return False
            expected *= shape[d]
    return True


def _strides_like_channels_last(shape: Sequence[int], strides: Sequence[int]) -> bool:
    """c10's ``is_channels_last_strides_2d/3d``, which ``suggest_memory_format`` asks."""
    if len(shape) not in (4, 5) or strides[1] == 0:
        return False
    smallest = 0
    for d in _channels_last_order(len(shape)):
        if shape[d] == 0 or strides[d] < smallest:
            return False
        if d == 0 and smallest == strides[1]:
            return False  # ambiguous (N111-like): torch falls back to contiguous
        smallest = strides[d] * (shape[d] if shape[d] > 1 else 1)
    return True


def memory_format(x: TensorSpec, out: TensorSpec) -> TensorSpec:
    """``out`` allocated in ``x.suggest_memory_format()``: channels-last stays channels-last."""
    shape = full_shape(x)
    if len(shape) == len(full_shape(out)) and _strides_like_channels_last(shape, strides_of(x)):
        return with_strides(out, channels_last_strides(full_shape(out)))
    return with_strides(out, None)


def pool_1d(x: TensorSpec, out: TensorSpec) -> TensorSpec:
    """A 1-d pool run as a 2-d pool on ``x.unsqueeze(-2)`` and squeezed back."""
    shape, strides = full_shape(x), strides_of(x)
    if len(shape) != 3:
        return with_strides(out, None)
    unsqueezed = (shape[0], shape[1], 1, shape[2])
    unsqueezed_strides = (strides[0], strides[1], shape[2] * strides[2], strides[2])
    if not _strides_like_channels_last(unsqueezed, unsqueezed_strides):
        return with_strides(out, None)
    out_shape = full_shape(out)
    nhwc = channels_last_strides((out_shape[0], out_shape[1], 1, out_shape[2]))
    return with_strides(out, (nhwc[0], nhwc[1], nhwc[3]))


# ---------------------------------------------------------------------------
# Elementwise ops (TensorIterator).

Operand = Tuple[Tuple[int, ...], Strides]


def operand(x: TensorSpec) -> Operand:
    return full_shape(x), strides_of(x)


def pointwise(out: TensorSpec, operands: Sequence[Operand]) -> TensorSpec:
    """The layout TensorIterator gives the output of an elementwise op on ``operands`` (broadcast to ``out``)."""
    return with_strides(out, _pointwise_strides(full_shape(out), operands))


def _broadcast(a: Sequence[int], b: Sequence[int]) -> Tuple[int, ...]:
    rank = max(len(a), len(b))
    a, b = (1,) * (rank - len(a)) + tuple(a), (1,) * (rank - len(b)) + tuple(b)
    return tuple(max(x, y) for x, y in zip(a, b))


def _pointwise_strides(shape: Tuple[int, ...], operands: Sequence[Operand]) -> Strides:
    rank = len(shape)
    if all(s == shape for s, _ in operands):
        if all(is_contiguous(s, st) for s, st in operands):
            return contiguous_strides(shape)
        if all(_is_channels_last_contiguous(s, st) for s, st in operands):
            return channels_last_strides(shape)
        if all(_non_overlapping_and_dense(s, st) for s, st in operands) and \
                len({st for _, st in operands}) == 1:
            return operands[0][1]
    aligned = []
    for op_shape, op_strides in operands:
        offset = rank - len(op_shape)
        row = [0] * rank
        for i, (size, stride) in enumerate(zip(op_shape, op_strides)):
            row[offset + i] = 0 if size == 1 and shape[offset + i] != 1 else stride
        aligned.append(row)

    def should_swap(dim0: int, dim1: int) -> int:
        for row in aligned:
            a, b = row[dim0], row[dim1]
            if a == 0 or b == 0:
                continue
            if a != b:
                return -1 if a < b else 1
            if shape[dim0] > shape[dim1]:
                return 1
        return 0

    perm = list(range(rank - 1, -1, -1))  # perm[0] is the fastest-moving dim
    for i in range(1, rank):
        dim1 = i
        for dim0 in range(i - 1, -1, -1):
            comparison = should_swap(perm[dim0], perm[dim1])
            if comparison > 0:
                perm[dim0], perm[dim1] = perm[dim1], perm[dim0]
                dim1 = dim0
            elif comparison < 0:
                break
    strides = [0] * rank
    step = 1
    for d in perm:
        strides[d] = step
        step *= shape[d]
    return tuple(strides)


# ---------------------------------------------------------------------------
# Views.

def view_strides(x: TensorSpec, target: Sequence[int]) -> Optional[Strides]:
    """The strides of ``x.view(batch, *target)``, or ``None`` where torch must copy (ATen's ``computeStride``)."""
    old_shape, old_strides = full_shape(x), strides_of(x)
    new_shape = ((BATCH,) if x.batched else ()) + tuple(target)
    new_strides = [0] * len(new_shape)
    view_d = len(new_shape) - 1
    chunk_base = old_strides[-1]
    tensor_numel = view_numel = 1
    for d in range(len(old_shape) - 1, -1, -1):
        tensor_numel *= old_shape[d]
        if d == 0 or (old_shape[d - 1] != 1 and old_strides[d - 1] != tensor_numel * chunk_base):
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                new_strides[view_d] = view_numel * chunk_base
                view_numel *= new_shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if d > 0:
                chunk_base = old_strides[d - 1]
                tensor_numel = view_numel = 1
    if view_d != -1:
        return None
    return tuple(new_strides)


def leading_dims_merge(x: TensorSpec, count: int) -> bool:
    """Whether ``x.reshape(-1, *x.shape[count:])`` of the full shape (batch first) is a view: the first
    ``count`` dims, those of size 1 aside, are laid out one after the other (ATen's ``computeStride``)."""
    shape, strides = full_shape(x), strides_of(x)
    kept = [(size, stride) for size, stride in zip(shape[:count], strides[:count]) if size != 1]
    return all(outer_stride == inner_stride * inner_size
               for (_, outer_stride), (inner_size, inner_stride) in zip(kept, kept[1:]))


def reshaped(x: TensorSpec, shape: Sequence[int]) -> TensorSpec:
    """``x.reshape(batch, *shape)``: a view where torch can make one, else a contiguous copy."""
    return with_strides(x.with_shape(shape), view_strides(x, shape))


def describe_strides(x: TensorSpec) -> str:
    """The per-sample strides for messages: ``[N*128, 1]`` where one depends on the batch size N."""
    strides = strides_of(x)[1:] if x.batched else strides_of(x)
    parts = []
    for stride in strides:
        times, rest = divmod(stride, BATCH)
        parts.append(str(stride) if not times else f"N*{times}" + (f"+{rest}" if rest else ""))
    return "[" + ", ".join(parts) + "]"


def transposed(out: TensorSpec) -> TensorSpec:
    """A batch-first output that torch computes batch-second and transposes: ``[S, N, F].transpose(0, 1)``."""
    seq, *rest = out.shape
    inner = contiguous_strides(rest)
    step = (rest[0] * inner[0]) if rest else 1
    return with_strides(out, (step, BATCH * step) + inner)


# ---------------------------------------------------------------------------
# The rules a LayerDef names as its ``layout`` (see base.Layout).

def lay_out(rule: Optional[Layout], args: Mapping[str, Any], inputs: Sequence[TensorSpec],
            outputs: Tuple[TensorSpec, ...]) -> Tuple[TensorSpec, ...]:
    """The outputs of one layer with the strides its rule gives them (no rule: contiguous)."""
    if rule is None:
        if all(out.strides is None for out in outputs):
            return outputs
        return tuple(with_strides(out, None) for out in outputs)
    return tuple(rule(args, inputs, out) for out in outputs)


def as_inferred(args: Mapping[str, Any], inputs: Sequence[TensorSpec], out: TensorSpec) -> TensorSpec:
    """The layer's ``infer`` set the strides."""
    return out


def as_pointwise(args: Mapping[str, Any], inputs: Sequence[TensorSpec], out: TensorSpec) -> TensorSpec:
    """An elementwise op (TensorIterator); ``inplace: true`` writes into its input."""
    if args.get("inplace"):
        return with_strides(out, inputs[0].strides)
    if all(x.strides is None for x in inputs):
        return with_strides(out, None)
    result = operand(inputs[0])
    if len(inputs) == 1:
        return with_strides(out, _pointwise_strides(result[0], [result]))
    for x in inputs[1:]:  # several inputs: ((a + b) + c), one op at a time
        other = operand(x)
        shape = _broadcast(result[0], other[0])
        result = (shape, _pointwise_strides(shape, [result, other]))
    return with_strides(out, result[1])


def as_contiguous_unless_inplace(args: Mapping[str, Any], inputs: Sequence[TensorSpec], out: TensorSpec) -> TensorSpec:
    """A kernel that writes a fresh contiguous tensor, or (``inplace: true``) into its input."""
    return with_strides(out, inputs[0].strides if args.get("inplace") else None)


def as_memory_format(args: Mapping[str, Any], inputs: Sequence[TensorSpec], out: TensorSpec) -> TensorSpec:
    return memory_format(inputs[0], out) if inputs[0].strides is not None else with_strides(out, None)


def as_pool_1d(args: Mapping[str, Any], inputs: Sequence[TensorSpec], out: TensorSpec) -> TensorSpec:
    return pool_1d(inputs[0], out) if inputs[0].strides is not None else with_strides(out, None)
