"""A fine-tuning run on a long stack of equal copies is adapted with four copies (memory/short_stack.py):
every figure the pipeline reports (the memory estimate at several batches, its per-layer parts, the
step's FLOPs per layer, the inference peak, every trace point, the fine-tuning totals, the findings)
equals the run adapted in full, on random stacks (LoRA, DoRA, bias modes, dropout, 4- and 8-bit bases,
precisions, optimizers, sharding, checkpointing), on the examples, and when the memory model has to
fall back to the whole adapted graph."""
from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any, Dict, Tuple

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paramlint import lint as lint_module
from paramlint.lint import Analysis, analyze_document
from paramlint.memory import model as model_module
from paramlint.memory.finetune_run import memory_model, plan_finetune
from paramlint.memory.model import MemoryModel
from paramlint.model.graph import build_graph
from paramlint.report.finetune import finetune_dict
from paramlint.validation.validator import SchemaValidator
from test_folding import stacks

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("PARAMLINT_FOLD_EXAMPLES", "60"))
_VALIDATOR = SchemaValidator()


def _analysis(data: Dict[str, Any], short: bool, monkeypatch: Any) -> Tuple[Any, Analysis]:
    with monkeypatch.context() as patch:
        patch.setattr(lint_module, "plan_finetune", functools.partial(plan_finetune, short=short))
        return analyze_document(copy.deepcopy(data), None, _VALIDATOR)


def _model(analysis: Analysis, data: Dict[str, Any]) -> MemoryModel:
    graph, _ = build_graph(data)
    return memory_model(analysis.finetune, analysis.shapes, graph.output, analysis.training)


@st.composite
def lora_stacks(draw: Any) -> Dict[str, Any]:
    """test_folding's random stacks, each with a LoRA on its Linear layers (by name) or Conv2d layers (by
    type), a quantized base where its layers allow one."""
    data = draw(stacks())
    training = data["training"]
    if "lora" not in training:
        block = data["blocks"]["Blk"]["layers"]
        names = [layer["name"] for layer in block if layer["type"] == "Linear"]
        targets = draw(st.lists(st.sampled_from(names), min_size=1, unique=True)) if names else ["Conv2d"]
        training["lora"] = {"r": draw(st.sampled_from([2, 4])), "lora_dropout": draw(st.sampled_from([0.0, 0.1])),
                            "target_modules": targets, "use_dora": draw(st.booleans()),
                            "bias": draw(st.sampled_from(["none", "all", "lora_only"]))}
        if names and draw(st.booleans()):
            training["quantization"] = draw(st.sampled_from([{"load_in_4bit": True}, {"load_in_8bit": True}]))
    return data


def _assert_alike(data: Dict[str, Any], monkeypatch: Any) -> bool:
    """Short and whole runs agree; returns whether the short path was taken."""
    findings, short = _analysis(data, True, monkeypatch)
    whole_findings, whole = _analysis(data, False, monkeypatch)
    assert findings == whole_findings
    if whole is None:
        assert short is None
        return False
    run = short.finetune
    taken = run is not None and run.expand is not None
    assert short.memory.to_dict() == whole.memory.to_dict()
    assert finetune_dict(short) == finetune_dict(whole)
    if run is not None:
        assert run.planned.tuning.base_bytes == whole.finetune.tuning.base_bytes
    short_model, whole_model = _model(short, data), _model(whole, data)
    for batch in (1, 3):
        assert short_model.estimate(batch).to_dict() == whole_model.estimate(batch).to_dict()
    assert short_model.trace(2) == whole_model.trace(2)
    if taken:  # the whole adapted graph was never written out for any of that
        assert run.written is None
        assert run.shapes == whole.finetune.shapes and run.tuning == whole.finetune.tuning
    return taken


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])
@given(lora_stacks())
def test_a_run_adapted_with_four_copies_reports_as_the_whole(monkeypatch, data):
    _assert_alike(data, monkeypatch)


