"""The copies of a repeat are analysed once (model.copies): the shape analysis with reuse equals the one
that infers every layer, findings included, on the examples, random block graphs and stacks whose copies
differ; and only stacks of equal copies are listed as such."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from paramlint.model import graph as graph_module
from paramlint.model.analysis import analyze_shapes
from paramlint.model.graph import build_graph
from strategies import block_graphs
from test_folding import stacks

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("PARAMLINT_FOLD_EXAMPLES", "60"))


def _both(data: Dict[str, Any]) -> Any:
    graph, _ = build_graph(data)
    if graph is None:
        return None
    reused = analyze_shapes(graph, {})
    inferred = analyze_shapes(graph.replace(repeats=()), {})
    assert reused[1] == inferred[1]  # the same findings, in the same order
    if inferred[0] is None:
        assert reused[0] is None
        return None
    assert reused[0].replace(equal_copies=()) == inferred[0]
    return reused[0]


@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples").glob("*.yaml")))
def test_examples_analyse_alike(path):
    data = yaml.safe_load((ROOT / path).read_text())
    if isinstance(data, dict) and "layers" in data:
        _both(data)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(block_graphs())
def test_random_block_graphs_analyse_alike(data):
    _both(data)


@settings(max_examples=EXAMPLES // 2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks())
def test_random_stacks_analyse_alike_and_are_equal_copies(data):
    analysis = _both({k: v for k, v in data.items() if k != "training"})
    assert analysis is not None and [r.count for r in analysis.equal_copies] == [data["layers"][1]["repeat"]]


def test_copies_that_change_shape_are_inferred_and_not_equal():
    blocks = {"B": {"layers": [{"type": "Conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1, "stride": 2}]}}
    data = {"paramlint": 1, "input": [4, 600, 600], "blocks": blocks, "layers": [{"type": "B", "repeat": 9}]}
    analysis = _both(data)
    assert analysis.equal_copies == ()
    assert [info.output.shape[-1] for info in analysis.layers] == [300, 150, 75, 38, 19, 10, 5, 3, 2]


def test_a_warning_in_a_copy_is_reported_for_every_copy():
    blocks = {"B": {"layers": [{"type": "Conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
                               {"type": "LayerNorm"}]}}
    data = {"paramlint": 1, "input": [4, 8, 8], "blocks": blocks, "layers": [{"type": "B", "repeat": 5}]}
    graph, _ = build_graph(data)
    analysis, findings = analyze_shapes(graph, {})
    assert len([f for f in findings if f.code == "PL453"]) == 5
    assert len({f.message for f in findings}) == 5  # each names its own copy
    assert analysis.equal_copies and analysis.equal_copies[0].count == 5


def _expanded_without_cloning(data: Dict[str, Any]) -> Any:
    original = graph_module._Builder._cloned
    graph_module._Builder._cloned = lambda self, *args: None  # never equal: every copy expanded
    try:
        return build_graph(data)
    finally:
        graph_module._Builder._cloned = original


def _built(data: Dict[str, Any]) -> Any:
    """build_graph, with where cloning started left out (the one thing it adds)."""
    graph, findings = build_graph(data)
    if graph is not None:
        assert all(r.cloned in (0, 3) for r in graph.repeats)
        graph = graph.replace(repeats=tuple(r.replace(cloned=0) for r in graph.repeats))
    return graph, findings


@settings(max_examples=EXAMPLES // 2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks())
def test_cloned_copies_are_the_expanded_ones(data):
    """Copies 4 and on are written from copy 3, one copy along: node for node what expanding gives."""
    assert _built(data) == _expanded_without_cloning(data)


@pytest.mark.parametrize("path", ["examples/huggingface/llama-3-70b/config.json", "examples/gpt2_small.yaml",
                                  "examples/finetune/llama2_70b_qlora.yaml"])
def test_cloned_examples_are_the_expanded_ones(path):
    from paramlint.importers.huggingface import convert

    text = (ROOT / path).read_text()
    data = convert(json.loads(text)).data if path.endswith(".json") else yaml.safe_load(text)
    graph, findings = _built(data)
    assert graph is not None and (graph, findings) == _expanded_without_cloning(data)


def test_a_repeat_past_the_node_limit_still_stops_at_it():
    blocks = {"B": {"layers": [{"type": "Linear", "out_features": 4}, {"type": "ReLU"}]}}
    data = {"paramlint": 1, "input": [4], "blocks": blocks, "layers": [{"type": "B", "repeat": 60_000}]}
    assert _built(data) == _expanded_without_cloning(data)
    graph, findings = build_graph(data)
    assert graph is None and [f.code for f in findings] == ["PL103"]


def test_a_repeated_layer_is_cloned_as_expanded():
    data = {"paramlint": 1, "input": [8], "layers": [{"type": "Linear", "out_features": 8, "repeat": 12, "name": "fc"},
                                                    {"type": "Linear", "from": "fc", "out_features": 2}]}
    graph, findings = _built(data)
    assert (graph, findings) == _expanded_without_cloning(data)
    assert [n.label for n in graph.nodes[:3]] == ["fc#1", "fc#2", "fc#3"] and graph.nodes[11].label == "fc#12"


def _paths_alike(data: Dict[str, Any]) -> None:
    from paramlint.model.module_names import module_paths

    graph, _ = build_graph(data)
    if graph is not None:
        assert module_paths(graph, data) == module_paths(graph, data, clone=False)


@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples").rglob("*.yaml")))
def test_cloned_copies_are_named_as_placed(path):
    """model.module_names names a cloned copy from the copy before: the names and containers equal placing
    every node (peft's target matching and modules_to_save read them)."""
    data = yaml.safe_load((ROOT / path).read_text())
    if isinstance(data, dict) and "layers" in data and "paramlint" in data:
        _paths_alike(data)


@settings(max_examples=EXAMPLES // 2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks())
def test_random_stacks_are_named_as_placed(data):
    _paths_alike(data)


def test_nested_and_plain_repeats_are_named_as_placed():
    blocks = {"Inner": {"layers": [{"type": "Linear", "out_features": 4, "name": "fc"}, {"type": "ReLU"}]},
              "Outer": {"layers": [{"type": "Inner", "repeat": 5, "name": "inner"},
                                   {"type": "Linear", "out_features": 4, "repeat": 6}]}}
    data = {"paramlint": 1, "input": [4], "blocks": blocks,
            "layers": [{"type": "Outer", "repeat": 7, "name": "outer"}, {"type": "Linear", "out_features": 2,
                                                                          "repeat": 9, "name": "head"}]}
    from paramlint.model.module_names import module_paths

    graph, _ = build_graph(data)
    paths, containers = module_paths(graph, data)
    assert "outer.6.inner.4.fc" in paths and "head.8" in paths and "outer.6.inner" in containers
    _paths_alike(data)


def _adapted_alike(data: Dict[str, Any]) -> Any:
    """The adapted graph (memory.adapters) keeps a repeat cloned only where its copies are adapted alike:
    its analysis with reuse equals inferring every node."""
    from paramlint.memory.adapters import adapted_graph, adapted_size
    from paramlint.model.finetune import apply_lora, read_lora
    from paramlint.model.module_names import module_paths

    graph, _ = build_graph(data)
    shapes, _ = analyze_shapes(graph, {})
    paths, containers = module_paths(graph, data)
    finetune, findings = apply_lora(shapes, paths, containers, read_lora(data["training"]["lora"]))
    if any(f.code != "PL522" for f in findings):
        return None
    adapted, _ = adapted_graph(graph, shapes, finetune)
    assert len(adapted.nodes) == adapted_size(graph, finetune)  # the node limit counts it before writing it
    reused, inferred = analyze_shapes(adapted, {}), analyze_shapes(adapted.replace(repeats=()), {})
    assert reused[1] == inferred[1]
    assert reused[0].replace(equal_copies=()) == inferred[0]
    return adapted


@settings(max_examples=EXAMPLES // 2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks())
def test_adapted_stacks_analyse_alike(data):
    if "lora" in data["training"]:
        adapted = _adapted_alike(data)
        assert adapted is None or [r.cloned for r in adapted.repeats] == [3]


def test_a_stack_adapted_in_some_copies_only_is_not_cloned():
    block = [{"type": "Linear", "out_features": 8, "name": "fc"}, {"type": "ReLU"}]
    data = {"paramlint": 1, "input": [8], "blocks": {"Blk": {"layers": block}},
            "layers": [{"type": "Blk", "repeat": 9, "name": "stack"}],
            "training": {"lora": {"r": 2, "target_modules": r"stack\.[0-5]\.fc"}}}
    adapted = _adapted_alike(data)
    assert [r.cloned for r in adapted.repeats] == []  # copies 6-8 have no branch: sizes differ
    data["training"]["lora"] = {"r": 2, "target_modules": ["fc"], "bias": "all"}
    assert [r.cloned for r in _adapted_alike(data).repeats] == [3]
    block.append({"type": "Linear", "out_features": 8, "name": "other"})
    data["training"]["lora"]["modules_to_save"] = ["stack.7.other"]  # one copy's layer trained: same sizes
    assert [r.cloned for r in _adapted_alike(data).repeats] == [0]
