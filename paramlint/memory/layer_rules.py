"""How each layer type uses storage: views, in-place writes, gradient views.

The memory model counts tensor *storages*, not tensors: a view (Flatten,
Reshape of a contiguous tensor, Permute, Select, ...) and an in-place layer
(``inplace: true``) hand on their input's storage, and so does a dropout
that drops nothing (p = 0, or eval mode).  In backward the same holds for
gradients: the gradient of a view, of an Add's inputs (same shapes) and of a
Concat's inputs (narrowed views) is the incoming gradient itself, while every
other layer allocates a new gradient for each input that needs one.
All of this was measured with storage pointers on torch 2.13.

The memory layout here (``Layout``: a permutation and whether there are
gaps) is coarser than the strides the shape analysis tracks
(``TensorSpec.strides``, paramlint/model/layers/layout.py, which decide whether a
``View`` is legal): it only asks whether a reshape copies, and it follows the
device the memory is predicted for, where CUDA's fused attention kernels lay
their output out differently from the CPU.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Tuple

from ..model.layers.base import TensorSpec

VIEWS = frozenset({"Identity", "Flatten", "Unflatten", "View", "Reshape", "Permute", "Transpose", "Select", "Slice"})
# Views that need a contiguous input; on a permuted input torch copies.
RESHAPES = frozenset({"Flatten", "View", "Reshape"})
DROPOUTS = frozenset({"Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
                      "StochasticDepth"})
# Views with several outputs, each a view of the input (x.chunk, x.split).
MULTI_VIEWS = frozenset({"Chunk", "Split"})
# Layers without inputs whose output is a module tensor (no activation storage).
MODULE_TENSORS = frozenset({"Parameter", "Buffer"})
# Layers whose output keeps the input's memory layout (element-wise).
ELEMENTWISE_FAMILIES = frozenset({"activation"})
# Layers whose gradients for their inputs are views of the incoming gradient.
GRADIENT_VIEWS = frozenset({"Add", "Concat"}) | VIEWS - {"Select", "Slice"}
# Layers computed under torch.no_grad (transformers' rotary tables): their outputs need no gradient.
NO_GRAD_OUTPUTS = frozenset({"RotaryEmbedding"})
# Linear layers whose backward needs the input only for the weight's gradient:
# frozen, they save no activation.
WEIGHT_ONLY_INPUT = frozenset({"Linear"})
def keeps_input(node_type: str, trainable: bool, other_input_needs_grad: bool) -> bool:
    """Whether a layer that lists an ``"input"`` saved tensor keeps that input's storage for backward: a
    frozen Linear does not (its input serves only the weight's gradient), nor does ``a * b`` keep ``a``
    when ``b`` needs no gradient (Gemma's embedding times its scale buffer)."""
    if node_type in WEIGHT_ONLY_INPUT and not trainable:
        return False
    return node_type != "Multiply" or other_input_needs_grad


# Layers whose saved "new" tensor serves only the weight's gradient (RMSNorm's
# normalized input): a frozen weight, and it is not kept (measured, torch 2.13).
WEIGHT_GRAD_ONLY_NEW = frozenset({"RMSNorm"})


def backward_temporaries(layer_type: str, args: Mapping[str, Any]) -> int:
    """Input-sized float32 temporaries alive at the peak of a backward that runs as a chain of small
    autograd nodes, beyond the gradients every layer allocates.  transformers' RMSNorm (``upcast``,
    ``unit_offset``) computes ``x * rsqrt(x.pow(2).mean(-1) + eps)`` op by op: its backward peaks in
    ``pow``'s node (``x ** 1``, times 2, times the gradient) while the first half of x's gradient and
    ``mean``'s gradient are alive, 4 more than the one gradient; by then the nodes that ran first have
    released the incoming gradient and the layer's own statistics and normalized input (measured with
    storage tracking, torch 2.13 CPU)."""
    if layer_type == "RMSNorm" and (args.get("upcast") or args.get("unit_offset")):
        return 4
    return 0


def promotes_with_weight(layer_type: str, args: Mapping[str, Any]) -> bool:
    """transformers' RMSNorm (``upcast``) returns ``weight * normalized.to(input dtype)``: the wider of the
    weight's and the input's dtype (float32 under autocast, whose weights stay float32)."""
    return layer_type == "RMSNorm" and bool(args.get("upcast")) and not args.get("unit_offset") \
        and args.get("elementwise_affine", True)


def output_alias(layer_type: str, args: Mapping[str, Any], inputs: Sequence[TensorSpec], *, training: bool,
                 contiguous: bool) -> Optional[int]:
    """The input whose storage output 0 shares (a view or an in-place write), or None."""
    if layer_type in VIEWS or layer_type in MULTI_VIEWS:
        if layer_type in RESHAPES and layer_type != "View" and not contiguous:
            return None  # (a View never copies: the shape analysis has checked its strides)
        if layer_type == "Flatten" and not contiguous:
            return None
        return 0
    if layer_type in DROPOUTS:
        p = args.get("p", 0.5)
        if not training or p == 0 or args.get("inplace"):
            return 0
        return None
    if args.get("inplace") is True:
        return 0
    return None


Layout = Tuple[Tuple[int, ...], bool]  # (logical dims in memory order, batch first; has gaps)


def identity(rank: int) -> Layout:
    return tuple(range(rank)), False


def is_contiguous(layout: Layout, spec: TensorSpec) -> bool:
    """Dims of size 1 do not count; neither does the batch, assumed > 1."""
    order, gapped = layout
    if gapped:
        return False
    sizes = ((2,) if spec.batched else ()) + tuple(spec.shape)
    moved = [d for d in order if d < len(sizes) and sizes[d] != 1]
    return moved == sorted(moved)


def output_layout(layer_type: str, args: Mapping[str, Any], inputs: Sequence[TensorSpec], output: TensorSpec,
                  input_layout: Layout, family: str, saves_output: bool, device: str = "cuda") -> Layout:
    """How output 0 lies in memory: a permutation of its dims (``Permute``,
    ``Transpose``, a fused attention kernel's [N, L, heads, E] buffer read as
    [N, heads, L, E], the CPU's in the query's layout) and whether it has gaps
    (``Select``, ``Slice``)."""
    rank = output.rank
    order, gapped = input_layout
    if layer_type in ("Permute", "Transpose"):
        dims = _permutation(layer_type, args, inputs[0].rank)
        inverse = {old: new for new, old in enumerate(dims)}
        return tuple(inverse[d] for d in order), gapped
    if layer_type in ("Select", "Slice") or layer_type in MULTI_VIEWS:
        if layer_type != "Select":
            return order, True
        dim = args["dim"] % inputs[0].rank
        return tuple(d - (d > dim) for d in order if d != dim), True
    if layer_type in ("Identity", "Unflatten") or layer_type in DROPOUTS or family in ELEMENTWISE_FAMILIES:
        if len(order) == rank:
            return order, gapped
    if layer_type == "View":
        return identity(rank)[0], gapped  # a view of a sliced tensor keeps its gaps
    if layer_type in ("Add", "Multiply") and len(order) == rank:
        return order, False
    if layer_type == "ScaledDotProductAttention" and saves_output and rank == 4:
        if device == "cpu" and len(order) == rank:
            return order, False  # the CPU's flash kernel writes in the query's layout (measured, torch 2.13)
        return (0, 2, 1, 3), False  # the fused CUDA kernels write [N, L, heads, E]
    if layer_type == "ApplyRotary" and len(order) == rank and not rotary_concatenates(args, inputs):
        return order, False  # x * cos + rotate_half(x) * sin: elementwise, in x's layout
    return identity(rank)


def rotary_concatenates(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> bool:
    """Whether ``ApplyRotary`` ends in ``torch.cat`` (a new contiguous tensor): features pass through
    unrotated, or ``concatenate`` (Phi-3, which concatenates even an empty pass-through)."""
    return bool(args.get("concatenate")) or inputs[1].shape[-1] < inputs[0].shape[-1]


def _permutation(layer_type: str, args: Mapping[str, Any], rank: int) -> Tuple[int, ...]:
    if layer_type == "Transpose":
        order = list(range(rank))
        a, b = args["dim0"] % rank, args["dim1"] % rank
        order[a], order[b] = order[b], order[a]
        return tuple(order)
    dims = args["dims"] if isinstance(args["dims"], list) else [args["dims"]]
    return tuple(d % rank for d in dims)


def gradient_is_view(layer_type: str, args: Mapping[str, Any], index: int, inputs: Sequence[TensorSpec],
                     output: TensorSpec) -> bool:
    """Whether the gradient for input ``index`` is a view of the incoming gradient (no new storage)."""
    if layer_type in DROPOUTS:
        return args.get("p", 0.5) == 0  # a dropout that drops nothing returns its input
    if layer_type not in GRADIENT_VIEWS:
        return False
    tensor = inputs[index]
    if layer_type == "Add":
        return tensor.batched and tuple(tensor.shape) == tuple(output.shape)
    if layer_type == "Concat":
        return tensor.batched
    return True
