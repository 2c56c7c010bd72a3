"""The command: exit codes, formats, colour, subcommands, and a cheap start."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from paramlint.cli import DEFAULTS, build_parser, exit_code, main, use_color
from paramlint.rules import RULES
from paramlint.commands.rules import rules_markdown

ROOT = Path(__file__).resolve().parent.parent
BROKEN = str(ROOT / "examples" / "broken.yaml")
GOOD = "paramlint: 1\ninput: [16]\nlayers:\n  - {type: Linear, out_features: 4}\n"


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch):
    for name in ("GITHUB_ACTIONS", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    return str(path)


def test_exit_codes(good, tmp_path, capsys):
    assert main([good]) == 0
    assert main([BROKEN]) == 1
    assert main([str(tmp_path / "missing.yaml")]) == 2
    assert main([good, BROKEN, str(tmp_path / "missing.yaml")]) == 2  # every file is still reported
    out = capsys.readouterr().out
    assert "good.yaml: ok" in out and "broken.yaml: failed" in out and "PL901" in out


def test_usage_errors_exit_2(capsys):
    assert main([]) == 2
    assert main(["--format", "xml", BROKEN]) == 2
    assert main(["--no-such-option"]) == 2
    assert "usage:" in capsys.readouterr().err


def test_help_and_version_exit_0(capsys):
    assert main(["--help"]) == 0
    assert main(["--version"]) == 0
    assert "paramlint 0." in capsys.readouterr().out


def test_exit_zero_keeps_failures_to_run(good, tmp_path):
    assert main(["--exit-zero", BROKEN]) == 0
    assert main(["--exit-zero", str(tmp_path / "missing.yaml")]) == 2


def test_paths_alone_skip_argparse_with_the_same_defaults():
    """The fast path for `paramlint PATH...` (pre-commit) must mean what argparse would make of it."""
    parsed = vars(build_parser().parse_args(["a.yaml", "configs"]))
    assert parsed == {"paths": ["a.yaml", "configs"], **DEFAULTS}
    code = ("import sys; from paramlint.cli import main; main(sys.argv[1:]); "
            "print('argparse' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, BROKEN], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stdout


def test_exit_code_function():
    class Report:
        def __init__(self, errors=0, warnings=0, unreadable=False):
            self.errors, self.warnings, self.failed_to_read = errors, warnings, unreadable
            self.failed = bool(errors)

    assert exit_code([Report()]) == 0
    assert exit_code([Report(warnings=1)]) == 0
    assert exit_code([Report(warnings=1)], strict=True) == 1
    assert exit_code([Report(errors=1)]) == 1
    assert exit_code([Report(errors=1), Report(unreadable=True)], exit_zero=True) == 2


@pytest.mark.parametrize("name", ["PL401", "pl401", "shape-mismatch"])
def test_explain(name, capsys):
    assert main(["--explain", name]) == 0
    out = capsys.readouterr().out
    rule = RULES["PL401"]
    assert out.startswith("PL401 shape-mismatch (error)")
    for part in (rule.summary, rule.why, rule.fix, "Why it matters:", "Example that fails:", "Fix:"):
        assert part in out
    assert "    - {type: Flatten}" in out


def test_explain_unknown(capsys):
    assert main(["--explain", "PL4011"]) == 2
    assert "no rule `PL4011`" in capsys.readouterr().err


def test_rules_command(capsys):
    assert main(["rules"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(RULES)
    assert main(["rules", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["code"], r["name"], r["severity"]) for r in listed] == [(r.code, r.name, r.severity)
                                                                        for r in RULES.values()]
    assert main(["rules", "--format", "markdown"]) == 0
    assert capsys.readouterr().out == rules_markdown()


def test_schema_command(capsys):
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == (ROOT / "schemas" / "format-1.json").read_text(encoding="utf-8")
    assert main(["schema", "--tool-config"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "paramlint tool configuration"


def test_github_format_is_chosen_on_github_actions(monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert main([BROKEN]) == 1
    assert capsys.readouterr().out.startswith("::warning file=")
    assert main(["--format", "text", BROKEN]) == 1
    assert not capsys.readouterr().out.startswith("::")


def test_output_file(tmp_path, capsys):
    target = tmp_path / "results.sarif"
    assert main(["--format", "sarif", "-o", str(target), BROKEN]) == 1
    assert capsys.readouterr().out == ""
    assert json.loads(target.read_text(encoding="utf-8"))["version"] == "2.1.0"
    assert main(["-o", str(tmp_path / "no" / "such" / "dir.txt"), BROKEN]) == 2


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal_and_never_with_no_color():
    assert use_color("auto", FakeTerminal(), {}) is True
    assert use_color("auto", io.StringIO(), {}) is False
    assert use_color("auto", FakeTerminal(), {"NO_COLOR": "1"}) is False
    assert use_color("auto", FakeTerminal(), {"NO_COLOR": ""}) is True  # the spec: set and non-empty
    assert use_color("always", io.StringIO(), {"NO_COLOR": "1"}) is True
    assert use_color("never", FakeTerminal(), {}) is False


def test_colour_on_the_command_line(monkeypatch, capsys):
    assert main(["--color", "always", BROKEN]) == 1
    assert "\033[31mPL401" in capsys.readouterr().out
    monkeypatch.setattr(sys, "stdout", FakeTerminal())
    main([BROKEN])
    assert "\033[" in sys.stdout.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setattr(sys, "stdout", FakeTerminal())
    main([BROKEN])
    assert "\033[" not in sys.stdout.getvalue()


def test_python_dash_m_and_a_cheap_import():
    code = ("import sys, paramlint, paramlint.cli; "
            "print(sorted(m for m in ('yaml', 'jsonschema', 'tomllib', 'tomli', 'difflib', 'paramlint.lint') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]"
    done = subprocess.run([sys.executable, "-m", "paramlint", "--format", "json", BROKEN], capture_output=True,
                          text=True, cwd=ROOT)
    assert done.returncode == 1
    assert json.loads(done.stdout)["summary"]["errors"] == 1


def test_linting_without_a_tool_config_does_not_load_toml(tmp_path):
    (tmp_path / "m.yaml").write_text(GOOD)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')  # not ours: not parsed
    code = ("import sys; from paramlint.cli import main; rc = main([sys.argv[1]]); "
            "print(rc, 'tomllib' in sys.modules, 'difflib' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.yaml")], capture_output=True, text=True,
                          cwd=ROOT)
    assert done.stdout.strip().splitlines()[-1] == "0 False False"
