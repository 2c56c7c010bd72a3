"""A LoRA step's memory against torch + peft on the CPU: the tensors the
forward pass saves for backward (saved_tensors_hooks, byte-exact, fp32 and
bf16 autocast) and the peak of a whole training step."""
from __future__ import annotations

import copy
import math
import os
import warnings
from pathlib import Path
from typing import Any, Dict, List, Mapping, Tuple

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")

from helpers import saved_bytes  # noqa: E402
from torch_memory import run_graph, saved_in_precision, training_step  # noqa: E402

from paramlint.lint import analyze_document  # noqa: E402
from paramlint.memory.model import MemoryModel  # noqa: E402
from paramlint.memory.precision import CPU  # noqa: E402
from paramlint.torch import build  # noqa: E402
from paramlint.validation.validator import SchemaValidator  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LLAMA = yaml.safe_load((ROOT / "tests" / "finetune_cases" / "tiny_llama.yaml").read_text())
BATCH = 3

CNN = {"paramlint": 1, "input": [3, 12, 12], "layers": [
    {"type": "Conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1, "name": "conv1"},
    {"type": "ReLU"},
    {"type": "Conv2d", "out_channels": 8, "kernel_size": 3, "stride": 2, "groups": 2, "name": "conv2"},
    {"type": "Flatten"},
    {"type": "Linear", "out_features": 10, "name": "fc"}]}

MLP = {"paramlint": 1, "input": [5, 12], "layers": [
    {"type": "Linear", "out_features": 24, "name": "stem"},
    {"type": "GELU"},
    {"type": "Linear", "out_features": 16, "name": "hidden"},
    {"type": "Linear", "out_features": 10, "name": "out"}]}

CASES: List[Tuple[str, Mapping[str, Any], Dict[str, Any]]] = [
    ("llama-qv", LLAMA, dict(r=4, target_modules=["q_proj", "v_proj"])),
    ("llama-qv-dropout", LLAMA, dict(r=4, target_modules=["q_proj", "v_proj"], lora_dropout=0.1)),
    ("llama-all-linear", LLAMA, dict(r=2, target_modules="all-linear", lora_dropout=0.05, lora_alpha=16)),
    ("llama-embed", LLAMA, dict(r=2, target_modules=["embed_tokens", "o_proj"])),
    ("cnn-conv", CNN, dict(r=2, target_modules=["conv1", "conv2", "fc"], lora_dropout=0.1)),
    ("llama-dora-qv", LLAMA, dict(r=4, target_modules=["q_proj", "v_proj"], use_dora=True)),
    ("llama-dora-all-linear-dropout", LLAMA, dict(r=2, target_modules="all-linear", lora_dropout=0.1,
                                                  use_dora=True)),
    ("mlp-dora-bias", MLP, dict(r=2, target_modules=["hidden", "out"], use_dora=True, bias="lora_only")),
    ("mlp-dora-bias-dropout", MLP, dict(r=2, target_modules=["hidden", "out"], use_dora=True, lora_dropout=0.2)),
    ("mlp-dora-all-biases-dropout", MLP, dict(r=4, target_modules=["stem", "hidden", "out"], use_dora=True,
                                              lora_dropout=0.1, bias="all")),
    ("cnn-dora-fc", CNN, dict(r=2, target_modules=["fc"], use_dora=True, lora_dropout=0.1)),
    ("llama-dora-embed", LLAMA, dict(r=2, target_modules=["embed_tokens", "o_proj"], use_dora=True)),
    ("cnn-dora-conv", CNN, dict(r=2, target_modules=["conv1", "conv2"], use_dora=True, bias="lora_only")),
    ("cnn-dora-conv-dropout", CNN, dict(r=2, target_modules=["conv1", "conv2", "fc"], use_dora=True,
                                        lora_dropout=0.1, bias="all")),
]


def _config(data: Mapping[str, Any], lora: Dict[str, Any], precision: str) -> Dict[str, Any]:
    config = copy.deepcopy(dict(data))
    config["training"] = {"batch_size": BATCH, "precision": precision, "optimizer": "AdamW", "lora": lora}
    return config


def _analysis(config: Mapping[str, Any]) -> Any:
    findings, analysis = analyze_document(config, None, SchemaValidator())
    assert analysis is not None and analysis.finetune is not None, findings
    return analysis


def _memory_model(analysis: Any) -> MemoryModel:
    run = analysis.finetune
    return MemoryModel(run.shapes, analysis.training, output=run.output, device=CPU, tuning=run.tuning)


def _peft_model(data: Mapping[str, Any], lora: Dict[str, Any]) -> Any:
    torch.manual_seed(0)
    model = build({k: v for k, v in data.items() if k != "training"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wrapped = peft.get_peft_model(model, peft.LoraConfig(**lora))
    return model, wrapped


def _inputs(data: Mapping[str, Any]) -> List[Any]:
    torch.manual_seed(1)
    if "input" in data:
        return [torch.randn(BATCH, *data["input"])]
    return [torch.randint(0, 100, (BATCH, *spec["shape"])) for spec in data["inputs"].values()]


@pytest.mark.parametrize("precision", ["fp32", "bf16-mixed"])
@pytest.mark.parametrize("name, data, lora", CASES, ids=[c[0] for c in CASES])
def test_lora_forward_saves_what_torch_saves(name: str, data: Mapping[str, Any], lora: Dict[str, Any],
                                             precision: str) -> None:
    analysis = _analysis(_config(data, lora, precision))
    model = _memory_model(analysis)
    ours = saved_bytes(model.training, BATCH)
    bridge, _ = _peft_model(data, lora)
    inputs = _inputs(data)
    kept, freed = saved_in_precision(precision, bridge, inputs)
    assert ours + _dora_hook_cycle_bytes(analysis) == kept
    assert freed == _dora_eye_bytes(analysis, precision)


def _dora_eye_bytes(analysis: Any, precision: str) -> int:
    """DoRA's lora_B(lora_A(eye(in))) packs eye(in) and lora_A(eye) and dies with the layer's forward
    (its result is used detached): in x in and in x r values in the adapters' compute dtype.  A
    convolution's mm(lora_B.weight, lora_A.weight) packs the weights themselves, and under autocast
    their half copies (as many values as lora_A and lora_B hold)."""
    if not analysis.finetune.finetune.settings.use_dora:
        return 0
    r = analysis.finetune.finetune.settings.r
    size = 2 if precision == "bf16-mixed" else 4
    layers = analysis.shapes.layers
    total = 0
    for i in analysis.finetune.finetune.adapted:
        weight = layers[i].result.params["weight"]
        if layers[i].node.type == "Linear":
            total += (weight[1] ** 2 + weight[1] * r) * size
        elif layers[i].node.type.startswith("Conv") and precision == "bf16-mixed":
            groups = (layers[i].result.args or layers[i].node.args).get("groups", 1)
            total += (weight[0] * r // groups + r * weight[1] * groups * math.prod(weight[2:])) * size
        elif layers[i].node.type == "Embedding" and precision == "bf16-mixed":  # (A.T @ B.T): both cast
            total += (weight[0] + weight[1]) * r * size
    return total


def _dora_hook_cycle_bytes(analysis: Any) -> int:
    """A DoRA Embedding's weight norm reads ``transpose(W, fan_in_fan_out=True)``, which peft wraps in a
    new ``nn.Parameter`` (requires_grad): ``norm(W.T + scaling * lora_weight)`` packs its float32 input
    (num x dim) and its result.  Without hooks both die as the layer's forward returns (the norm's
    node goes with the non-detached result); a pack hook that returns the tensor itself keeps the result
    and so its own node alive: the hooks see the input kept.  Measured, torch 2.13."""
    if not analysis.finetune.finetune.settings.use_dora:
        return 0
    layers = analysis.shapes.layers
    return sum(math.prod(layers[i].result.params["weight"]) * 4 for i in analysis.finetune.finetune.adapted
               if layers[i].node.type == "Embedding")


@pytest.mark.parametrize("name, data, lora", CASES, ids=[c[0] for c in CASES])
def test_lora_step_peak_matches_torch(name: str, data: Mapping[str, Any], lora: Dict[str, Any]) -> None:
    analysis = _analysis(_config(data, lora, "fp32"))
    predicted = _memory_model(analysis).peak(BATCH)
    bridge, wrapped = _peft_model(data, lora)
    inputs = _inputs(data)
    classes = analysis.shapes.output.shape[-1]
    numel = BATCH * (analysis.shapes.output.numel // classes)
    target = torch.randint(0, classes, (numel,))
    optimizer = torch.optim.AdamW([p for p in bridge.parameters() if p.requires_grad], foreach=False)
    measured = training_step(bridge, inputs, target, optimizer, forward=lambda *xs: run_graph(bridge, *xs)).peak
    assert predicted == measured


RANDOM_CASES = int(os.environ.get("PARAMLINT_LORA_MEMORY_CASES", "25"))


@st.composite
def _random_mlps(draw: Any) -> Tuple[Dict[str, Any], Dict[str, Any], str]:
    """An MLP of 2-4 Linears (GELU or nothing between), some adapted, LoRA or DoRA."""
    count = draw(st.integers(2, 4))
    layers: List[Dict[str, Any]] = []
    for index in range(count):
        layers.append({"type": "Linear", "out_features": draw(st.integers(3, 20)), "bias": draw(st.booleans()),
                       "name": f"fc{index}"})
        if index < count - 1 and draw(st.booleans()):
            layers.append({"type": "GELU"})
    data = {"paramlint": 1, "input": [draw(st.integers(1, 4)), draw(st.integers(3, 20))], "layers": layers}
    targets = draw(st.lists(st.sampled_from([f"fc{i}" for i in range(count)]), min_size=1, unique=True))
    lora = dict(r=draw(st.integers(1, 4)), target_modules=targets, use_dora=draw(st.booleans()),
                lora_dropout=draw(st.sampled_from([0.0, 0.2])),
                bias=draw(st.sampled_from(["none", "all", "lora_only"])))
    return data, lora, draw(st.sampled_from(["fp32", "bf16-mixed"]))


@settings(max_examples=RANDOM_CASES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_random_mlps())
def test_random_lora_and_dora_saved_tensors_and_peak(case: Tuple[Dict[str, Any], Dict[str, Any], str]) -> None:
    data, lora, precision = case
    analysis = _analysis(_config(data, lora, precision))
    model = _memory_model(analysis)
    ours = saved_bytes(model.training, BATCH)
    bridge, _ = _peft_model(data, lora)
    inputs = _inputs(data)
    kept, freed = saved_in_precision(precision, bridge, inputs)
    assert (ours, freed) == (kept, _dora_eye_bytes(analysis, precision))
    # The peak, LoRA and DoRA alike (DoRA's backward node by node: memory/dora_backward.py).
    if precision == "fp32":
        classes = analysis.shapes.output.shape[-1]
        target = torch.randint(0, classes, (BATCH * (analysis.shapes.output.numel // classes),))
        optimizer = torch.optim.AdamW([p for p in bridge.parameters() if p.requires_grad], foreach=False)
        measured = training_step(bridge, inputs, target, optimizer, forward=lambda *xs: run_graph(bridge, *xs)).peak
        assert model.peak(BATCH) == measured


# ensure_weight_tying: peft ties only a transformers model's weights (its _tied_weights_keys); the tiny Llama
# with its head tied to the embedding, declared a transformers model on both sides, is one.
TIED = copy.deepcopy(dict(LLAMA), memo={})
TIED["layers"][3]["shares"] = "embed_tokens"
TIED["transformers"] = {"model_type": "llama", "output_embeddings": "lm_head"}


def _without_input_grads(model: Any) -> None:
    """peft makes the input embeddings' output require grad in a model with get_input_embeddings (as
    transformers' enable_input_require_grads); paramlint does not model that, and it is not tying."""
    for module in model.modules():
        for key, hook in list(module._forward_hooks.items()):
            if getattr(hook, "__name__", "") == "make_inputs_require_grad":
                del module._forward_hooks[key]


def _as_transformers(model: Any) -> Any:
    """What peft reads of a transformers model with tied embeddings (transformers 4's list of keys)."""
    model._tied_weights_keys = ["lm_head.weight"]
    model.get_input_embeddings = lambda: model.get_submodule("embed_tokens")  # peft's wrapper, once it is one
    return model


TIED_CASES = [
    ("save-head", dict(r=4, target_modules=["q_proj"], modules_to_save=["lm_head"])),
    ("save-both", dict(r=4, target_modules=["q_proj"], modules_to_save=["lm_head", "embed_tokens"])),
    ("target-head", dict(r=4, target_modules=["q_proj", "lm_head"])),
    ("target-embedding-dropout", dict(r=2, target_modules=["o_proj", "embed_tokens"], lora_dropout=0.1)),
    ("regex-head", dict(r=2, target_modules=r".*\.v_proj|lm_head")),
]


@pytest.mark.parametrize("tying", [False, True])
@pytest.mark.parametrize("name, lora", TIED_CASES, ids=[c[0] for c in TIED_CASES])
def test_weight_tying_step_peak_matches_torch(name: str, lora: Dict[str, Any], tying: bool) -> None:
    """A tied trained copy is one tensor (one gradient, one optimizer state); tied adapters are
    Parameters of their own on shared storage."""
    lora = dict(lora, ensure_weight_tying=tying)
    analysis = _analysis(_config(TIED, lora, "fp32"))
    predicted = _memory_model(analysis).peak(BATCH)
    torch.manual_seed(0)
    bridge = _as_transformers(build({k: v for k, v in TIED.items() if k not in ("training", "transformers")}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wrapped = peft.get_peft_model(bridge, peft.LoraConfig(**copy.deepcopy(lora)))
    _without_input_grads(bridge)
    params = {id(p): p for p in wrapped.parameters()}.values()
    finetune = analysis.finetune.finetune
    assert (finetune.params, finetune.trainable_params) == (sum(p.numel() for p in params),
                                                          sum(p.numel() for p in params if p.requires_grad))
    head, embedding = finetune.paths.index("lm_head"), finetune.paths.index("embed_tokens")
    if tying and finetune.copies:  # one trained tensor for both
        assert finetune.copies[head] == [finetune.copy_of(embedding, "weight")]
    inputs = _inputs(TIED)
    target = torch.randint(0, 100, (BATCH * 16,))
    optimizer = torch.optim.AdamW([p for p in bridge.parameters() if p.requires_grad], foreach=False)
    measured = training_step(bridge, inputs, target, optimizer, forward=lambda *xs: run_graph(bridge, *xs)).peak
    assert predicted == measured


@st.composite
def _wide_dora_mlps(draw: Any) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """DoRA MLPs whose tensors round to different sizes (the random MLPs above all round to 512 bytes)."""
    count = draw(st.integers(2, 3))
    layers: List[Dict[str, Any]] = []
    for index in range(count):
        layers.append({"type": "Linear", "out_features": draw(st.sampled_from([3, 40, 130, 200, 257])),
                       "bias": draw(st.booleans()), "name": f"fc{index}"})
        if index < count - 1 and draw(st.booleans()):
            layers.append({"type": "GELU"})
    data = {"paramlint": 1, "input": [draw(st.integers(1, 4)), draw(st.sampled_from([3, 50, 140]))], "layers": layers}
    targets = draw(st.lists(st.sampled_from([f"fc{i}" for i in range(count)]), min_size=1, unique=True))
    lora = dict(r=draw(st.integers(1, 4)), target_modules=targets, use_dora=True,
                lora_dropout=draw(st.sampled_from([0.0, 0.2])),
                bias=draw(st.sampled_from(["none", "all", "lora_only"])))
    return data, lora


@settings(max_examples=max(RANDOM_CASES // 2, 1), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_wide_dora_mlps())
def test_random_wide_dora_step_peak(case: Tuple[Dict[str, Any], Dict[str, Any]]) -> None:
    """DoRA's fp32 step peak, exact, where its vectors, outputs and weight-sized temporaries differ in size."""
    data, lora = case
    analysis = _analysis(_config(data, lora, "fp32"))
    bridge, _ = _peft_model(data, lora)
    classes = analysis.shapes.output.shape[-1]
    target = torch.randint(0, classes, (BATCH * (analysis.shapes.output.numel // classes),))
    optimizer = torch.optim.AdamW([p for p in bridge.parameters() if p.requires_grad], foreach=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        measured = training_step(bridge, _inputs(data), target, optimizer,
                                 forward=lambda *xs: run_graph(bridge, *xs)).peak
    assert _memory_model(analysis).peak(BATCH) == measured
