"""A stack of equal blocks planned as three copies (memory.folding) gives the same memory figures as the
model planned layer by layer: every part of the estimate, the per-layer activations, the inference peak,
the peak at other batch sizes and every point of the trace, on random repeated blocks and training
setups (precisions, optimizers, sharding, checkpointing, frozen stacks, LoRA and 4-bit bases), on the
real 80-layer examples, and never a fold where the copies differ."""
from __future__ import annotations

import copy
import os
from typing import Any, Dict, List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paramlint.lint import Linter, analyze_document
from paramlint.memory.folding import FoldedTimeline, find_fold
from paramlint.memory.model import MemoryModel
from paramlint.model.graph import build_graph
from paramlint.validation.validator import SchemaValidator

EXAMPLES = int(os.environ.get("PARAMLINT_FOLD_EXAMPLES", "60"))


def _models(data: Dict[str, Any]) -> Tuple[MemoryModel, MemoryModel]:
    """(folded, planned in full) memory models of one config."""
    findings, analysis = analyze_document(data, None, SchemaValidator())
    assert analysis is not None, findings
    graph, _ = build_graph(data)
    run = analysis.finetune
    shapes, output = (run.shapes, run.output) if run else (analysis.shapes, graph.output)
    tuning = run.tuning if run else None
    fold = find_fold(shapes, output)
    folded = MemoryModel(shapes, analysis.training, output=output, tuning=tuning, fold=fold)
    full = MemoryModel(shapes, analysis.training, output=output, tuning=tuning)
    return folded, full


def _assert_same(folded: MemoryModel, full: MemoryModel, batches: Tuple[int, ...] = (1, 5)) -> None:
    assert folded.estimate().to_dict() == full.estimate().to_dict()
    assert folded.inference_peak(3) == full.inference_peak(3)
    for batch in batches:
        assert folded.simulate(batch) == full.simulate(batch)


def _is_folded(model: MemoryModel) -> bool:
    return isinstance(model._training, FoldedTimeline)


# -- random stacks ----------------------------------------------------------------------------

WIDTH = 16


