"""FLOPs of a training step against FlopCounterMode: forward and backward,
for every layer type (and its first-layer and frozen variants) and for every
example network.

The convolutional examples are counted on the ``meta`` device (shapes only,
counted as on the CPU); the others on the CPU, because the CPU's fused
kernels (flash attention without dropout, the oneDNN LSTM) are what
FlopCounterMode does not see, and paramlint counts as the CPU does.
"""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from memory_cases import example, inputs_of  # noqa: E402
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


def _theirs(data, inputs, device="cpu"):
    with torch.device(device):
        torch.manual_seed(0)
        model = build(data)
    model.train()
    with FlopCounterMode(display=False) as forward:
        out = run_graph(model, *inputs)
    backward = 0
    if out.requires_grad:
        with FlopCounterMode(display=False) as counter:
            out.float().sum().backward()
        backward = counter.get_total_flops()
    return forward.get_total_flops(), backward


@pytest.mark.parametrize("first", [False, True], ids=["inside", "first"])
@pytest.mark.parametrize("case", CASES, ids=[f"{e['type']}-{i}" for i, (e, _) in enumerate(CASES)])
def test_layer_flops_match_flop_counter(case, first):
    entry, shapes = case
    if first and entry["type"] == "ScaledDotProductAttention" and len(shapes) == 4:
        pytest.skip("an attn_mask that needs no gradient (a model input) lets the CPU run its uncounted flash "
                    "kernel; paramlint takes the mask to be a learned bias (see model/layers/attention.py)")
    data = _config(entry, shapes, first=first)
    ours = _ours(data)
    forward, backward = _theirs(data, _inputs(data, BATCH))
    assert (ours.forward * BATCH, ours.backward * BATCH) == (forward, backward)


def test_frozen_linear_counts_only_the_input_gradient():
    data = _config({"type": "Linear", "out_features": 5, "trainable": False}, [[7, 8]])
    ours = _ours(data)
    assert ours.backward == ours.forward


EXAMPLES = ["cifar10_cnn", "cifar10_cnn_batchnorm", "resnet18", "resnet50", "mobilenet_v2", "vgg16", "unet_small",
            "vit_b16", "gpt2_small", "bert_base", "lstm_lm"]
META = {"cifar10_cnn", "cifar10_cnn_batchnorm", "resnet18", "resnet50", "mobilenet_v2", "vgg16"}


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_step_flops_match_flop_counter(name):
    data = example(name, blocks=2)
    device = "meta" if name in META else "cpu"
    inputs = inputs_of(data, 2, device)
    ours = _ours(data)
    forward, backward = _theirs(data, inputs, device)
    assert (2 * ours.forward, 2 * ours.backward) == (forward, backward)
    assert ours.per_step(2) == forward + backward
