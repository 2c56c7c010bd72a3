"""Precisions against torch on the CPU: bf16 autocast (``bf16-mixed``) and a
bf16 model (``bf16``).

CPU autocast casts the same operators to half as CUDA's (convolutions,
matmuls, attention), caches the half copies of trainable weights for the
forward pass and saves them for backward, but keeps LayerNorm, GroupNorm
and softmax in the input's dtype where CUDA runs them in float32: the CPU
device model says so, and the rest of the rules are shared.  fp16 autocast
is CUDA's (the CPU's is bf16); its memory is the same as bf16's.
"""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from memory_cases import example, paramlint_model, relative_error, torch_peak  # noqa: E402
from test_saved_tensors import IMG2, SEQ, _config, _ours  # noqa: E402
from torch_memory import network_saved, run_graph  # noqa: E402

from paramlint.torch import build  # noqa: E402

MIXED = ["cifar10_cnn", "cifar10_cnn_batchnorm", "resnet18", "mobilenet_v2", "unet_small", "vit_b16", "gpt2_small",
         "bert_base"]
HALF = ["cifar10_cnn", "resnet18", "mobilenet_v2", "vit_b16", "gpt2_small", "bert_base", "lstm_lm"]


@pytest.mark.parametrize("name", MIXED)
def test_bf16_autocast_peak_matches_torch(name):
    data = example(name, blocks=1)
    model, analysis = paramlint_model(data, batch_size=2, precision="bf16-mixed", optimizer="SGD",
                                      optimizer_options={})
    ours = model.estimate(2).peak
    theirs = torch_peak(data, model.setup, analysis.shapes.output.shape, autocast=torch.bfloat16).peak
    assert abs(relative_error(ours, theirs)) <= 0.02, (ours, theirs)


@pytest.mark.parametrize("name", HALF)
def test_bf16_model_peak_matches_torch(name):
    data = example(name, blocks=1)
    model, analysis = paramlint_model(data, batch_size=2, precision="bf16", optimizer="SGD", optimizer_options={})
    ours = model.estimate(2).peak
    theirs = torch_peak(data, model.setup, analysis.shapes.output.shape, dtype=torch.bfloat16).peak
    assert abs(relative_error(ours, theirs)) <= 0.02, (ours, theirs)


def test_adamw_autocast_peak_matches_torch():
    """The optimizer step on fp32 master weights, with the model in autocast."""
    data = example("vit_b16", blocks=1)
    model, analysis = paramlint_model(data, batch_size=2, precision="bf16-mixed")
    ours = model.estimate(2).peak
    theirs = torch_peak(data, model.setup, analysis.shapes.output.shape, autocast=torch.bfloat16).peak
    assert abs(relative_error(ours, theirs)) <= 0.02, (ours, theirs)


@pytest.mark.parametrize("entry,shapes", [
    ({"type": "Conv2d", "out_channels": 5, "kernel_size": 3}, [IMG2]),
    ({"type": "Linear", "out_features": 5}, [SEQ]),
    ({"type": "Linear", "out_features": 5, "trainable": False}, [SEQ]),
    ({"type": "LayerNorm"}, [SEQ]),
    ({"type": "BatchNorm2d"}, [IMG2]),
    ({"type": "GELU"}, [SEQ]),
    ({"type": "Softmax", "dim": -1}, [SEQ]),
    ({"type": "Concat"}, [IMG2, IMG2]),
    ({"type": "MultiheadAttention", "num_heads": 2}, [SEQ]),
    ({"type": "Experts", "num_experts": 3, "intermediate_size": 5, "top_k": 2}, [[7, 8], [7, 3]]),
])
def test_autocast_layer_saves_what_torch_saves(entry, shapes):
    """Half copies of inputs and weights where autocast makes them."""
    data = _config(entry, shapes)
    data["training"] = {"precision": "bf16-mixed"}
    ours, _ = _ours(data, device_precision="bf16-mixed")
    torch.manual_seed(0)
    model = build(data)
    tensors = [torch.randn(3, *shape) for shape in shapes]

    def run(net, *xs):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return run_graph(net, *xs)

    assert ours == network_saved(model, tensors, run=run)


def test_mixed_precision_saves_half_weight_copies():
    """A conv's half weight copy is saved: 2 bytes per weight value on top of its half input."""
    data = _config({"type": "Conv2d", "out_channels": 8, "kernel_size": 3, "bias": False}, [IMG2])
    fp32, _ = _ours(data)
    mixed, _ = _ours(data, device_precision="bf16-mixed")
    layer = max(fp32)
    weight = 8 * 4 * 3 * 3
    assert mixed[layer] == fp32[layer] // 2 + 2 * weight