def _sequence_block(draw: Any) -> List[Dict[str, Any]]:
    layers: List[Dict[str, Any]] = []
    for index in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["mlp", "gated", "norm", "attention", "act", "dropout"]))
        last = layers[-1]["name"] if layers else "input"
        if kind == "mlp":
            layers += [{"type": "Linear", "out_features": draw(st.sampled_from([8, 24])), "name": f"up{index}"},
                       {"type": draw(st.sampled_from(["GELU", "ReLU"])), "name": f"a{index}"},
                       {"type": "Linear", "out_features": WIDTH, "name": f"down{index}",
                        "bias": draw(st.booleans())},
                       {"type": "Add", "from": [f"down{index}", last], "name": f"r{index}"}]
        elif kind == "gated":
            layers += [{"type": "Linear", "out_features": 20, "bias": False, "name": f"gate{index}"},
                       {"type": "SiLU", "name": f"s{index}"},
                       {"type": "Linear", "from": last, "out_features": 20, "bias": False, "name": f"upg{index}"},
                       {"type": "Multiply", "from": [f"s{index}", f"upg{index}"], "name": f"m{index}"},
                       {"type": "Linear", "out_features": WIDTH, "bias": False, "name": f"dg{index}"}]
        elif kind == "norm":
            layers.append({"type": draw(st.sampled_from(["LayerNorm", "RMSNorm"])), "name": f"n{index}"})
        elif kind == "attention":
            heads = draw(st.sampled_from([2, 4]))
            layers += [{"type": "Linear", "from": last, "out_features": WIDTH, "name": f"{p}{index}"}
                       for p in ("q", "k", "v")]
            for p in ("q", "k", "v"):
                layers += [{"type": "Reshape", "from": f"{p}{index}", "shape": [-1, heads, WIDTH // heads],
                            "name": f"{p}s{index}"},
                           {"type": "Transpose", "dim0": 1, "dim1": 2, "name": f"{p}h{index}"}]
            layers += [{"type": "ScaledDotProductAttention", "from": [f"qh{index}", f"kh{index}", f"vh{index}"],
                        "is_causal": draw(st.booleans()), "name": f"att{index}"},
                       {"type": "Transpose", "dim0": 1, "dim1": 2, "name": f"t{index}"},
                       {"type": "Reshape", "shape": [-1, WIDTH], "name": f"mg{index}"},
                       {"type": "Linear", "out_features": WIDTH, "name": f"o{index}"},
                       {"type": "Add", "from": [f"o{index}", last], "name": f"ra{index}"}]
        elif kind == "act":
            layers.append({"type": "Tanh", "name": f"t{index}"})
        else:
            layers.append({"type": "Dropout", "p": 0.1, "name": f"d{index}"})
    return layers


def _image_block(draw: Any) -> List[Dict[str, Any]]:
    layers: List[Dict[str, Any]] = [{"type": "Conv2d", "out_channels": 6, "kernel_size": 3, "padding": 1,
                                     "bias": False, "name": "c1"},
                                    {"type": "BatchNorm2d", "name": "bn1"}, {"type": "ReLU", "name": "a1"}]
    if draw(st.booleans()):
        layers += [{"type": "Conv2d", "out_channels": 6, "kernel_size": 3, "padding": 1, "name": "c2"},
                   {"type": "Add", "from": ["c2", "input"], "name": "r"}]
    return layers


@st.composite
def stacks(draw: Any) -> Dict[str, Any]:
    image = draw(st.booleans())
    block = _image_block(draw) if image else _sequence_block(draw)
    entry: Dict[str, Any] = {"type": "Blk", "repeat": draw(st.integers(8, 11)), "name": "stack"}
    if draw(st.integers(0, 3)) == 0:
        entry["checkpoint"] = True
    if draw(st.integers(0, 5)) == 0:
        entry["trainable"] = False
    if image:
        data: Dict[str, Any] = {"paramlint": 1, "input": [3, 6, 6], "blocks": {"Blk": {"layers": block}}, "layers": [
            {"type": "Conv2d", "out_channels": 6, "kernel_size": 3, "padding": 1, "name": "stem"}, entry,
            {"type": "Flatten"}, {"type": "Linear", "out_features": 5, "name": "head"}]}
    else:
        head: Dict[str, Any] = {"type": "Linear", "out_features": 30, "bias": False, "name": "head"}
        if draw(st.booleans()):
            head["shares"] = "embed"
        data = {"paramlint": 1, "inputs": {"ids": {"shape": [6], "dtype": "int64"}},
                "blocks": {"Blk": {"layers": block}},
                "layers": [{"type": "Embedding", "num_embeddings": 30, "embedding_dim": WIDTH, "name": "embed"},
                           entry, {"type": "LayerNorm", "name": "final"}, head]}
    training: Dict[str, Any] = {"batch_size": draw(st.integers(1, 4)),
                                "precision": draw(st.sampled_from(["fp32", "bf16-mixed", "fp16-mixed"])),
                                "optimizer": draw(st.sampled_from(["SGD", "Adam", "AdamW", "AdamW8bit", "Adagrad"]))}
    sharding = draw(st.sampled_from(["none", "none", "zero1", "zero2", "zero3"]))
    if sharding != "none":
        training.update(sharding=sharding, devices=draw(st.sampled_from([2, 8])))
    linears = [layer["name"] for layer in block if layer["type"] == "Linear"]
    if linears and not image and draw(st.integers(0, 2)) == 0:
        training["lora"] = {"r": draw(st.sampled_from([2, 4])), "lora_dropout": draw(st.sampled_from([0.0, 0.1])),
                            "target_modules": draw(st.lists(st.sampled_from(linears), min_size=1, unique=True)),
                            "use_dora": draw(st.booleans()),
                            "bias": draw(st.sampled_from(["none", "all", "lora_only"]))}
        quantization = draw(st.sampled_from([None, "4bit", "8bit"]))
        if quantization == "4bit":
            training["quantization"] = {"load_in_4bit": True, "bnb_4bit_compute_dtype": "bfloat16"}
        elif quantization == "8bit":
            training["quantization"] = {"load_in_8bit": True}
    data["training"] = training
    return data


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks())
def test_a_folded_stack_simulates_as_the_full_plan(data):
    folded, full = _models(data)
    _assert_same(folded, full)
    assert folded.training.steps and folded.trace(2) == full.trace(2)


