"""The memory model's behaviour: checkpointing, inference, sharding, the
device constants, ``paramlint fit``, the reports and the cost."""
from __future__ import annotations

import json
from typing import Any

import pytest

from paramlint.cli import main as cli_main
from paramlint.commands.fit import GPUS, largest_batch
from paramlint.commands.fit import main as fit_main
from paramlint.model.graph import build_graph
from paramlint.lint import Linter, analyze_document
from paramlint.memory.model import MemoryModel
from paramlint.memory.plan import checkpoint_regions
from paramlint.memory.precision import CPU, CUDA
from paramlint.model.training import read_training
from paramlint.validation.validator import SchemaValidator

torch = pytest.importorskip("torch")

from memory_cases import EXAMPLES, example, inputs_of, paramlint_model, relative_error, torch_peak  # noqa: E402
from torch_memory import LiveStorages, run_graph  # noqa: E402

from paramlint.torch import build  # noqa: E402


def _model(data, device=CUDA, **training):
    findings, analysis = analyze_document(data, None, SchemaValidator())
    assert analysis is not None, findings
    graph, _ = build_graph(data)
    setup = read_training(data.get("training")).replace(**training)
    return MemoryModel(analysis.shapes, setup, output=graph.output, device=device)


# -- checkpointing -----------------------------------------------------------------

def _checkpointed(name):
    data = example(name, blocks=2)
    if name == "resnet18":
        data["input"] = [3, 64, 64]
    for layer in data["layers"]:
        if layer["type"] in ("Stage", "Block", "EncoderBlock"):
            layer["checkpoint"] = True
    return data


def test_block_use_checkpoint_marks_its_layers_as_one_region():
    data = _checkpointed("gpt2_small")
    graph, _ = build_graph(data)
    regions = checkpoint_regions(graph.nodes)
    blocks = {regions[n.index] for n in graph.nodes if n.frames}
    assert len(blocks) == 2 and all(n.index in regions for n in graph.nodes if n.frames)
    assert not any(n.index in regions for n in graph.nodes if not n.frames)


@pytest.mark.parametrize("name", ["resnet18", "gpt2_small"])
def test_checkpointing_matches_torch_and_saves_memory(name):
    data = _checkpointed(name)
    model, analysis = paramlint_model(data, batch_size=2, precision="fp32", optimizer="SGD", optimizer_options={})
    plain = _model(example(name, blocks=2) if name != "resnet18" else dict(data, layers=[
        {k: v for k, v in layer.items() if k != "checkpoint"} for layer in data["layers"]]), device=CPU,
        batch_size=2, precision="fp32", optimizer="SGD", optimizer_options={})
    estimate = model.estimate(2)
    assert estimate.forward_activations < plain.estimate(2).forward_activations
    theirs = torch_peak(data, model.setup, analysis.shapes.output.shape).peak
    assert abs(relative_error(estimate.peak, theirs)) <= 0.02, (estimate.peak, theirs)


# -- inference ----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["cifar10_cnn_batchnorm", "resnet18", "vit_b16", "gpt2_small"])
def test_inference_peak_matches_torch(name):
    data = example(name, blocks=2)
    model, _ = paramlint_model(data, batch_size=2, precision="fp32")
    torch.manual_seed(0)
    net = build(data).eval()
    inputs = inputs_of(data, 2)
    tracker = LiveStorages()
    tracker.track(list(net.parameters()), list(net.buffers()), inputs)
    tracker.reset_peak()
    with torch.no_grad(), tracker:
        run_graph(net, *inputs)
    assert model.inference_peak(2) == tracker.peak


# -- sharding, devices, constants ----------------------------------------------------

def test_zero_stages_shard_state_then_gradients_then_parameters():
    data = example("resnet18")
    peaks = {}
    for stage in ("none", "zero1", "zero2", "zero3"):
        model = _model(data, batch_size=8, optimizer="Adam", optimizer_options={}, devices=8, sharding=stage)
        peaks[stage] = model.estimate()
    base = peaks["none"]
    assert peaks["zero1"].optimizer_state < base.optimizer_state / 7
    assert peaks["zero2"].all_gradients < base.all_gradients / 7
    assert peaks["zero3"].params < base.params / 7
    assert base.peak > peaks["zero1"].peak > peaks["zero2"].peak > peaks["zero3"].peak
    assert peaks["zero3"].forward_activations == base.forward_activations  # ZeRO does not shard activations


def test_cuda_overhead_is_a_configurable_constant():
    data = example("cifar10_cnn")
    cuda = _model(data).estimate()
    other = _model(data, device=CUDA.with_overhead(0)).estimate()
    assert cuda.peak - other.peak == CUDA.overhead == 65 * 2**20
    assert cuda.overhead == CUDA.overhead


def test_dropout_mask_is_one_byte_on_cuda_and_float_on_the_cpu():
    data = {"paramlint": 1, "input": [1000], "layers": [{"type": "Linear", "out_features": 1000},
                                                         {"type": "Dropout", "p": 0.5}]}
    cuda = _model(data, batch_size=64).estimate().layer_activations
    cpu = _model(data, device=CPU, batch_size=64).estimate().layer_activations
    assert (cuda[1], cpu[1]) == (64 * 1000, 64 * 1000 * 4)


