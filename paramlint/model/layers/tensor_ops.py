"""Tensor operations that are not torch.nn classes: ``Roll``, ``Chunk``,
``Split``, declared buffers (``Buffer``) and ``StochasticDepth``.

``Roll`` is ``torch.roll(x, shifts, dims)``; ``Chunk`` and ``Split`` are
``x.chunk`` / ``x.split`` with one output per piece (``NAME``, ``NAME.1``,
...), views of the input.  Their dims use torch's numbering (0 is the
batch, which they may not touch); ``dims`` of Roll is required, since
torch's default (roll the flattened tensor) would mix the samples.

``Buffer`` is a tensor registered with ``register_buffer`` (not a
parameter, no gradient): a relative position index, a fixed mask.  Like
``Parameter`` it has no batch dimension; it counts in the buffer values
whether ``persistent`` (in the state dict) or not, as ``buffers()`` does.

``StochasticDepth`` is ``torchvision.ops.StochasticDepth(p, mode)``
(DropPath): in training each sample (``row``) or the whole batch
(``batch``) is dropped with probability ``p`` and the survivors scaled by
``1 / (1 - p)``: ``x * noise`` with a ``[N, 1, ...]`` (or ``[1, 1, ...]``)
noise tensor, which autograd saves.  ``p: 0`` returns the input itself.
"""
from __future__ import annotations

from typing import Any, List, Mapping, Sequence

from . import layout
from .base import FLOAT_DTYPES, INT_DTYPES, Arg, LayerDef, LayerError, LayerResult, SavedTensor, TensorSpec, \
    normalize_dim


def _as_list(value: Any) -> List[int]:
    return list(value) if isinstance(value, list) else [value]


def _roll_infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    shifts, dims = _as_list(args["shifts"]), _as_list(args["dims"])
    if len(shifts) != len(dims):
        raise LayerError(f"shifts and dims must align: {len(shifts)} shift(s) for {len(dims)} dim(s)",
                         arg="shifts")
    for dim in dims:
        normalize_dim(dim, x, "dims")
    return LayerResult((x.with_shape(x.shape),), args=dict(args))


def _pieces(x: TensorSpec, axis: int, sizes: Sequence[int]) -> tuple:
    strides = layout.strides_of(x)
    outputs = []
    for size in sizes:
        shape = list(x.shape)
        shape[axis] = size
        outputs.append(layout.with_strides(x.with_shape(shape), strides))
    return tuple(outputs)


def _chunk_infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    axis = normalize_dim(args["dim"], x)
    size = x.shape[axis]
    piece = -(-size // args["chunks"])
    count = -(-size // piece)
    sizes = [piece] * (count - 1) + [size - piece * (count - 1)]
    return LayerResult(_pieces(x, axis, sizes), args=dict(args))


def _split_infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    axis = normalize_dim(args["dim"], x)
    size = x.shape[axis]
    given = args["split_size_or_sections"]
    if isinstance(given, list):
        if sum(given) != size:
            raise LayerError(f"sections {given} add up to {sum(given)}, but dim {args['dim']} has size {size}",
                             arg="split_size_or_sections", code="PL401")
        sizes = list(given)
    else:
        count = -(-size // given)
        sizes = [given] * (count - 1) + [size - given * (count - 1)]
    return LayerResult(_pieces(x, axis, sizes), args=dict(args))


def _buffer_infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    shape = tuple(args["shape"])
    return LayerResult((TensorSpec(shape, args["dtype"], batched=False),), buffers={"value": (shape, args["dtype"])},
                       args={"shape": list(shape), "dtype": args["dtype"], "persistent": args["persistent"]})


def _stochastic_depth_infer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    x = inputs[0]
    if not x.batched:
        raise LayerError(f"StochasticDepth drops whole samples: it needs a batched input, got the unbatched "
                         f"{x.describe()}", code="PL401")
    if args["p"] == 0:
        return LayerResult((x,), args=dict(args))  # the input itself
    saved = (SavedTensor("new", 1, x.dtype, per_sample=args["mode"] == "row"),)
    return LayerResult((x.with_shape(x.shape),), args=dict(args), saved=saved)


def _stochastic_depth_layout(args: Mapping[str, Any], inputs: Sequence[TensorSpec], out: TensorSpec) -> TensorSpec:
    """p = 0 returns the input itself; otherwise ``x * noise``, elementwise."""
    return out if args["p"] == 0 else layout.as_pointwise(args, inputs, out)


_DIM = Arg("dim", doc="the dim (torch numbering: the batch is 0, which cannot be used)")

LAYERS = (
    LayerDef("Roll", "shape", {"shifts": Arg("ints", doc="shift per dim (negative: towards the start)"),
                               "dims": Arg("ints", doc="the dims to roll, one per shift (batch is 0)")},
             _roll_infer, input_dtype="any", layout=layout.as_memory_format,
             doc="torch.roll(x, shifts, dims): shifts the values along dims, wrapping around."),
    LayerDef("Chunk", "shape", {"chunks": Arg("pos_int", doc="how many pieces (at most)"), "dim": _DIM},
             _chunk_infer, input_dtype="any", layout=layout.as_inferred,
             doc="x.chunk(chunks, dim): pieces of ceil(size / chunks) along dim (the last may be smaller, there "
                 "may be fewer), as outputs NAME, NAME.1, ...; views of the input."),
    LayerDef("Split", "shape", {"split_size_or_sections": Arg("size", doc="the size of each piece (the last may be "
                                                                          "smaller), or a list of sizes"),
                                "dim": _DIM},
             _split_infer, input_dtype="any", layout=layout.as_inferred,
             doc="x.split(split_size_or_sections, dim): pieces along dim as outputs NAME, NAME.1, ...; views "
                 "of the input."),
    LayerDef("Buffer", "merge", {
        "shape": Arg("shape", doc="the tensor's full shape (no batch dimension)"),
        "dtype": Arg("enum", "float32", "its dtype", choices=FLOAT_DTYPES + INT_DTYPES),
        "persistent": Arg("bool", True, "saved in the state dict (either way it counts in buffers())"),
    }, _buffer_infer, min_inputs=0, max_inputs=0,
             doc="A tensor registered as a buffer (not a parameter, no gradient): a relative position index, a "
                 "fixed mask; not batched."),
    LayerDef("StochasticDepth", "activation", {
        "p": Arg("prob", doc="probability of dropping a sample (row) or the batch"),
        "mode": Arg("enum", doc="row: per sample; batch: the whole batch at once", choices=("row", "batch")),
    }, _stochastic_depth_infer, input_dtype="float", layout=_stochastic_depth_layout,
             doc="torchvision.ops.StochasticDepth (DropPath): drops residual branches with probability p in "
                 "training and scales the rest by 1/(1-p); no parameters."),
)
