"""Tool configuration: discovery, select/ignore, per-file-ignores, severities, defaults, and its own errors."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from paramlint.api import lint_paths
from paramlint.cli import main
from paramlint.tool_config import ConfigResolver, ToolConfig, key_positions, load_config

ROOT = Path(__file__).resolve().parent.parent
# One PL401 error (line 5) and one PL451 warning (line 4).
MODEL = """\
paramlint: 1
input: [3, 32, 32]
layers:
  - {type: Conv2d, out_channels: 8, kernel_size: 3, stride: 2}
  - {type: Linear, in_features: 7, out_features: 10}
"""
CLEAN = "paramlint: 1\ninput: [16]\nlayers:\n  - {type: Linear, out_features: 4}\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def codes(reports, name: str = ""):
    return [(d.line, d.code, d.severity) for r in reports if r.path.endswith(name) for d in r.diagnostics]


def test_defaults_report_everything(tmp_path):
    model = write(tmp_path / "m.yaml", MODEL)
    assert codes(lint_paths([model])) == [(4, "PL451", "warning"), (5, "PL401", "error")]


def test_found_by_walking_up_from_the_file(tmp_path):
    write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n\n[tool.paramlint]\nignore = ["PL451"]\n')
    model = write(tmp_path / "models" / "deep" / "m.yaml", MODEL)
    assert codes(lint_paths([model])) == [(5, "PL401", "error")]


def test_nearest_folder_wins_and_pyproject_without_table_is_passed_over(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.paramlint]\nignore = ["PL4"]\n')
    write(tmp_path / "a" / "pyproject.toml", '[project]\nname = "a"\n')  # no table: passed over
    write(tmp_path / "b" / ".paramlint.toml", 'ignore = ["PL451"]\n')
    write(tmp_path / "b" / "pyproject.toml", '[tool.paramlint]\nignore = ["PL401"]\n')  # .paramlint.toml first
    in_a = write(tmp_path / "a" / "m.yaml", MODEL)
    in_b = write(tmp_path / "b" / "m.yaml", MODEL)
    assert codes(lint_paths([in_a])) == []
    assert codes(lint_paths([in_b])) == [(5, "PL401", "error")]


def test_explicit_config_and_isolated(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.paramlint]\nignore = ["PL4"]\n')
    other = write(tmp_path / "elsewhere" / "strict.toml", 'select = ["PL451"]\n')
    model = write(tmp_path / "m.yaml", MODEL)
    assert codes(lint_paths([model], config=str(other))) == [(4, "PL451", "warning")]
    assert codes(lint_paths([model], isolated=True)) == [(4, "PL451", "warning"), (5, "PL401", "error")]


@pytest.mark.parametrize("select, ignore, expected", [
    (["PL"], [], {"PL401", "PL451"}),
    (["PL4"], ["PL45"], {"PL401"}),
    (["PL451"], ["PL4"], {"PL451"}),       # the longer selector wins
    (["PL4"], ["PL4"], set()),             # equal length: ignore wins
    (["PL2"], [], set()),
])
def test_select_and_ignore_by_code_or_prefix(select, ignore, expected):
    config = ToolConfig(select=tuple(select), ignore=tuple(ignore))
    assert {code for code in ("PL401", "PL451") if config.enabled(code)} == expected


def test_read_failures_and_crashes_cannot_be_ignored():
    config = ToolConfig(ignore=("PL",))
    assert config.enabled("PL901") and config.enabled("PL902") and config.enabled("PL603")
    assert not config.enabled("PL101")


def test_per_file_ignores(tmp_path):
    write(tmp_path / ".paramlint.toml", """\
        [per-file-ignores]
        "experiments/*.yaml" = ["PL4"]
        "legacy.yaml" = ["PL451"]
        """)
    experiment = write(tmp_path / "experiments" / "e.yaml", MODEL)
    legacy = write(tmp_path / "sub" / "legacy.yaml", MODEL)  # a pattern without / matches the name anywhere
    other = write(tmp_path / "m.yaml", MODEL)
    reports = lint_paths([experiment, legacy, other])
    assert codes(reports, "e.yaml") == []
    assert codes(reports, "legacy.yaml") == [(5, "PL401", "error")]
    assert codes(reports, "/m.yaml") == [(4, "PL451", "warning"), (5, "PL401", "error")]


@pytest.mark.parametrize("pattern, name, matches", [
    ("experiments/*.yaml", "experiments/a.yaml", True),
    ("experiments/*.yaml", "experiments/deep/a.yaml", False),   # `*` stays within a folder
    ("experiments/**", "experiments/deep/a.yaml", True),
    ("**/legacy.yaml", "legacy.yaml", True),
    ("**/legacy.yaml", "a/b/legacy.yaml", True),
    ("m?.yaml", "m1.yaml", True),
    ("*.yaml", "a.yaml", True),
    ("a.yaml", "xa.yaml", False),
])
def test_glob_semantics(pattern, name, matches):
    from paramlint.tool_config import _glob_match

    assert _glob_match(pattern, name) is matches


def test_severity_overrides(tmp_path):
    write(tmp_path / ".paramlint.toml", '[severity]\nPL45 = "error"\nPL4 = "warning"\n')
    model = write(tmp_path / "m.yaml", MODEL)
    [report] = lint_paths([model])
    assert codes([report]) == [(4, "PL451", "error"), (5, "PL401", "warning")]
    assert report.errors == 1 and report.warnings == 1


def test_strict_in_config_and_on_the_command_line(tmp_path, capsys):
    warn_only = write(tmp_path / "w" / "m.yaml", MODEL.replace("in_features: 7, ", ""))
    assert main([str(warn_only)]) == 0
    assert main(["--strict", str(warn_only)]) == 1
    write(tmp_path / "w" / ".paramlint.toml", "strict = true\n")
    assert main([str(warn_only)]) == 1
    assert main(["--exit-zero", str(warn_only)]) == 0
    assert "failed (1 warning)" in capsys.readouterr().out


def test_project_defaults_for_training_and_budgets(tmp_path):
    write(tmp_path / "pyproject.toml", """\
        [tool.paramlint.training]
        batch_size = 64
        optimizer = "Adam"

        [tool.paramlint.budgets]
        params = 10
        """)
    own = write(tmp_path / "own.yaml", CLEAN + "training: {optimizer: SGD}\nbudgets: {params: 1M}\n")
    default = write(tmp_path / "default.yaml", CLEAN)
    reports = {Path(r.path).name: r for r in lint_paths([own, default])}
    assert reports["own.yaml"].diagnostics == ()
    assert reports["own.yaml"].analysis.training.optimizer == "SGD"      # the config's own key wins
    assert reports["own.yaml"].analysis.training.batch_size == 64        # the project default fills in
    [exceeded] = reports["default.yaml"].diagnostics
    assert exceeded.code == "PL501"
    assert "a project default from" in exceeded.message and "pyproject.toml" in exceeded.message
    assert reports["default.yaml"].analysis.training.optimizer == "Adam"


def test_schema_errors_point_at_their_lines(tmp_path):
    path = write(tmp_path / "pyproject.toml", """\
        [project]
        name = "x"

        [tool.paramlint]
        select = ["PL4"]
        ignor = ["PL451"]
        severity = {PL451 = "fatal"}

        [tool.paramlint.budgets]
        params = "30 MiB"
        """)
    config = load_config(path)
    assert config.broken
    found = [(d.line, d.column, d.code, d.config_path) for d in config.diagnostics]
    assert found == [
        (6, 1, "PL603", "tool.paramlint.ignor"),
        (7, 13, "PL603", "tool.paramlint.severity.PL451"),
        (10, 1, "PL603", "tool.paramlint.budgets.params"),
    ]
    assert "did you mean `ignore`" in config.diagnostics[0].message


def test_toml_syntax_error(tmp_path):
    path = write(tmp_path / ".paramlint.toml", 'select = ["PL4"]\nignore = ["PL451"\n')
    [problem] = load_config(path).diagnostics
    assert (problem.code, problem.line) == ("PL602", 2)
    assert "not valid TOML" in problem.message


def test_unknown_codes_are_warnings(tmp_path):
    path = write(tmp_path / ".paramlint.toml", 'ignore = ["PL499", "PL45"]\n[severity]\nPL77 = "error"\n')
    config = load_config(path)
    assert not config.broken
    assert [(d.line, d.code, d.severity) for d in config.diagnostics] == [(1, "PL604", "warning"),
                                                                          (3, "PL604", "warning")]


def test_broken_config_is_reported_and_governs_nothing(tmp_path, capsys):
    write(tmp_path / ".paramlint.toml", 'ignor = ["PL451"]\n')
    model = write(tmp_path / "m.yaml", MODEL)
    reports = lint_paths([model])
    assert [Path(r.path).name for r in reports] == [".paramlint.toml"]
    assert reports[0].failed_to_read
    assert main([str(model)]) == 2
    out = capsys.readouterr().out
    assert ".paramlint.toml:1:1: PL603 unknown key `ignor`" in out


def test_unreadable_explicit_config_is_a_usage_error(tmp_path, capsys):
    model = write(tmp_path / "m.yaml", CLEAN)
    assert main(["--config", str(tmp_path / "missing.toml"), str(model)]) == 2
    assert "cannot read the configuration" in capsys.readouterr().err


def test_each_config_file_is_read_once(tmp_path, monkeypatch):
    write(tmp_path / ".paramlint.toml", 'ignore = ["PL451"]\n')
    files = [write(tmp_path / f"d{i}" / "m.yaml", CLEAN) for i in range(3)]
    import paramlint.tool_config as config_module

    loads = []
    real = config_module.load_config
    monkeypatch.setattr(config_module, "load_config", lambda p: loads.append(p) or real(p))
    resolver = ConfigResolver()
    assert len({id(resolver.for_file(str(f))) for f in files}) == 1
    assert len(loads) == 1


def test_key_positions_scan():
    text = textwrap.dedent("""\
        [tool.other]
        select = 1
        [tool.paramlint]
        select = ["PL"]   # comment
          "quoted key" = 1
        severity = { PL451 = "error", 'PL4' = "warning" }
        [tool.paramlint.per-file-ignores]
        "a/*.yaml" = ["PL4"]
        """)
    positions = key_positions(text, ("tool", "paramlint"))
    assert positions[()] == (3, 1)
    assert positions[("select",)] == (4, 1)
    assert positions[("quoted key",)] == (5, 3)
    assert positions[("severity", "PL451")] == (6, 14)
    assert positions[("severity", "PL4")] == (6, 31)
    assert positions[("per-file-ignores", "a/*.yaml")] == (8, 1)


def test_tool_config_schema_is_generated_and_current():
    from paramlint.validation.publish import main as publish_main

    assert publish_main(["--check"]) == 0, "run python -m paramlint.validation"
    from paramlint.validation.validator import schema_path

    assert schema_path("tool-config.json").parent.name == "schemas"


def test_tool_config_schema_accepts_every_documented_key():
    import json

    from jsonschema import Draft202012Validator

    schema = json.loads((ROOT / "schemas" / "tool-config.json").read_text())
    Draft202012Validator.check_schema(schema)
    full = {"select": ["PL"], "ignore": ["PL451"], "per-file-ignores": {"x/*.yaml": ["PL5"]},
            "severity": {"PL451": "error"}, "strict": True, "training": {"batch_size": 8, "optimizer": "AdamW"},
            "budgets": {"params": "7B", "memory": "80 GiB"}}
    assert list(Draft202012Validator(schema).iter_errors(full)) == []