def test_the_random_runs_do_take_the_short_path(monkeypatch):
    """The property above is not vacuous: most drawn LoRA stacks are adapted with four copies."""
    taken = drawn = 0

    @settings(max_examples=20, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(lora_stacks())
    def count(data: Dict[str, Any]) -> None:
        nonlocal taken, drawn
        drawn += 1
        taken += _assert_alike(data, monkeypatch)

    count()
    print("short path taken", taken, "of", drawn)
    assert taken >= drawn // 2, (taken, drawn)


@pytest.mark.parametrize("path", ["examples/finetune/llama2_70b_qlora.yaml", "examples/finetune/llama3_8b_qlora.yaml"])
def test_examples_take_the_short_path_and_report_as_the_whole(monkeypatch, path):
    data = yaml.safe_load((ROOT / path).read_text())
    assert _assert_alike(data, monkeypatch)


def _llama_like(**lora: Any) -> Dict[str, Any]:
    data = yaml.safe_load((ROOT / "examples/finetune/llama3_8b_qlora.yaml").read_text())
    data["training"]["lora"].update(lora)
    return data


@pytest.mark.parametrize("lora, taken", [
    ({"target_modules": r"layers\.(1|2)\.self_attn\.q_proj"}, False),  # some copies only
    ({"target_modules": "all-linear", "use_dora": True, "bias": "all"}, True),
    ({"modules_to_save": ["lm_head"]}, True),
    ({"modules_to_save": ["layers.9.mlp"]}, False),  # one copy trained in full
])
def test_what_takes_the_short_path(monkeypatch, lora, taken):
    assert _assert_alike(_llama_like(**lora), monkeypatch) is taken


def test_a_head_tied_to_the_embedding_takes_the_short_path(monkeypatch):
    data = _llama_like()
    head = data["layers"][-1]
    assert head["name"] == "lm_head"
    head["shares"] = "embed_tokens"
    assert _assert_alike(data, monkeypatch)


@pytest.mark.parametrize("lora", [
    {"modules_to_save": ["lm_head"]},
    {"modules_to_save": ["embed_tokens", "lm_head"]},
    {"target_modules": ["q_proj", "lm_head"]},
])
@pytest.mark.parametrize("tying", [False, True])
def test_a_tied_head_of_a_transformers_model_reports_as_the_whole(monkeypatch, lora, tying):
    """ensure_weight_tying's tied copy and tied adapters (and a head's own copy without it) on the short path."""
    data = _llama_like(**dict(lora, ensure_weight_tying=tying))
    data["layers"][-1]["shares"] = "embed_tokens"
    data["transformers"] = {"model_type": "llama", "output_embeddings": "lm_head"}
    assert _assert_alike(data, monkeypatch)


def test_a_fold_that_does_not_unroll_falls_back_to_the_whole_graph(monkeypatch):
    """Where the three planned copies do not unroll to four, or the middle copies' FLOPs differ, the memory
    model writes the whole adapted graph out and plans it (the same figures as the run adapted in full)."""
    data = _llama_like()
    _, whole = _analysis(data, False, monkeypatch)
    _, short = _analysis(data, True, monkeypatch)
    expected = _model(whole, data).estimate().to_dict()
    with monkeypatch.context() as patch:
        patch.setattr("paramlint.memory.folding.fold_timeline", lambda *args: None)
        model = _model(short, data)
        assert model.fold is None and len(model.shapes.layers) == len(whole.finetune.shapes.layers)
        assert model.estimate().to_dict() == expected
    _, short = _analysis(data, True, monkeypatch)
    with monkeypatch.context() as patch:
        patch.setattr(model_module, "stacked_step_flops", lambda *args: None)
        model = _model(short, data)
        assert model.fold is None and model.estimate().to_dict() == expected


def test_a_short_fold_without_the_whole_graph_is_refused():
    data = _llama_like()
    _, analysis = analyze_document(data, None, _VALIDATOR)
    planned = analysis.finetune.planned
    assert planned.fold is not None and planned.fold.short
    model = MemoryModel(planned.shapes, analysis.training, output=planned.output, tuning=planned.tuning,
                        fold=planned.fold)
    with pytest.raises(ValueError):  # the fold held, but anything that needs the whole graph cannot have it
        model._expanded()


@pytest.mark.parametrize("layers, repeat", [(20000, 1), (1, 40000)])
def test_a_lora_past_the_node_limit_is_refused_before_it_is_written(layers, repeat):
    """peft's branches count toward the 100,000-layer limit the graph builder holds every graph to: 20,000
    adapted Linears (140,000 layers) took 6 s and 535 MB; now a finding, in well under the hang guard."""
    from test_hostile_round2 import lint

    block = "blocks:\n  B:\n    layers:\n    - {type: Linear, out_features: 8, name: fc}\n    - {type: ReLU}\n"
    text = "paramlint: 1\ninput: [8]\n" + (block if repeat > 1 else "") + "layers:\n"
    text += (f"- {{type: B, repeat: {repeat}, name: stack}}\n" if repeat > 1 else
             "".join(f"- {{type: Linear, out_features: 8, name: fc{i}}}\n" for i in range(layers)))
    text += "training:\n  lora: {r: 2, target_modules: all-linear, lora_dropout: 0.1}\n"
    found = [d for d in lint(text).diagnostics if d.code == "PL103"]
    assert found and "past the limit of 100,000" in found[0].message