def test_the_random_stacks_do_fold():
    """The property above is not vacuous: most drawn stacks take the folded path."""
    folded_count = 0

    @settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(stacks())
    def count(data: Dict[str, Any]) -> None:
        nonlocal folded_count
        folded_count += _is_folded(_models(data)[0])

    count()
    assert folded_count >= 20


# -- real stacks ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["examples/huggingface/llama-3-70b/finetune.yaml",
                                  "examples/finetune/llama2_70b_qlora.yaml"])
def test_eighty_layer_examples_fold_to_the_same_figures(path):
    report = Linter().lint_file(path)
    assert report.analysis is not None and not report.failed
    from paramlint.importers.huggingface.reference import expand
    from paramlint.source.loader import load_document
    from paramlint.source.reader import read_guarded

    data = load_document(read_guarded(path, 10 << 20), path=path).data
    if "huggingface" in data:
        data = expand(data, path=path, read=lambda target: read_guarded(target, 10 << 20)).data
    folded, full = _models(data)
    assert _is_folded(folded) and folded.fold.count == 80
    _assert_same(folded, full, batches=(1, 2))


# -- what must not fold ------------------------------------------------------------------------

BASE = {"paramlint": 1, "input": [8], "blocks": {"B": {"layers": [
    {"type": "Linear", "out_features": 8, "name": "fc"}, {"type": "ReLU"}]}},
    "training": {"batch_size": 2, "optimizer": "Adam"}}


def _fold_of(data: Dict[str, Any]) -> Any:
    findings, analysis = analyze_document(data, None, SchemaValidator())
    assert analysis is not None, findings
    graph, _ = build_graph(data)
    return find_fold(analysis.shapes, graph.output)


def test_equal_copies_fold():
    data = dict(BASE, layers=[{"type": "B", "repeat": 10, "name": "s"}, {"type": "Linear", "out_features": 2}])
    fold = _fold_of(data)
    assert fold is not None and (fold.start, fold.size, fold.count) == (0, 2, 10)


def test_copies_whose_shapes_change_do_not_fold():
    blocks = {"B": {"layers": [{"type": "Conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1, "stride": 2}]}}
    data = {"paramlint": 1, "input": [4, 600, 600], "blocks": blocks,
            "layers": [{"type": "B", "repeat": 9}, {"type": "Flatten"}, {"type": "Linear", "out_features": 2}],
            "training": {"batch_size": 1}}
    assert _fold_of(data) is None


def test_a_reader_of_a_middle_copy_stops_the_fold():
    layers = [{"type": "Linear", "out_features": 8, "name": "fc", "repeat": 10},
              {"type": "Linear", "from": "fc", "out_features": 2}]
    data = dict(BASE, layers=layers)
    assert _fold_of(data) is not None  # `from: fc` reads the last copy
    reader = copy.deepcopy(data)
    reader["blocks"]["B"]["layers"][0]["name"] = "inner"
    reader["layers"] = [{"type": "Linear", "out_features": 8, "name": "first"},
                        {"type": "B", "repeat": 10, "name": "s"},
                        {"type": "Add", "from": ["s", "first"]}]
    assert _fold_of(reader) is not None  # a layer before the stack, read by the layers after it
    assert _fold_of(dict(BASE, layers=[{"type": "B", "repeat": 7}])) is None  # too few copies to gain


def test_lora_on_some_copies_only_is_planned_in_full():
    """A peft regex that adapts layers 3 and 4 only: the adapted graph's copies differ, no fold."""
    data = dict(BASE, layers=[{"type": "B", "repeat": 10, "name": "stack"}, {"type": "Linear", "out_features": 2}])
    data["training"] = dict(BASE["training"], lora={"r": 2, "target_modules": r"stack\.[34]\.fc"})
    folded, full = _models(data)
    assert not _is_folded(folded)
    _assert_same(folded, full)
