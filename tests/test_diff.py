"""``paramlint diff OLD NEW``: totals side by side and the layers added, removed or changed."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import paramlint
from paramlint.cli import main
from paramlint.commands.diff import LayerRow, layer_changes

ROOT = Path(__file__).resolve().parent.parent
CNN = ROOT / "examples" / "cifar10_cnn.yaml"
CNN_BN = ROOT / "examples" / "cifar10_cnn_batchnorm.yaml"
SMALL = "paramlint: 1\ninput: [32]\nlayers:\n  - {type: Linear, out_features: 16}\n  - {type: ReLU}\n" \
        "  - {type: Linear, out_features: 4}\n"


def row(name: str, kind: str, params: int, shape=(8,)) -> LayerRow:
    return LayerRow(name, kind, tuple(shape), params, 0)


def test_alignment_survives_an_insertion():
    old = [row("a", "Linear", 10), row("b", "ReLU", 0), row("c", "Linear", 5)]
    new = [row("a", "Linear", 10), row("x", "Dropout", 0), row("b2", "ReLU", 0), row("c2", "Linear", 5)]
    assert [(c.kind, c.new.name) for c in layer_changes(old, new)] == [("added", "x")]


def test_changed_removed_and_replaced_layers():
    old = [row("a", "Linear", 10), row("b", "ReLU", 0), row("c", "Tanh", 0)]
    new = [row("a", "Linear", 20), row("b", "ReLU", 0), row("c", "GELU", 0)]
    found = [(c.kind, (c.old or c.new).type) for c in layer_changes(old, new)]
    assert found == [("changed", "Linear"), ("removed", "Tanh"), ("added", "GELU")]
    assert [c.kind for c in layer_changes(old, old[:1])] == ["removed", "removed"]


def test_text_diff_of_the_batchnorm_exercise(capsys):
    assert main(["diff", str(CNN), str(CNN_BN)]) == 0
    out = capsys.readouterr().out
    old, new = paramlint.analyze(CNN), paramlint.analyze(CNN_BN)
    delta = new.params - old.params
    [params] = [re.split(r"\s{2,}", line) for line in out.splitlines() if line.startswith("params ")]
    assert params == ["params", f"{old.params:,}", f"{new.params:,}", f"+{delta:,} (+{100 * delta / old.params:.1f}%)"]
    added = [line.split()[2] for line in out.splitlines() if line.startswith("  + ")]
    assert added == ["BatchNorm2d", "BatchNorm2d", "BatchNorm1d", "Dropout"]


def test_json_and_markdown(capsys):
    assert main(["diff", "--format", "json", str(CNN), str(CNN_BN)]) == 0
    document = json.loads(capsys.readouterr().out)
    old, new = paramlint.analyze(CNN), paramlint.analyze(CNN_BN)
    assert document["totals"]["params"] == {"old": old.params, "new": new.params, "change": new.params - old.params}
    assert document["totals"]["memory"]["new"] == new.memory.peak
    assert sum(c["new"]["params"] for c in document["layers"] if c["change"] == "added") == new.params - old.params
    assert main(["diff", "--format", "markdown", str(CNN), str(CNN_BN)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("## paramlint diff:") and "| + | `layers[1]` | BatchNorm2d |" in text


def test_identical_configs(capsys):
    assert main(["diff", str(CNN), str(CNN)]) == 0
    out = capsys.readouterr().out
    assert "Layers: unchanged" in out


def test_a_side_from_git(tmp_path, monkeypatch, capsys):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@e")
    (tmp_path / "m.yaml").write_text(SMALL)
    for args in (["init", "-q"], ["add", "m.yaml"], ["commit", "-q", "-m", "m"]):
        subprocess.run(["git", *args], cwd=tmp_path, env=env, check=True, capture_output=True)
    (tmp_path / "m.yaml").write_text(SMALL.replace("out_features: 16", "out_features: 32"))
    monkeypatch.chdir(tmp_path)
    assert main(["diff", "HEAD:m.yaml", "m.yaml"]) == 0
    out = capsys.readouterr().out
    assert "~ layers[0]  Linear  [16] -> [32]  528 -> 1,056 params" in out
    assert main(["diff", "HEAD:nope.yaml", "m.yaml"]) == 2


def test_errors(tmp_path, capsys):
    assert main(["diff", str(CNN)]) == 2
    assert main(["diff", str(CNN), str(tmp_path / "missing.yaml")]) == 2
    assert main(["diff", str(CNN), str(ROOT / "examples" / "broken.yaml")]) == 1
    assert "PL401" in capsys.readouterr().out


def test_flops_diff_counts_the_recurrence_and_the_attention(tmp_path, capsys):
    """Both sides are counted on the meta convention, so a deeper LSTM or a
    longer context shows its FLOPs (the CPU's counter would see 0 change)."""
    lstm = (ROOT / "examples" / "lstm_lm.yaml").read_text(encoding="utf-8")
    deeper = tmp_path / "lstm_lm_3.yaml"
    deeper.write_text(lstm.replace("num_layers: 2", "num_layers: 3"), encoding="utf-8")
    assert main(["diff", "--format", "json", str(ROOT / "examples" / "lstm_lm.yaml"), str(deeper)]) == 0
    flops = json.loads(capsys.readouterr().out)["totals"]["flops"]
    assert flops == {"old": 928_200_000, "new": 928_200_000 + 35 * 2 * 4 * 650 * (650 + 650),
                     "change": 35 * 2 * 4 * 650 * (650 + 650)}

    gpt2 = (ROOT / "examples" / "gpt2_small.yaml").read_text(encoding="utf-8")
    shorter = tmp_path / "gpt2_512.yaml"
    shorter.write_text(gpt2.replace("[1024]", "[512]").replace("[1024, 768]", "[512, 768]"), encoding="utf-8")
    assert main(["diff", "--format", "json", str(ROOT / "examples" / "gpt2_small.yaml"), str(shorter)]) == 0
    flops = json.loads(capsys.readouterr().out)["totals"]["flops"]
    linear = 291_648_307_200 - 12 * 4 * 1024 * 1024 * 768  # everything but attention scales with the tokens
    assert flops["new"] == linear // 2 + 12 * 4 * 512 * 512 * 768
