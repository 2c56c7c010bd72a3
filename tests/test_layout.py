"""Memory layouts (paramlint/model/layers/layout.py) against torch.

paramlint tracks the strides torch gives every output so that ``View`` is
accepted exactly where torch can view without a copy.  These tests compare
the strides themselves: of every layout rule on inputs laid out in the four
ways that matter (transposed, channels-last, sliced, sliced and transposed),
of ATen's view arithmetic on random views, and of TensorIterator on random
broadcast operands.  The differential suite (layout_graphs) checks the
verdicts on whole graphs.
"""
from __future__ import annotations

import warnings
from typing import Any, Dict, List, Sequence, Tuple

import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings, strategies as st  # noqa: E402

from paramlint.model.layers import layout  # noqa: E402
from paramlint.model.layers.base import TensorSpec  # noqa: E402
from paramlint.lint import analyze_document  # noqa: E402
from paramlint.torch import build  # noqa: E402
from paramlint.validation.validator import SchemaValidator  # noqa: E402

BATCH = 3
VALIDATOR = SchemaValidator()


def _at_batch(strides: Sequence[int]) -> Tuple[int, ...]:
    """paramlint's strides with the symbolic batch size replaced by the one torch ran."""
    return tuple(s % layout.BATCH + (s // layout.BATCH) * BATCH for s in strides)


def _significant(shape: Sequence[int], strides: Sequence[int]) -> Tuple[int, ...]:
    """Strides of the dims of size > 1 (torch leaves the others arbitrary)."""
    return tuple(st if size > 1 else -1 for size, st in zip(shape, strides))


def _ours(config: Dict[str, Any]) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    findings, analysis = analyze_document(config, None, VALIDATOR)
    assert analysis is not None, [f.message for f in findings]
    out = analysis.shapes.output
    return layout.full_shape(out)[1:], _at_batch(layout.strides_of(out))


def _torch(config: Dict[str, Any]) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = build(config)
    model.train()
    # a training step: the input needs a gradient, as every activation after a trained layer does
    y = model(torch.randn(BATCH, *config["input"], requires_grad=True) * 1)
    y = y[0] if isinstance(y, tuple) else y
    return tuple(y.shape[1:]), tuple(y.stride())


# The input layouts: per-sample input shape and the layers that lay it out.
PREFIXES = {
    "transposed": ([4, 5, 6], [{"type": "Transpose", "dim0": 2, "dim1": 3}]),
    "channels_last": ([6, 5, 4], [{"type": "Permute", "dims": [0, 3, 1, 2]}]),
    "sliced": ([4, 6, 7], [{"type": "Slice", "dim": 3, "start": 1, "end": 6}]),
    "sliced_transposed": ([4, 7, 6], [{"type": "Slice", "dim": 2, "start": 1, "end": 6},
                                      {"type": "Transpose", "dim0": 2, "dim1": 3}]),
    "sequence_transposed": ([6, 4], [{"type": "Transpose", "dim0": 1, "dim1": 2}]),
    "sequence_sliced": ([4, 7], [{"type": "Slice", "dim": 2, "start": 2}]),
    "channels_last_3d": ([6, 5, 3, 4], [{"type": "Permute", "dims": [0, 4, 1, 2, 3]}]),
    "channels_last_8": ([6, 4, 8], [{"type": "Permute", "dims": [0, 3, 1, 2]}]),
    "transposed_8": ([8, 4, 6], [{"type": "Transpose", "dim0": 2, "dim1": 3}]),
}
IMAGE = ("transposed", "channels_last", "sliced", "sliced_transposed")
SEQUENCE = ("sequence_transposed", "sequence_sliced")

# Layers, with the prefixes whose output they accept (C = 4 channels everywhere).
LAYERS: List[Tuple[Dict[str, Any], Sequence[str]]] = [
    ({"type": "ReLU"}, IMAGE + SEQUENCE),
    ({"type": "ReLU", "inplace": True}, IMAGE),
    ({"type": "GELU"}, IMAGE),
    ({"type": "RReLU"}, IMAGE),
    ({"type": "RReLU", "inplace": True}, IMAGE),
    ({"type": "Tanhshrink"}, IMAGE),
    ({"type": "LogSigmoid"}, IMAGE),
    ({"type": "PReLU", "num_parameters": 4}, IMAGE + SEQUENCE),
    ({"type": "Softmax", "dim": 1}, IMAGE),
    ({"type": "GLU", "dim": 1}, IMAGE + SEQUENCE),
    ({"type": "Identity"}, IMAGE),
    ({"type": "Dropout", "p": 0.5}, IMAGE),
    ({"type": "Dropout", "p": 0.0}, IMAGE),
    ({"type": "Dropout2d", "p": 0.5}, IMAGE),
    ({"type": "AlphaDropout", "p": 0.5}, IMAGE),
    ({"type": "Conv2d", "out_channels": 3, "kernel_size": 2}, IMAGE),
    ({"type": "Conv2d", "out_channels": 3, "kernel_size": 3, "padding": 1, "padding_mode": "circular"}, IMAGE),
    ({"type": "Conv2d", "out_channels": 3, "kernel_size": 3, "padding": 1, "padding_mode": "reflect"}, IMAGE),
    ({"type": "ConvTranspose2d", "out_channels": 3, "kernel_size": 2}, IMAGE),
    ({"type": "Conv1d", "out_channels": 3, "kernel_size": 2}, SEQUENCE),
    ({"type": "Conv3d", "out_channels": 2, "kernel_size": 1}, ("channels_last_3d",)),
    ({"type": "MaxPool2d", "kernel_size": 2}, IMAGE),
    ({"type": "AvgPool2d", "kernel_size": 2}, IMAGE),
    ({"type": "AdaptiveAvgPool2d", "output_size": 2}, IMAGE),
    ({"type": "LPPool2d", "norm_type": 2, "kernel_size": 2}, IMAGE),
    ({"type": "MaxPool3d", "kernel_size": 1}, ("channels_last_3d",)),
    ({"type": "MaxPool1d", "kernel_size": 2}, SEQUENCE),
    ({"type": "MaxPool1d", "kernel_size": 1, "return_indices": True}, SEQUENCE),
    ({"type": "AvgPool1d", "kernel_size": 2}, SEQUENCE),
    ({"type": "AdaptiveMaxPool1d", "output_size": 2}, SEQUENCE),
    ({"type": "LPPool1d", "norm_type": 2, "kernel_size": 2}, SEQUENCE),
    ({"type": "BatchNorm2d"}, IMAGE),
    ({"type": "BatchNorm1d"}, SEQUENCE),
    ({"type": "BatchNorm3d"}, ("channels_last_3d",)),
    ({"type": "InstanceNorm2d"}, IMAGE),
    ({"type": "GroupNorm", "num_groups": 2}, IMAGE),
    ({"type": "LayerNorm", "normalized_shape": [5]}, ("transposed", "channels_last", "sliced")),
    ({"type": "RMSNorm", "normalized_shape": [5]}, ("transposed", "channels_last", "sliced")),
    ({"type": "LocalResponseNorm", "size": 2}, IMAGE + SEQUENCE),
    ({"type": "Linear", "out_features": 3}, IMAGE),
    ({"type": "Upsample", "scale_factor": 2}, IMAGE),
    ({"type": "Upsample", "scale_factor": 2, "mode": "bilinear"}, IMAGE),
    ({"type": "PixelShuffle", "upscale_factor": 2}, IMAGE + ("channels_last_8", "transposed_8")),
    ({"type": "PixelShuffle", "upscale_factor": 1}, IMAGE),
    ({"type": "PixelUnshuffle", "downscale_factor": 2}, ("channels_last_8", "transposed_8")),
    ({"type": "PixelUnshuffle", "downscale_factor": 1}, IMAGE),
    ({"type": "ChannelShuffle", "groups": 2}, IMAGE),
    ({"type": "ZeroPad2d", "padding": 1}, IMAGE),
    ({"type": "ReflectionPad2d", "padding": 1}, IMAGE),
    ({"type": "CircularPad2d", "padding": 1}, IMAGE),
    ({"type": "Mean", "dim": 2}, IMAGE),
    ({"type": "Flatten"}, IMAGE),
    ({"type": "Flatten", "start_dim": 2}, IMAGE),
    ({"type": "Unflatten", "dim": 3, "unflattened_size": [-1, 1]}, IMAGE),
    ({"type": "Reshape", "shape": [4, -1]}, IMAGE),
    ({"type": "Select", "dim": 1, "index": 1}, IMAGE),
    ({"type": "Add", "from": [-1, -1]}, IMAGE),
    ({"type": "Roll", "shifts": [1, -2], "dims": [2, 3]}, IMAGE),
    ({"type": "Chunk", "chunks": 2, "dim": 1}, IMAGE),
    ({"type": "Split", "split_size_or_sections": 2, "dim": 2}, IMAGE),
    ({"type": "StochasticDepth", "p": 0.5, "mode": "row"}, IMAGE),
    ({"type": "StochasticDepth", "p": 0.0, "mode": "row"}, IMAGE),
    ({"type": "LSTM", "hidden_size": 3, "bidirectional": True}, SEQUENCE),
    ({"type": "MultiheadAttention", "embed_dim": 6, "num_heads": 2}, ("sequence_transposed",)),
    ({"type": "TransformerEncoderLayer", "d_model": 6, "nhead": 2, "dim_feedforward": 8, "dropout": 0.0,
      "norm_first": True}, ("sequence_transposed",)),
    ({"type": "TransformerEncoderLayer", "d_model": 6, "nhead": 2, "dim_feedforward": 8}, ("sequence_transposed",)),
]


def _cases() -> List[Any]:
    cases = []
    for entry, prefixes in LAYERS:
        for prefix in prefixes:
            words = ",".join(f"{k}={v}" for k, v in entry.items() if k != "type")
            cases.append(pytest.param(entry, prefix, id=f"{entry['type']}({words})-{prefix}"))
    return cases


@pytest.mark.parametrize("entry,prefix", _cases())
def test_output_strides_equal_torch(entry, prefix):
    shape, layers = PREFIXES[prefix]
    entry = dict(entry)
    if entry.get("from") == [-1, -1]:
        entry["from"] = ["laid_out", "laid_out"]
    config = {"paramlint": 1, "input": shape,
              "layers": layers[:-1] + [dict(layers[-1], name="laid_out"), entry]}
    (our_shape, ours), (their_shape, theirs) = _ours(config), _torch(config)
    assert our_shape == their_shape
    full = (BATCH,) + their_shape
    assert _significant(full, ours) == _significant(full, theirs), (ours, theirs)


def test_every_layout_rule_is_exercised():
    """The table above reaches every layer family that has a layout rule of its own."""
    from paramlint.model.layers import REGISTRY
    ruled = {name for name, layer in REGISTRY.items() if layer.layout is not None}
    covered = {entry["type"] for entry, _ in LAYERS}
    families = {REGISTRY[name].family for name in ruled - covered}
    assert families <= {REGISTRY[name].family for name in covered}


# ---------------------------------------------------------------------------
# The view arithmetic (ATen's computeStride) on random views.

@st.composite
def _strided(draw: Any) -> Tuple[Any, TensorSpec]:
    """A batched tensor made by permuting and slicing a contiguous one, and its TensorSpec."""
    shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    base = torch.zeros(BATCH, *shape)
    order = draw(st.permutations(list(range(1, len(shape) + 1))))
    x = base.permute(0, *order)
    for dim in range(1, x.dim()):
        if draw(st.booleans()) and x.shape[dim] > 1:
            start = draw(st.integers(0, x.shape[dim] - 1))
            step = draw(st.integers(1, 2))
            x = x.narrow(dim, 0, x.shape[dim])[(slice(None),) * dim + (slice(start, None, step),)]
    spec = layout.with_strides(TensorSpec(tuple(x.shape[1:])), x.stride())
    return x, spec


@st.composite
def _target(draw: Any, shape: Sequence[int]) -> List[int]:
    numel = 1
    for s in shape:
        numel *= s
    factors: List[int] = []
    rest = numel
    while rest > 1 and len(factors) < 4:
        divisors = [d for d in range(2, rest + 1) if rest % d == 0]
        d = draw(st.sampled_from(divisors))
        factors.append(d)
        rest //= d
    ones = draw(st.lists(st.just(1), max_size=2))
    return draw(st.permutations(factors + ones)) or [1]


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_view_strides_equal_torch(data):
    x, spec = data.draw(_strided())
    target = data.draw(_target(tuple(x.shape[1:])))
    ours = layout.view_strides(spec, target)
    try:
        theirs = x.view(BATCH, *target).stride()
    except RuntimeError:
        theirs = None
    if theirs is None or ours is None:
        assert ours == theirs
    else:
        full = (BATCH, *target)
        assert _significant(full, ours) == _significant(full, theirs)


# ---------------------------------------------------------------------------
# TensorIterator's output layout on random operands.

@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_elementwise_output_strides_equal_torch(data):
    x, spec = data.draw(_strided())
    shape = tuple(x.shape[1:])
    # the other operand: the same layout, another permutation, a broadcast row, or contiguous
    kind = data.draw(st.sampled_from(("same", "other", "broadcast", "contiguous")))
    if kind == "same":
        y, other = x, spec
    elif kind == "other":
        y, other = data.draw(_strided())
        if tuple(y.shape) != tuple(x.shape):
            y, other = torch.zeros(BATCH, *shape), TensorSpec(shape)
    elif kind == "broadcast":
        y, other = torch.zeros(shape[-1:]), TensorSpec(shape[-1:], batched=False)
    else:
        y, other = torch.zeros(BATCH, *shape), TensorSpec(shape)
    out = layout.as_pointwise({}, [spec, other], TensorSpec(shape))
    full = (BATCH,) + shape
    assert _significant(full, _at_batch(layout.strides_of(out))) == _significant(full, (x + y).stride())
