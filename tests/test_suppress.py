"""Inline suppressions: ``# paramlint: ignore[CODE]`` on a line or on a layer's first line."""
from __future__ import annotations

from helpers import lint_yaml

from paramlint.tool_config import ToolConfig
from paramlint.api import lint_text

HEAD = "paramlint: 1\ninput: [3, 32, 32]\nlayers:\n"
WARN = "  - {type: Conv2d, out_channels: 8, kernel_size: 3, stride: 2}"   # PL451
FLAT = "  - {type: Flatten}"
BAD = "  - {type: Linear, in_features: 7, out_features: 10}"              # PL401


def found(text: str, **kwargs):
    return [(d.line, d.code) for d in lint_yaml(text, **kwargs).diagnostics]


def test_without_suppressions():
    assert found(HEAD + WARN + "\n" + FLAT + "\n" + BAD + "\n") == [(4, "PL451"), (6, "PL401")]


def test_suppress_one_code_on_its_line():
    text = HEAD + WARN + "  # paramlint: ignore[PL451]\n" + FLAT + "\n" + BAD + "\n"
    assert found(text) == [(6, "PL401")]


def test_several_codes_and_bare_ignore():
    text = HEAD + WARN + "  # paramlint: ignore[PL401, PL451]\n" + FLAT + "\n" + BAD + "  # paramlint: ignore\n"
    assert found(text) == []  # (the shape error stops the analysis, so unused codes are not judged)
    text = HEAD + WARN + "  # paramlint: ignore[PL453,PL451]\n" + FLAT + "\n"
    assert found(text) == [(4, "PL601")]


def test_a_prefix_suppresses_its_family():
    assert found(HEAD + WARN + "  # paramlint: ignore[PL45]\n" + FLAT + "\n") == []


def test_comment_text_around_the_directive():
    text = HEAD + WARN + "  # stride 2 on purpose; paramlint: ignore[PL451] (see issue 12)\n" + FLAT + "\n"
    assert found(text) == []


def test_layer_first_line_suppresses_the_whole_layer():
    text = HEAD + "\n".join([
        WARN,
        FLAT,
        "  - type: Linear          # paramlint: ignore[PL401]",
        "    out_features: 10",
        "    in_features: 7",      # PL401 is reported here, line 8
    ]) + "\n"
    assert found(text) == [(4, "PL451")]
    assert found(text.replace("  # paramlint: ignore[PL401]", "")) == [(4, "PL451"), (8, "PL401")]


def test_layer_suppression_inside_a_block():
    text = """\
paramlint: 1
input: [3, 32, 32]
blocks:
  Head:
    layers:
      - {type: Flatten}
      - type: Linear   # paramlint: ignore[PL401]
        in_features: 7
        out_features: 10
layers:
  - {type: Head}
"""
    assert "PL401" not in [code for _, code in found(text)]


def test_a_comment_on_another_line_does_not_suppress():
    text = HEAD + "  # paramlint: ignore[PL451]\n" + WARN + "\n" + FLAT + "\n"
    assert found(text) == [(4, "PL601"), (5, "PL451")]


def test_unused_suppression_is_pl601():
    text = HEAD + FLAT + "  # paramlint: ignore[PL401]\n  - {type: Linear, out_features: 10}  # paramlint: ignore\n"
    report = lint_yaml(text)
    columns = [line.index("paramlint: ignore") + 1 for line in text.splitlines()[3:5]]
    assert [(d.line, d.column, d.code, d.severity) for d in report.diagnostics] == [
        (4, columns[0], "PL601", "warning"), (5, columns[1], "PL601", "warning")]
    assert "PL401" in report.diagnostics[0].message


def test_unused_is_not_judged_when_the_analysis_stopped():
    # a schema error stops before shapes: whether the PL451 suppression is needed cannot be told
    text = HEAD + WARN + "  # paramlint: ignore[PL451]\n  - {type: Linear, out_feature: 10}\n"
    assert found(text) == [(5, "PL201")]


def test_unknown_code_in_a_suppression_is_pl604():
    text = HEAD + WARN + "  # paramlint: ignore[PL451, PL999]\n" + FLAT + "\n"
    assert found(text) == [(4, "PL604")]


def test_pl601_obeys_the_tool_configuration():
    text = HEAD + FLAT + "  # paramlint: ignore[PL401]\n"
    assert [d.code for d in lint_text(text, config=ToolConfig(ignore=("PL601",))).diagnostics] == []
    assert [d.severity for d in lint_text(text, config=ToolConfig(severity=(("PL601", "error"),))).diagnostics] \
        == ["error"]


def test_suppression_applies_before_the_configuration():
    # a suppressed code that the configuration also ignores is not "unused"
    text = HEAD + WARN + "  # paramlint: ignore[PL451]\n" + FLAT + "\n"
    assert lint_text(text, config=ToolConfig(ignore=("PL451",))).diagnostics == ()


def test_other_comments_are_not_directives():
    text = HEAD + WARN + "  # paramlint: ignored on purpose\n" + FLAT + "\n"
    assert found(text) == [(4, "PL451")]
