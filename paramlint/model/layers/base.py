"""What every layer type is made of: tensors, arguments, results, errors.

A layer type is data plus a pure function.  Its :class:`LayerDef` names the
torch class, declares its constructor arguments (from which the JSON Schema
is generated) and points at ``infer(args, inputs) -> LayerResult``, which does
the shape arithmetic and the counting without torch.  ``infer`` receives the
arguments already checked against their kinds, with defaults filled in, and
raises :class:`LayerError` for everything torch would reject.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

from ...core.record import Record

Shape = Tuple[int, ...]

FLOAT_DTYPES = ("float32", "float16", "bfloat16", "float64")
INT_DTYPES = ("int64", "int32")
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int64": 8, "int32": 4, "bool": 1}

# Torch cannot allocate a tensor with more elements than this; neither can we
# reason about one.  Larger sizes are reported instead of computed.
MAX_ELEMENTS = 2**63 - 1


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


class TensorSpec(Record):
    """A tensor flowing through the graph.

    ``shape`` excludes the batch dimension when ``batched`` (every layer
    output); a ``Parameter`` is unbatched and its shape is the whole shape.
    ``strides`` (batch first) are set only for a layout other than the
    contiguous one: see :mod:`paramlint.model.layers.layout`.
    """

    __slots__ = ("shape", "dtype", "batched", "strides")

    def __init__(self, shape: Shape, dtype: str = "float32", batched: bool = True,
                 strides: Optional[Tuple[int, ...]] = None) -> None:
        self.shape = shape
        self.dtype = dtype
        self.batched = batched
        self.strides = strides

    @property
    def rank(self) -> int:
        """Rank as torch sees it, the batch dimension included."""
        return len(self.shape) + (1 if self.batched else 0)

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_DTYPES

    def with_shape(self, shape: Sequence[int]) -> "TensorSpec":
        return TensorSpec(tuple(shape), self.dtype, self.batched)

    def describe(self) -> str:
        return format_shape(self.shape)


def format_shape(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


class Arg(Record):
    """One constructor argument: its kind (a ``$defs`` entry of the schema),
    its default (``REQUIRED`` when there is none; ``None`` when torch's
    default is ``None`` or the size is inferred), and what it means."""

    __slots__ = ("kind", "default", "doc", "choices")

    def __init__(self, kind: str, default: Any = REQUIRED, doc: str = "", choices: Tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.default = default
        self.doc = doc
        self.choices = choices


class LayerError(Exception):
    """Something torch would reject, at construction or at forward.

    ``arg`` names the argument at fault (the diagnostic points at it); None
    points at the layer entry itself.
    """

    def __init__(self, message: str, *, arg: Optional[str] = None, code: str = "PL402") -> None:
        super().__init__(message)
        self.message = message
        self.arg = arg
        self.code = code


class LayerWarning(Record):
    __slots__ = ("code", "message", "arg")

    def __init__(self, code: str, message: str, arg: Optional[str] = None) -> None:
        self.code = code
        self.message = message
        self.arg = arg


class SavedTensor(Record):
    """A tensor autograd keeps for backward: ``"input"`` / ``"output"`` share
    the storage of the layer's own input or output, ``"new"`` exists only for
    backward (masks, indices, statistics).

    ``index``: which input or output.  ``per_sample`` False: ``numel`` is for
    the whole batch, not per sample (BatchNorm's batch statistics: 2 x C
    whatever the batch size).  ``stats`` True: statistics kept in float32
    whatever the precision (norm mean/rstd, attention logsumexp); False: a
    float tensor in the layer's compute dtype.  ``copies``: that many equal
    tensors (``"new"`` only), as a recurrent layer saves one per time step:
    one record, so the memory model's work does not grow with the steps.
    ``half_only``: a cast copy that exists only when the compute dtype is a
    half type.  ``upcast`` (an ``"input"``): kept as a float32 copy when the
    compute dtype is a half type (transformers' ``x.to(torch.float32)``).
    """

    __slots__ = ("kind", "numel", "dtype", "index", "per_sample", "stats", "copies", "half_only", "upcast")

    def __init__(self, kind: str, numel: int, dtype: str = "float32", index: int = 0, per_sample: bool = True,
                 stats: bool = False, copies: int = 1, half_only: bool = False, upcast: bool = False) -> None:
        self.kind = kind
        self.numel = numel
        self.dtype = dtype
        self.index = index
        self.per_sample = per_sample
        self.stats = stats
        self.copies = copies
        self.half_only = half_only
        self.upcast = upcast


class LayerResult(Record):
    """What ``infer`` computes for one layer, per sample.

    ``params`` and ``buffers`` use torch's attribute names, so that weight
    tying (``shares``) and the torch bridge can match them one to one.
    ``args`` are the complete torch constructor arguments (inferred sizes
    filled in).  ``flops`` counts like ``torch.utils.flop_counter`` for one
    sample.  ``uncounted``: why ``FlopCounterMode`` counts nothing for work
    this layer does (a kernel it does not see), so that reports say "not
    counted" instead of a bare 0; empty when the count is the whole story.
    ``scratch``: temporaries that live only while the layer runs, described
    as ``"new"`` saved tensors are (none for the catalogue's layers; a
    fine-tuning run's adapted graph gives them to DoRA's nodes).
    """

    __slots__ = ("outputs", "params", "buffers", "flops", "args", "warnings", "saved", "uncounted", "scratch")

    def __init__(self, outputs: Tuple[TensorSpec, ...], params: Optional[Dict[str, Shape]] = None,
                 buffers: Optional[Dict[str, Tuple[Shape, str]]] = None, flops: int = 0,
                 args: Optional[Dict[str, Any]] = None, warnings: Tuple[LayerWarning, ...] = (),
                 saved: Tuple[SavedTensor, ...] = (), uncounted: str = "",
                 scratch: Tuple[SavedTensor, ...] = ()) -> None:
        self.outputs = outputs
        self.params: Dict[str, Shape] = {} if params is None else params
        self.buffers: Dict[str, Tuple[Shape, str]] = {} if buffers is None else buffers
        self.flops = flops
        self.args: Dict[str, Any] = {} if args is None else args
        self.warnings = warnings
        self.saved = saved
        self.uncounted = uncounted
        self.scratch = scratch


Infer = Callable[[Mapping[str, Any], Sequence[TensorSpec]], LayerResult]
# How a layer lays out an output: (args, inputs, output) -> the output with
# its strides.  See paramlint.model.layers.layout.
Layout = Callable[[Mapping[str, Any], Sequence[TensorSpec], TensorSpec], TensorSpec]


class LayerDef(Record):
    """A layer type: the torch class name, its arguments, its arithmetic.

    ``input_dtype``: the kind of input tensor required, "float", "int"
    (Embedding) or "any".  ``layout``: the strides torch gives the outputs
    (None: contiguous); paramlint/model/layers/layout.py has the rules.
    """

    __slots__ = ("type", "family", "args", "infer", "doc", "min_inputs", "max_inputs", "input_dtype", "layout")

    def __init__(self, type: str, family: str, args: Mapping[str, Arg], infer: Infer, doc: str = "",
                 min_inputs: int = 1, max_inputs: Optional[int] = 1, input_dtype: str = "float",
                 layout: Optional[Layout] = None) -> None:
        self.type = type
        self.family = family
        self.args = args
        self.infer = infer
        self.doc = doc
        self.min_inputs = min_inputs
        self.max_inputs = max_inputs
        self.input_dtype = input_dtype
        self.layout = layout


# ---------------------------------------------------------------------------
# Argument kinds.  Each kind has a JSON Schema in schemas/ (generated from
# paramlint.validation.generate) and the same check here, because arguments computed
# inside blocks are only known after substitution.

def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _int_list(value: Any, minimum: int) -> bool:
    return isinstance(value, list) and len(value) > 0 and all(_is_int(v) and v >= minimum for v in value)


KIND_CHECKS: Dict[str, Tuple[Callable[[Any], bool], str]] = {
    "int": (_is_int, "an integer"),
    "pos_int": (lambda v: _is_int(v) and v >= 1, "a positive integer"),
    "nonneg_int": (lambda v: _is_int(v) and v >= 0, "a non-negative integer"),
    "opt_pos_int": (lambda v: v is None or (_is_int(v) and v >= 1), "a positive integer or null"),
    "size": (lambda v: (_is_int(v) and v >= 1) or _int_list(v, 1), "a positive integer or a list of them"),
    "opt_size": (lambda v: v is None or (_is_int(v) and v >= 1) or _int_list(v, 1),
                 "a positive integer, a list of them, or null"),
    "nonneg_size": (lambda v: (_is_int(v) and v >= 0) or _int_list(v, 0),
                    "a non-negative integer or a list of them"),
    "padding": (lambda v: v in ("same", "valid") or (_is_int(v) and v >= 0) or _int_list(v, 0),
                "a non-negative integer, a list of them, 'same' or 'valid'"),
    "adaptive_size": (lambda v: (_is_int(v) and v >= 1) or (isinstance(v, list) and len(v) > 0 and all(
        x is None or (_is_int(x) and x >= 1) for x in v)), "a positive integer or a list of positive integers or nulls"),
    "shape": (lambda v: isinstance(v, list) and all(_is_int(x) and x >= 1 for x in v),
              "a list of positive integers"),
    "reshape": (lambda v: isinstance(v, list) and len(v) > 0 and all(_is_int(x) and (x >= 1 or x == -1) for x in v),
                "a list of positive integers (one may be -1)"),
    "dim": (_is_int, "an integer dimension"),
    "dims": (lambda v: _is_int(v) or (isinstance(v, list) and len(v) > 0 and all(_is_int(x) for x in v)),
             "an integer dimension or a list of them"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "number": (_is_number, "a number"),
    "opt_number": (lambda v: v is None or _is_number(v), "a number or null"),
    "pos_number": (lambda v: _is_number(v) and v > 0, "a positive number"),
    "prob": (lambda v: _is_number(v) and 0 <= v <= 1, "a probability between 0 and 1"),
    "scale": (lambda v: (_is_number(v) and v > 0) or (isinstance(v, list) and len(v) > 0 and all(
        _is_number(x) and x > 0 for x in v)), "a positive number or a list of them"),
    "opt_int": (lambda v: v is None or _is_int(v), "an integer or null"),
    "opt_dim": (lambda v: v is None or _is_int(v), "an integer dimension or null"),
    "opt_bool": (lambda v: v is None or isinstance(v, bool), "true, false or null"),
    "opt_scale": (lambda v: v is None or (_is_number(v) and v > 0) or (isinstance(v, list) and len(v) > 0 and all(
        _is_number(x) and x > 0 for x in v)), "a positive number, a list of them, or null"),
    "ints": (lambda v: _is_int(v) or (isinstance(v, list) and len(v) > 0 and all(_is_int(x) for x in v)),
             "an integer or a list of integers"),
    "string": (lambda v: isinstance(v, str), "a string"),
    "enum": (lambda v: isinstance(v, str), "one of the listed names"),
}


def resolve_args(layer: LayerDef, raw: Mapping[str, Any]) -> Dict[str, Any]:
    """Check ``raw`` arguments against their kinds and fill in defaults."""
    resolved: Dict[str, Any] = {}
    for name, spec in layer.args.items():
        if name not in raw:
            if spec.default is REQUIRED:
                raise LayerError(f"{layer.type} needs `{name}` ({KIND_CHECKS[spec.kind][1]})", code="PL203")
            resolved[name] = spec.default
            continue
        value = raw[name]
        check, expected = KIND_CHECKS[spec.kind]
        if spec.kind == "enum":
            if value not in spec.choices:
                choices = ", ".join(repr(c) for c in spec.choices)
                raise LayerError(f"`{name}` must be one of {choices}, got {value!r}", arg=name, code="PL202")
        elif not check(value):
            raise LayerError(f"`{name}` must be {expected}, got {value!r}", arg=name, code="PL202")
        resolved[name] = value
    return resolved


# ---------------------------------------------------------------------------
# Shared helpers for the families.

def expand(value: Any, n: int, name: str) -> Tuple[int, ...]:
    """An int or a list of ``n`` ints, as torch's ``_ntuple`` reads it."""
    if isinstance(value, list):
        if len(value) != n:
            raise LayerError(f"`{name}` needs {n} values, got {len(value)}: {value}", arg=name)
        return tuple(value)
    return (value,) * n


def check_rank(layer_type: str, tensor: TensorSpec, ranks: Sequence[int], what: str) -> None:
    """Reject an input whose rank (batch included) torch would not accept."""
    if tensor.rank not in ranks:
        wanted = " or ".join(f"{r - 1}-d" for r in ranks)
        raise LayerError(
            f"{layer_type} expects {what} of {wanted} input per sample (batch excluded), "
            f"got {tensor.describe()} ({len(tensor.shape)}-d)",
            code="PL401",
        )


def check_inferred(name: str, given: Any, actual: int, producer: str, arg: Optional[str] = None) -> int:
    """An inferable size: None means infer it; a written value must agree."""
    if given is None:
        return actual
    if given != actual:
        raise LayerError(f"expects {name} {given}, but {producer} produces {actual}", arg=arg or name, code="PL401")
    return given


def normalize_dim(dim: int, tensor: TensorSpec, arg: str = "dim") -> int:
    """Torch dim (0 is the batch for batched tensors) to an index in ``shape``.

    Raises for the batch dimension: a layer never reshapes the batch here.
    """
    rank = tensor.rank
    if not -rank <= dim < rank:
        raise LayerError(
            f"Dimension out of range (expected to be in range of [{-rank}, {rank - 1}], but got {dim})", arg=arg
        )
    full = dim % rank
    if tensor.batched:
        if full == 0:
            raise LayerError(f"`{arg}` {dim} is the batch dimension", arg=arg)
        return full - 1
    return full


def product_text(shape: Sequence[int]) -> str:
    """``12 x 4 x 4`` for explanations of where a size comes from."""
    return " x ".join(str(s) for s in shape)