def test_every_allocation_is_rounded_to_512_bytes():
    data = {"paramlint": 1, "input": [3], "layers": [{"type": "Linear", "out_features": 3}, {"type": "ReLU"}]}
    estimate = _model(data, batch_size=1).estimate()
    assert all(value % 512 == 0 for value in estimate.parts().values())


def test_mse_loss_keeps_no_log_softmax():
    data = example("cifar10_cnn")
    ce = _model(data, batch_size=256).estimate()
    mse = _model(data, batch_size=256, loss="MSELoss").estimate()
    assert mse.forward_activations < ce.forward_activations


def test_frozen_prefix_saves_nothing():
    data = example("cifar10_cnn")
    for layer in data["layers"][:6]:
        layer["trainable"] = False
    frozen = _model(data, batch_size=64).estimate()
    assert frozen.layer_activations[:6] == (0,) * 6
    assert frozen.peak < _model(example("cifar10_cnn"), batch_size=64).estimate().peak


def test_twenty_thousand_layers_make_a_linear_timeline():
    """The memory model's work is linear in the layers: a bounded number of storages and steps per layer
    (the time it takes is measured in benchmarks/bench.py, not here)."""
    blocks = {"B": {"layers": [{"type": "Linear", "out_features": 64}, {"type": "LayerNorm"}, {"type": "ReLU"},
                               {"type": "Add", "from": [2, "input"]}]}}

    def timeline(repeat: int) -> Any:
        data = {"paramlint": 1, "input": [64], "blocks": blocks,
                "layers": [{"type": "B", "repeat": repeat}, {"type": "Linear", "out_features": 10}],
                "training": {"batch_size": 32, "optimizer": "Adam"}}
        findings, analysis = analyze_document(data, None, SchemaValidator())
        graph, _ = build_graph(data)
        return MemoryModel(analysis.shapes, read_training(data["training"]), output=graph.output).training

    small, large = timeline(500), timeline(5000)
    extra_layers = 4 * (5000 - 500)
    assert len(large.steps) - len(small.steps) <= 8 * extra_layers
    assert len(large.storages.category) - len(small.storages.category) <= 16 * extra_layers


# -- fit --------------------------------------------------------------------------------

def test_largest_batch_is_the_boundary():
    peak = lambda batch: 1000 + 37 * batch  # noqa: E731
    assert largest_batch(peak, 1000 + 37 * 413) == (413, 1000 + 37 * 413)
    assert largest_batch(peak, 1000 + 37 * 413 - 1)[0] == 412
    assert largest_batch(peak, 999) == (0, 1037)


def test_fit_command_on_a_named_gpu(capsys):
    path = str(EXAMPLES / "resnet50.yaml")
    assert cli_main(["fit", path, "--gpu", "A100-80GB", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    model = _model(example("resnet50"))
    batch = report["batch_size"]
    assert model.peak(batch) <= GPUS["A100-80GB"] < model.peak(batch + 1)
    assert report["memory"]["peak"] == report["peak"] == model.peak(batch)


def test_fit_command_text_and_failures(capsys):
    path = str(EXAMPLES / "cifar10_cnn.yaml")
    assert fit_main([path, "--memory", "1 GiB"]) == 0
    text = capsys.readouterr().out
    assert "largest batch size" in text and "activations" in text
    assert fit_main([path, "--memory", "10 MiB"]) == 1  # the overhead alone is 65 MiB
    assert "not even batch size 1" in capsys.readouterr().out
    assert fit_main([path, "--gpu", "TPU"]) == 2
    assert fit_main([path, "--memory", "10 MiB", "--overhead", "0", "--device", "cpu"]) == 0


# -- reports ----------------------------------------------------------------------------

def test_summary_shows_the_breakdown_and_per_layer_activations(capsys):
    assert cli_main(["--summary", str(EXAMPLES / "cifar10_cnn.yaml")]) == 0
    text = capsys.readouterr().out
    assert any(line.startswith("Layer") and line.endswith("Saved for backward") for line in text.splitlines())
    for part in ("overhead", "transient", "activations", "optimizer state", "inference", "Training step FLOPs"):
        assert part in text


def test_json_memory_has_the_parts_and_the_layers(capsys):
    cli_main(["--format", "json", str(EXAMPLES / "cifar10_cnn.yaml")])
    model = json.loads(capsys.readouterr().out)["files"][0]["model"]
    memory = model["memory"]
    parts = ("params", "buffers", "gradients", "optimizer_state", "inputs", "activations", "transient", "overhead")
    assert sum(memory[k] for k in parts) == memory["peak"]
    assert len(memory["activations_by_layer"]) == len(model["layers"])
    assert memory["inference_peak"] > 0 and memory["step_flops"]["backward"] > 0


def test_failed_memory_budget_says_what_would_fit():
    text = (EXAMPLES / "resnet18.yaml").read_text(encoding="utf-8")
    text = text.replace("budgets:\n", "budgets:\n  memory: 4 GiB\n")
    report = Linter().lint_bytes(text.encode(), path="resnet18.yaml")
    messages = [d.message for d in report.diagnostics if d.code == "PL501"]
    assert messages and "largest: activations" in messages[0]
    assert "would fit: batch size" in messages[0] and "bf16-mixed" in messages[0]
