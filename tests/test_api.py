"""The Python API: paramlint.lint_paths, lint_text, analyze."""
from __future__ import annotations

from pathlib import Path

import pytest

import paramlint

ROOT = Path(__file__).resolve().parent.parent
CIFAR = ROOT / "examples" / "cifar10_cnn.yaml"
SMALL = {"input": [3, 32, 32], "layers": [{"type": "Flatten"}, {"type": "Linear", "out_features": 10}],
         "training": {"optimizer": "Adam", "batch_size": 4}}


def test_public_names_are_lazy_and_listed():
    for name in ("lint_paths", "lint_text", "analyze", "ConfigError", "Analysis", "FileReport", "Diagnostic",
                 "ToolConfig", "load_config", "RULES"):
        assert name in paramlint.__all__ and name in dir(paramlint)
        assert getattr(paramlint, name) is not None
    with pytest.raises(AttributeError):
        paramlint.no_such_thing  # noqa: B018


def test_analyze_a_mapping_without_the_marker():
    analysis = paramlint.analyze(SMALL)
    assert isinstance(analysis, paramlint.Analysis)
    assert analysis.params == 3 * 32 * 32 * 10 + 10
    assert analysis.optimizer_state == 2 * analysis.trainable_params
    assert [info.node.type for info in analysis.shapes.layers] == ["Flatten", "Linear"]
    assert analysis.memory.peak > 0


def test_analyze_a_path_and_text_agree():
    from_path = paramlint.analyze(CIFAR)
    from_text = paramlint.analyze(CIFAR.read_text())
    assert from_path.params == from_text.params == 26_926
    assert [b.name for b in from_path.budgets] == ["params", "optimizer_state", "memory"]
    assert not any(b.exceeded for b in from_path.budgets)


def test_analyze_raises_with_diagnostics():
    with pytest.raises(paramlint.ConfigError) as raised:
        paramlint.analyze(dict(SMALL, layers=[{"type": "Flatten"}, {"type": "Linear", "in_features": 7,
                                                                      "out_features": 10}]))
    assert [d.code for d in raised.value.diagnostics] == ["PL401"]
    assert raised.value.diagnostics[0].config_path == "layers[1].in_features"
    assert "PL401" in str(raised.value)
    with pytest.raises(paramlint.ConfigError, match="not a model config"):
        paramlint.analyze("just: data\n")


def test_analyze_with_project_defaults():
    config = paramlint.ToolConfig(training={"optimizer": "SGD", "batch_size": 2})
    assert paramlint.analyze(SMALL, tool_config=config).training.optimizer == "Adam"
    assert paramlint.analyze(dict(SMALL, training={}), tool_config=config).training.optimizer == "SGD"


def test_lint_paths_and_lint_text():
    reports = paramlint.lint_paths([ROOT / "examples" / "broken.yaml"], isolated=True)
    assert [(d.line, d.code) for r in reports for d in r.diagnostics] == [(9, "PL451"), (14, "PL401")]
    report = paramlint.lint_text('{"paramlint": 1, "input": [4], "layers": [{"type": "ReLU"}]}', path="m.json")
    assert report.diagnostics == () and report.analysis is not None


def test_the_command_uses_the_api(monkeypatch):
    from paramlint import api, cli

    calls = []
    real = api.lint_paths
    monkeypatch.setattr(api, "lint_paths", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert cli.main(["--format", "json", str(CIFAR)]) == 0
    assert calls
