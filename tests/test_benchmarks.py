"""The benchmark script runs in quick mode and writes its report (timings are not asserted: see benchmarks/)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_produces_its_report(tmp_path):
    report, raw = tmp_path / "report.md", tmp_path / "results.json"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = dict(os.environ, TMPDIR=str(scratch))
    env.pop("GITHUB_ACTIONS", None)
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--quick", "--output", str(report),
                             "--json", str(raw)], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = report.read_text(encoding="utf-8")
    for heading in ("## Machine", "## 1. Seed config vs the dependency floor", "## 2. Seed config vs torchinfo",
                    "## 3. Deep networks", "## 4. 50 config files", "## 5. Imports"):
        assert heading in text, heading
    assert "/ floor: **" in text and "files/s" in text and "peak RSS" in text and "growth" in text
    results = json.loads(raw.read_text(encoding="utf-8"))
    assert results["quick"] is True
    seed = results["seed"]
    assert seed["seed"]["exit_codes"] == [0] * results["reps"]  # the seed config lints clean
    assert set(results["layers"]) == {"200 layers", "2000 layers"}
    assert all(code == 0 for timing in results["layers"].values() for code in timing["exit_codes"])
    assert results["batch"]["50 files"]["exit_codes"][0] == 1  # the batch includes examples/broken.yaml
    assert "torch" not in results["modules_beyond_floor"]
    assert results["version_imports_deps"] == []
    assert "jsonschema" in results["modules_not_imported"]  # a valid seed config never imports jsonschema
    assert list(scratch.iterdir()) == []  # its temporary files are gone
