"""The rule catalogue is complete, documented, in the README, and every example fails as documented."""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from paramlint.api import lint_text
from paramlint.tool_config import load_config
from paramlint.core.diagnostics import SEVERITIES
from paramlint.rules import RULES
from paramlint.commands.rules import RULE_TABLE_HEADER, explain, rules_markdown

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "paramlint"

# Context that the catalogue's short examples leave out (names they refer to, a fitting input).
CONTEXT = {
    "PL304": "paramlint: 1\ninput: [3, 32, 32]\nlayers:\n  - {type: Conv2d, out_channels: 8, kernel_size: 3, name: conv1}\n",
    "PL305": "paramlint: 1\ninput: [3, 32, 32]\nblocks:\n  BasicBlock:\n    args: {planes: null}\n    layers:\n"
             "      - {type: Conv2d, out_channels: $planes, kernel_size: 3}\nlayers:\n",
    "PL306": "paramlint: 1\ninput: {shape: [16], dtype: int64}\nlayers:\n"
             "  - {type: Embedding, num_embeddings: 50000, embedding_dim: 768, name: embed}\n",
    "PL452": "paramlint: 1\ninput: [20, 32]\nlayers:\n",
}
# Examples that are not config text; each is exercised another way below.
NOT_CONFIG_TEXT = {"PL103", "PL105", "PL901", "PL902"}
TOML_EXAMPLES = {"PL602", "PL603", "PL604"}
NOT_EMITTED: dict = {}


def config_around(code: str, example: str) -> str:
    """A whole config built around a catalogue example (a layer list, or top-level keys)."""
    if code in CONTEXT:
        return CONTEXT[code] + textwrap.indent(example, "  ") + "\n"
    if "backbone:" in example:  # an Ultralytics model YAML, linted without a marker
        return example + "\n"
    if example.startswith("- "):
        return "paramlint: 1\ninput: [3, 32, 32]\nlayers:\n" + textwrap.indent(example, "  ") + "\n"
    if "layers:" in example:
        return "paramlint: 1\n" + example + "\n"
    return "paramlint: 1\ninput: [3, 32, 32]\nlayers:\n  - {type: Flatten}\n  - {type: Linear, out_features: 10}\n" \
        + example + "\n"


def test_every_rule_is_documented():
    for code, rule in RULES.items():
        assert rule.code == code
        assert re.fullmatch(r"PL[1-9][0-9]{2}", code), code
        assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", rule.name), f"{code}: name {rule.name!r} is not kebab-case"
        assert rule.severity in SEVERITIES, code
        for part in ("summary", "why", "example", "fix"):
            assert getattr(rule, part).strip(), f"{code} has no {part}"
        shown = explain(rule)
        assert rule.why in shown and rule.fix in shown and rule.summary in shown


def test_names_are_unique():
    names = [rule.name for rule in RULES.values()]
    assert len(names) == len(set(names))


def test_every_code_in_the_source_is_a_rule():
    emitted = set()
    for path in PACKAGE.rglob("*.py"):
        if path.name == "rules.py":
            continue
        emitted.update(re.findall(r"[\"'](PL[0-9]{3})[\"']", path.read_text(encoding="utf-8")))
    assert emitted, "no codes found: the scan is broken"
    assert sorted(emitted - set(RULES)) == []


def test_readme_rule_table_matches_the_catalogue():
    readme = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = readme.index(RULE_TABLE_HEADER[0])
    end = start
    while end < len(readme) and readme[end].startswith("|"):
        end += 1
    table = "\n".join(readme[start:end]) + "\n"
    assert table == rules_markdown(), "README's rule table is stale: paste `paramlint rules --format markdown`"


def _example_params():
    for code in RULES:
        marks = [pytest.mark.xfail(reason=NOT_EMITTED[code], strict=True)] if code in NOT_EMITTED else []
        if code not in NOT_CONFIG_TEXT and code not in TOML_EXAMPLES:
            yield pytest.param(code, marks=marks, id=code)


@pytest.mark.parametrize("code", list(_example_params()))
def test_example_produces_its_code(code):
    text = config_around(code, RULES[code].example)
    report = lint_text(text, path="example.yaml")
    assert code in [d.code for d in report.diagnostics], text


@pytest.mark.parametrize("code", sorted(TOML_EXAMPLES))
def test_tool_config_example_produces_its_code(code, tmp_path):
    path = tmp_path / ".paramlint.toml"
    # the examples show pyproject's table; in a .paramlint.toml the keys are at the top
    path.write_text(RULES[code].example.replace("[tool.paramlint]\n", "") + "\n", encoding="utf-8")
    assert code in [d.code for d in load_config(path).diagnostics]
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(RULES[code].example + "\n", encoding="utf-8")
    assert code in [d.code for d in load_config(pyproject).diagnostics]


def test_alias_bomb_example_is_an_input_limit():
    lines = ["paramlint: 1", "a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for level in range(1, 10):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    report = lint_text("\n".join(lines) + "\n")
    assert [d.code for d in report.diagnostics] == ["PL103"]


def test_utf16_example_is_an_encoding_error():
    text = "paramlint: 1\ninput: [3]\nlayers:\n  - {type: ReLU}\n".encode("utf-16")
    assert [d.code for d in lint_text(text).diagnostics] == ["PL105"]


def test_missing_file_example_is_unreadable(tmp_path):
    from paramlint.api import lint_paths

    reports = lint_paths([str(tmp_path / "missing.yaml")], isolated=True)
    assert [d.code for r in reports for d in r.diagnostics] == ["PL901"]


def test_internal_error_is_reported_not_raised(monkeypatch):
    from paramlint import lint

    def crash(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(lint, "analyze_document", crash)
    report = lint_text("paramlint: 1\ninput: [3]\nlayers:\n  - {type: ReLU}\n")
    assert [d.code for d in report.diagnostics] == ["PL902"]
    assert report.failed_to_read
