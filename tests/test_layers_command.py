"""``paramlint layers [TYPE]`` and the generated docs/layers.md."""
from __future__ import annotations

import json
from pathlib import Path

from paramlint.cli import main
from paramlint.commands.layers import layers_markdown
from paramlint.model.layers import REGISTRY
from paramlint.model.layers.base import REQUIRED

DOC = Path(__file__).resolve().parent.parent / "docs" / "layers.md"


def test_docs_layers_md_is_current():
    """Regenerate with `python -m paramlint layers --format markdown > docs/layers.md`."""
    assert DOC.read_text(encoding="utf-8") == layers_markdown()


def test_every_type_is_listed_with_its_arguments(capsys):
    assert main(["layers", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["type"] for r in records] == sorted(REGISTRY)
    for record in records:
        layer = REGISTRY[record["type"]]
        assert [a["name"] for a in record["args"]] == list(layer.args)
        for arg in record["args"]:
            spec = layer.args[arg["name"]]
            assert arg["required"] == (spec.default is REQUIRED)
            if not arg["required"]:
                assert arg["default"] == spec.default


def test_one_type_as_text(capsys):
    assert main(["layers", "StochasticDepth"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "StochasticDepth (activation; inputs: 1)"
    assert out[2].split()[:2] == ["p", "required"]
    assert out[3].split()[:4] == ["mode", "required", "one", "of"]


def test_one_type_as_json(capsys):
    assert main(["layers", "Conv2d", "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["type"] == "Conv2d" and record["inputs"] == "1"
    stride = next(a for a in record["args"] if a["name"] == "stride")
    assert (stride["default"], stride["required"]) == (1, False)


def test_all_types_as_text(capsys):
    assert main(["layers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == sorted(REGISTRY)


def test_unknown_type(capsys):
    assert main(["layers", "Conv2D"]) == 2
    assert "did you mean `Conv2d`" in capsys.readouterr().err
