"""FLOPs of a training step against FlopCounterMode on ``meta`` (paramlint's
convention, tests/meta_flops.py): forward and backward, for every layer type
(and its first-layer and frozen variants) and for every example network.
"""
from __future__ import annotations

import itertools

import pytest

torch = pytest.importorskip("torch")
from hypothesis import assume, given, settings, strategies as st  # noqa: E402

import meta_flops  # noqa: E402
from memory_cases import example, inputs_of  # noqa: E402
from test_layers_attention import attention_configs  # noqa: E402
from test_saved_tensors import CASES, _config, _inputs  # noqa: E402
from torch_memory import run_graph  # noqa: E402

from paramlint.model.graph import build_graph  # noqa: E402
from paramlint.lint import analyze_document  # noqa: E402
from paramlint.memory.step_flops import step_flops  # noqa: E402
from paramlint.torch import build  # noqa: E402
from paramlint.validation.validator import SchemaValidator  # noqa: E402

BATCH = 3


def _ours(data):
    findings, analysis = analyze_document(data, None, SchemaValidator())
    assert analysis is not None, findings
    graph, _ = build_graph(data)
    return step_flops(analysis.shapes, graph.output)


# Layers whose torch forward depends on the data (Experts routes each token with nonzero(), which meta cannot
# run): counted on the CPU, which sees the same products (no attention inside them).
DATA_DEPENDENT = frozenset({"Experts"})


def _theirs(data, inputs, device=meta_flops.META):
    """Forward and backward FLOPs of the built model, run node by node on ``device`` (meta unless the data
    decides what runs)."""
    counted = meta_flops.flops(lambda: _seeded_build(data), inputs, device=device, backward=True, run=run_graph)
    return counted.forward, counted.backward


def _seeded_build(data):
    torch.manual_seed(0)
    return build(data)


@pytest.mark.parametrize("first", [False, True], ids=["inside", "first"])
@pytest.mark.parametrize("case", CASES, ids=[f"{e['type']}-{i}" for i, (e, _) in enumerate(CASES)])
def test_layer_flops_match_flop_counter(case, first):
    entry, shapes = case
    data = _config(entry, shapes, first=first)
    ours = _ours(data)
    device = meta_flops.CPU if entry["type"] in DATA_DEPENDENT else meta_flops.META
    forward, backward = _theirs(data, lambda: _inputs(data, BATCH), device)
    assert (ours.forward * BATCH, ours.backward * BATCH) == (forward, backward)


def test_frozen_linear_counts_only_the_input_gradient():
    data = _config({"type": "Linear", "out_features": 5, "trainable": False}, [[7, 8]])
    ours = _ours(data)
    assert ours.backward == ours.forward


EXAMPLES = ["cifar10_cnn", "cifar10_cnn_batchnorm", "resnet18", "resnet50", "mobilenet_v2", "vgg16", "unet_small",
            "vit_b16", "gpt2_small", "bert_base", "lstm_lm"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_step_flops_match_flop_counter(name):
    data = example(name, blocks=2)
    ours = _ours(data)
    forward, backward = _theirs(data, lambda: inputs_of(data, 2, meta_flops.META))
    assert (2 * ours.forward, 2 * ours.backward) == (forward, backward)
    assert ours.per_step(2) == forward + backward


def _partly_scaled(entry, shapes, scaled):
    """The layer on model inputs, those named in ``scaled`` first multiplied by a Parameter (needing a gradient)."""
    layers = [{"type": "Parameter", "shape": [1], "name": "scale"}]
    sources = []
    for i in range(len(shapes)):
        if i in scaled:
            layers.append({"type": "Multiply", "from": [f"x{i}", "scale"], "name": f"scaled_x{i}"})
        sources.append(f"scaled_x{i}" if i in scaled else f"x{i}")
    layers.append(dict(entry, name="layer", **{"from": sources if len(sources) > 1 else sources[0]}))
    return {"paramlint": 1, "inputs": {f"x{i}": shape for i, shape in enumerate(shapes)}, "layers": layers}


SDPA_SHAPES = [[2, 7, 4], [2, 5, 4], [2, 5, 3]]
PARTLY = [
    ({"type": "ScaledDotProductAttention"}, SDPA_SHAPES),
    ({"type": "ScaledDotProductAttention", "is_causal": True, "enable_gqa": True}, [[4, 5, 4], [2, 5, 4], [2, 5, 3]]),
    ({"type": "MultiheadAttention", "num_heads": 2, "trainable": False}, [[7, 8], [5, 6], [5, 3]]),
    ({"type": "MultiheadAttention", "num_heads": 2}, [[7, 8], [5, 6], [5, 3]]),
    ({"type": "MultiheadAttention", "num_heads": 2, "trainable": False}, [[7, 8], [5, 8]]),
    ({"type": "MultiheadAttention", "num_heads": 2, "trainable": False, "need_weights": True}, [[7, 8]]),
    ({"type": "TransformerEncoderLayer", "nhead": 2, "dim_feedforward": 16, "trainable": False}, [[7, 8]]),
    ({"type": "TransformerDecoderLayer", "nhead": 2, "dim_feedforward": 16, "trainable": False}, [[7, 8], [5, 8]]),
    ({"type": "TransformerDecoderLayer", "nhead": 2, "dim_feedforward": 16, "trainable": False,
      "norm_first": True}, [[7, 8], [5, 8]]),
    ({"type": "Transformer", "nhead": 2, "dim_feedforward": 16, "num_encoder_layers": 1, "num_decoder_layers": 1,
      "trainable": False}, [[7, 8], [5, 8]]),
    ({"type": "LSTM", "hidden_size": 6, "num_layers": 2, "proj_size": 2, "trainable": False}, [[7, 8]]),
    ({"type": "GRUCell", "hidden_size": 6, "trainable": False}, [[8]]),
]


PARTLY_RUNS = [(entry, shapes, scaled) for entry, shapes in PARTLY
               for n in range(1, len(shapes) + 1) for scaled in itertools.combinations(range(len(shapes)), n)]


@pytest.mark.parametrize("entry,shapes,scaled", PARTLY_RUNS,
                         ids=[f"{e['type']}-{PARTLY.index((e, s))}-grad{''.join(map(str, g))}"
                              for e, s, g in PARTLY_RUNS])
def test_backward_counts_each_operand_that_needs_a_gradient(entry, shapes, scaled):
    """Attention's backward multiplies by an operand once for each other
    operand that needs a gradient; frozen layers pass gradients through."""
    data = _partly_scaled(entry, shapes, scaled)
    ours = _ours(data)
    forward, backward = _theirs(data, lambda: _inputs(data, BATCH))
    assert (ours.forward * BATCH, ours.backward * BATCH) == (forward, backward)


@settings(max_examples=40, deadline=None)
@given(attention_configs(), st.data())
def test_attention_step_flops_property(config, data):
    """Random attention layers (shapes, heads, GQA, masks, frozen or not) with
    a random subset of their inputs needing a gradient."""
    layer_type, args, shapes = config
    entry = dict(args, type=layer_type, trainable=data.draw(st.booleans()))
    scaled = data.draw(st.sets(st.integers(0, len(shapes) - 1), min_size=1))
    config = _partly_scaled(entry, shapes, scaled)
    findings, analysis = analyze_document(config, None, SchemaValidator())
    assume(analysis is not None)
    ours = _ours(config)
    forward, backward = _theirs(config, lambda: _inputs(config, BATCH))
    assert (ours.forward * BATCH, ours.backward * BATCH) == (forward, backward)
