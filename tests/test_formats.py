"""Every output format, on the same failing example (examples/broken.yaml)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import List, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paramlint.api import lint_paths, lint_text
from paramlint.report import REPORTERS, render
from paramlint.report.github import escape_data, escape_property
from paramlint.rules import RULES

ROOT = Path(__file__).resolve().parent.parent
BROKEN = "examples/broken.yaml"
SARIF_SCHEMA = ROOT.parent / "shared" / "data" / "sarif-schema-2.1.0.json"
# What examples/broken.yaml gets: (line, column, code, severity)
EXPECTED = [(9, 47, "PL451", "warning"), (14, 33, "PL401", "error")]

OVER_BUDGET = """\
paramlint: 1
name: over-budget
input: [3, 32, 32]
layers:
  - {type: Conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {type: ReLU}
  - {type: Flatten}
  - {type: Linear, out_features: 10}
training: {batch_size: 32, optimizer: Adam}
budgets:
  params: 50K
  memory: 1 GiB
"""


@pytest.fixture(scope="module")
def reports(request):
    import os

    here = os.getcwd()
    os.chdir(ROOT)  # relative paths, as a user types them
    try:
        yield lint_paths([BROKEN], isolated=True)
    finally:
        os.chdir(here)


def test_the_example_fails_as_documented(reports):
    [report] = reports
    assert [(d.line, d.column, d.code, d.severity) for d in report.diagnostics] == EXPECTED


def test_every_format_is_registered():
    assert set(REPORTERS) == {"text", "json", "github", "sarif", "markdown", "html", "svg"}


def test_text(reports):
    lines = render("text", reports).splitlines()
    assert [tuple(line.split(" ", 2)[:2]) for line in lines[:2]] == [
        (f"{BROKEN}:9:47:", "PL451"), (f"{BROKEN}:14:33:", "PL401")]
    assert lines[-1] == f"{BROKEN}: failed (1 error, 1 warning)"
    assert "\033[" not in render("text", reports)


def test_text_colour(reports):
    coloured = render("text", reports, color=True)
    assert "\033[31mPL401\033[0m" in coloured and "\033[33mPL451\033[0m" in coloured
    assert re.sub(r"\033\[[0-9;]*m", "", coloured) == render("text", reports)


def test_json(reports):
    document = json.loads(render("json", reports))
    [entry] = document["files"]
    assert [(d["line"], d["column"], d["code"], d["severity"]) for d in entry["diagnostics"]] == EXPECTED
    assert entry["diagnostics"][1]["config_path"] == "layers[7].in_features"
    assert document["summary"] == {"files": 1, "skipped": 0, "errors": 1, "warnings": 1}


def test_github(reports):
    lines = render("github", reports).splitlines()
    pattern = re.compile(r"::(error|warning) file=([^,]+),line=(\d+),col=(\d+),title=(PL\d{3})::(.+)")
    found = [pattern.fullmatch(line) for line in lines[:2]]
    assert all(found), lines
    assert [(int(m[3]), int(m[4]), m[5], m[1]) for m in found] == EXPECTED
    assert {m[2] for m in found} == {BROKEN}
    assert "produces 192 = 12 x 4 x 4" in found[1][6]
    assert lines[2] == f"{BROKEN}: failed (1 error, 1 warning)"


def test_github_escaping():
    assert escape_data("50% of a\nb\r") == "50%25 of a%0Ab%0D"
    assert escape_property("dir,a:b.yaml") == "dir%2Ca%3Ab.yaml"
    report = lint_text("paramlint: 1\ninput: [3, 8, 8]\nlayers:\n  - {type: Conv2d, out_channels: 8, kernel_size: 11}\n",
                       path="odd,name:x.yaml")
    line = render("github", [report]).splitlines()[0]
    assert line.startswith("::error file=odd%2Cname%3Ax.yaml,line=4,")
    assert "\n" not in line


def test_sarif_is_valid_sarif_2_1_0(reports):
    if not SARIF_SCHEMA.is_file():
        pytest.skip(f"the official SARIF 2.1.0 schema is not at {SARIF_SCHEMA} (shared/data beside the repository)")
    import jsonschema

    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    document = json.loads(render("sarif", reports))
    validator_class = jsonschema.validators.validator_for(schema)
    errors = sorted(validator_class(schema).iter_errors(document), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


def test_sarif_content(reports):
    document = json.loads(render("sarif", reports))
    assert document["version"] == "2.1.0"
    [run] = document["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(RULES)
    assert all(r["name"] == RULES[r["id"]].name for r in rules)
    assert rules[list(RULES).index("PL451")]["defaultConfiguration"]["level"] == "warning"
    found = []
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == BROKEN
        region = location["region"]
        found.append((region["startLine"], region["startColumn"], result["ruleId"], result["level"]))
    assert found == EXPECTED
    assert run["results"][1]["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "layers[7].in_features"
    assert run["invocations"][0]["executionSuccessful"] is True


def test_sarif_severity_override_changes_the_level(tmp_path):
    from paramlint.tool_config import ToolConfig

    report = lint_text((ROOT / BROKEN).read_text(), path="broken.yaml",
                       config=ToolConfig(severity=(("PL451", "error"),)))
    levels = [r["level"] for r in json.loads(render("sarif", [report]))["runs"][0]["results"]]
    assert levels == ["error", "error"]


def test_markdown_on_the_failing_example(reports):
    text = render("markdown", reports)
    assert text.startswith("## \u274c paramlint: failed")
    assert "1 of 1 file failed; 1 error, 1 warning." in text
    assert f"| \u274c | `{BROKEN}:14:33` | PL401 shape-mismatch | Linear expects in_features 200" in text
    assert f"| \u26a0\ufe0f | `{BROKEN}:9:47` | PL451 unread-input |" in text


def test_markdown_budget_table_and_largest_layers():
    report = lint_text(OVER_BUDGET, path="over.yaml")
    analysis = report.analysis
    assert analysis is not None and [d.code for d in report.diagnostics] == ["PL501"]
    text = render("markdown", [report])
    assert text.startswith("## \u274c paramlint: failed")
    rows = [line for line in text.splitlines() if line.startswith("| \u274c | params")]
    assert rows == [f"| \u274c | params | {analysis.params:,} | 50,000 | {100 * analysis.params / 50000:.1f}% |"]
    assert any(line.startswith("| \u2705 | memory |") for line in text.splitlines())
    largest = text.split("**Largest layers**")[1].splitlines()
    table = [line for line in largest if line.startswith("| `")]
    by_params = sorted((i for i in analysis.shapes.layers if i.params), key=lambda i: -i.params)
    assert [row.split("`")[1] for row in table] == [i.node.trace for i in by_params]
    assert table[0].split(" | ")[3] == f"{by_params[0].params:,}"


def test_markdown_passing_and_pipes_escaped():
    ok = lint_text("paramlint: 1\ninput: [4]\nlayers:\n  - {type: Linear, out_features: 2}\n", path="a|b.yaml")
    text = render("markdown", [ok], summary=True)
    assert text.startswith("## \u2705 paramlint: passed")
    assert "`a\\|b.yaml`" in text
    assert "<details><summary>Per-layer table</summary>" in text


def test_markdown_without_configs():
    skipped = lint_text("just: data\n", path="notes.yaml")
    assert skipped.skipped
    assert "No model configs found" in render("markdown", [skipped])


# --- html --------------------------------------------------------------------------------------------

VOID = {"meta", "br", "img", "hr", "input", "link"}


def _check_nesting(document: str) -> List[str]:
    """The tags in order of opening; fails on a closing tag that does not match."""
    from html.parser import HTMLParser

    class Checker(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.stack: List[str] = []
            self.seen: List[str] = []

        def handle_starttag(self, tag, attrs):
            self.seen.append(tag)
            if tag not in VOID:
                self.stack.append(tag)

        def handle_endtag(self, tag):
            assert self.stack and self.stack[-1] == tag, (tag, self.stack[-3:])
            self.stack.pop()

    checker = Checker()
    checker.feed(document)
    checker.close()
    assert checker.stack == []
    return checker.seen


def test_html_on_the_failing_example(reports):
    document = render("html", reports)
    assert document.startswith("<!DOCTYPE html>")
    tags = _check_nesting(document)
    assert "script" not in tags and "link" not in tags  # self-contained, nothing fetched
    assert '<h1 class="failed">paramlint: failed</h1>' in document
    rows = re.findall(r'<tr class="(error|warning)"><td class="num">(\d+):(\d+)</td><td class="code">'
                      r'<abbr[^>]*>(PL\d+)</abbr>', document)
    assert [(int(line), int(col), code, severity) for severity, line, col, code in rows] == EXPECTED


def test_html_escapes_and_shows_budgets_and_layers():
    report = lint_text(OVER_BUDGET.replace("name: over-budget", "name: \"<script>alert(1)</script>\""),
                       path="a&b.yaml")
    document = render("html", [report])
    _check_nesting(document)
    assert "<script>" not in document and "&lt;script&gt;" in document and "a&amp;b.yaml" in document
    assert '<div class="bar over"><span style="width:100.0%">' in document
    layer_rows = re.findall(r'<tr><td class="tree">', document)
    assert len(layer_rows) == len(report.analysis.shapes.layers) + 1  # + the input row


def _chromium() -> Optional[str]:
    import shutil

    return next((found for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
                 if (found := shutil.which(name))), None)


def test_html_renders_in_chromium(reports, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium to render the HTML report (CI installs it with apt)")
    import subprocess

    page = tmp_path / "report.html"
    page.write_text(render("html", reports), encoding="utf-8")
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(command + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-500:]
    assert "paramlint: failed" in dom.stdout and "PL401" in dom.stdout
    shot = tmp_path / "report.png"
    subprocess.run(command + [f"--screenshot={shot}", "--window-size=1200,900", page.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@settings(max_examples=300, deadline=None)
@given(st.text(), st.booleans())
def test_html_escape_writes_what_the_html_module_writes(text, quote):
    """report.escape's own html_escape (the html package costs 2 ms at every start): the same entities."""
    import html

    from paramlint.report.escape import html_escape

    assert html_escape(text, quote) == html.escape(text, quote)
