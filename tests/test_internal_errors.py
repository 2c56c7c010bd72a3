"""A bug in paramlint is one PL902 diagnostic naming the file and asking for a bug report.

Exit status 2, the traceback only under --debug, and the other files are
still linted.  The bug is simulated by making a layer type's ``infer`` raise.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from paramlint.cli import main
from paramlint.model.layers import REGISTRY
from paramlint.lint import lint_paths

ROOT = Path(__file__).resolve().parent.parent
USES_RELU = ("paramlint: 1\ninput: [3, 8, 8]\nlayers:\n  - {type: Conv2d, out_channels: 4, kernel_size: 3}\n"
             "  - {type: ReLU}\n")
NO_RELU = "paramlint: 1\ninput: [3, 8, 8]\nlayers:\n  - {type: Conv2d, out_channels: 4, kernel_size: 3}\n"

# Run in a fresh interpreter: ReLU's infer raises, then the command runs with the given arguments.
CRASHING_MAIN = """
import sys
from paramlint.model.layers import REGISTRY
def infer(args, inputs):
    raise ZeroDivisionError("simulated bug in ReLU")
REGISTRY["ReLU"] = REGISTRY["ReLU"].replace(infer=infer)
from paramlint.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


@pytest.fixture
def crashing_relu(monkeypatch):
    def infer(args, inputs):
        raise ZeroDivisionError("simulated bug in ReLU")

    monkeypatch.setitem(REGISTRY, "ReLU", REGISTRY["ReLU"].replace(infer=infer))


@pytest.fixture
def configs(tmp_path):
    (tmp_path / "a_crash.yaml").write_text(USES_RELU, encoding="utf-8")
    (tmp_path / "b_fine.yaml").write_text(NO_RELU, encoding="utf-8")
    (tmp_path / "c_broken.yaml").write_text(NO_RELU + "  - {type: Linear, in_features: 7, out_features: 2}\n",
                                            encoding="utf-8")
    return tmp_path


def test_one_diagnostic_for_the_file_and_the_others_still_linted(crashing_relu, configs):
    reports = {Path(r.path).name: r for r in lint_paths([str(configs)], isolated=True)}
    assert sorted(reports) == ["a_crash.yaml", "b_fine.yaml", "c_broken.yaml"]
    crash = reports["a_crash.yaml"]
    assert [(d.code, d.line, d.column) for d in crash.diagnostics] == [("PL902", 1, 1)]
    message = crash.diagnostics[0].message
    assert "internal error" in message and "report this bug" in message
    assert "ZeroDivisionError: simulated bug in ReLU" in message
    assert "--debug" in message and "Traceback" not in message
    assert crash.diagnostics[0].path.endswith("a_crash.yaml")
    assert crash.failed_to_read and crash.analysis is None
    assert reports["b_fine.yaml"].diagnostics == () and reports["b_fine.yaml"].analysis is not None
    assert [d.code for d in reports["c_broken.yaml"].diagnostics] == ["PL401"]


def test_exit_status_is_2_even_with_exit_zero(crashing_relu, configs, capsys):
    assert main([str(configs), "--isolated"]) == 2
    assert main([str(configs), "--isolated", "--exit-zero"]) == 2
    assert main([str(configs / "b_fine.yaml"), "--isolated"]) == 0
    capsys.readouterr()


def test_json_report_names_the_file(crashing_relu, configs, capsys):
    assert main([str(configs / "a_crash.yaml"), "--isolated", "--format", "json"]) == 2
    document = json.loads(capsys.readouterr().out)
    files = document["files"] if isinstance(document, dict) else document
    (entry,) = [f for f in files if f["path"].endswith("a_crash.yaml")]
    assert [d["code"] for d in entry["diagnostics"]] == ["PL902"]


def test_ignore_and_suppressions_never_hide_an_internal_error(crashing_relu, configs, capsys):
    (configs / ".paramlint.toml").write_text('ignore = ["PL9", "PL902"]\n', encoding="utf-8")
    reports = lint_paths([str(configs / "a_crash.yaml")])
    assert "PL902" in [d.code for r in reports for d in r.diagnostics]
    capsys.readouterr()


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    env.pop("GITHUB_ACTIONS", None)
    return subprocess.run([sys.executable, "-c", CRASHING_MAIN, *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_traceback_only_under_debug(configs):
    quiet = _run(str(configs), "--isolated")
    assert quiet.returncode == 2, quiet.stderr
    assert "Traceback" not in quiet.stdout + quiet.stderr
    assert "PL902" in quiet.stdout and "a_crash.yaml" in quiet.stdout and "--debug" in quiet.stdout
    assert "b_fine.yaml" in quiet.stdout  # the other files are reported too

    loud = _run(str(configs), "--isolated", "--debug")
    assert loud.returncode == 2, loud.stderr
    assert "Traceback (most recent call last)" in loud.stdout
    assert ", in infer" in loud.stdout and "analysis.py" in loud.stdout  # the frames down to the failing code
    assert "ZeroDivisionError: simulated bug in ReLU" in loud.stdout
    assert loud.stderr == ""
