"""Ultralytics YOLO model YAMLs against Ultralytics itself: the models it builds from its own packaged YAMLs
(every scale of yolov8, yolo11, yolov8-seg, -cls, -pose) and hypothesis mutations of them.

Runs where ultralytics is importable (its own environment, made by .ci/run); elsewhere it skips, unless
PARAMLINT_REQUIRE_ULTRALYTICS=1 (CI) turns the skip into a failure.
"""
from __future__ import annotations

import copy
import os

import pytest

if os.environ.get("PARAMLINT_REQUIRE_ULTRALYTICS") != "1":
    pytest.importorskip("ultralytics")

import yaml  # noqa: E402
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import ultralytics_oracle as oracle  # noqa: E402
from paramlint.api import lint_text  # noqa: E402

SCALES = "nsmlx"
CASES = [(family, scale) for family in oracle.FAMILIES for scale in SCALES]
MUTATIONS = int(os.environ.get("PARAMLINT_YOLO_MUTATIONS", "300"))


def lint_model(cfg: dict, path: str = "model.yaml"):
    report = lint_text(yaml.safe_dump(cfg, sort_keys=False), path=path)
    return report


@pytest.mark.parametrize("family,scale", CASES, ids=[oracle.model_name(f, s) for f, s in CASES])
def test_packaged_models_match_ultralytics(family, scale):
    name = oracle.model_name(family, scale)
    text = oracle.yaml_path(family).read_text()
    report = lint_text(text, path=name)  # the scale comes from the file name, as YOLO(name) reads it
    assert report.errors == 0, report.diagnostics
    analysis = report.analysis
    expected = oracle.figures(oracle.build({**yaml.safe_load(text), "scale": scale}))
    got = {"params": analysis.params, "trainable": analysis.trainable_params, "buffers": analysis.shapes.buffers,
           "layers": analysis.front["layers"], "flops": analysis.flops}
    assert got == {k: expected[k] for k in got}
    assert analysis.front["gflops"] == pytest.approx(expected["gflops"], rel=1e-3)


def _rows(cfg):
    return [("backbone", i) for i in range(len(cfg["backbone"]))] + [("head", i) for i in range(len(cfg["head"]))]


@st.composite
def mutated(draw):
    """A packaged YAML with a few rows changed: a `from` index, a channel count, a repeat count."""
    family = draw(st.sampled_from(sorted(oracle.FAMILIES)))
    cfg = copy.deepcopy(_YAMLS[family])
    cfg["scale"] = "n"
    rows = _rows(cfg)
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(0, len(rows) - 1))
        section, position = rows[index]
        row = cfg[section][position]
        kind = draw(st.sampled_from(("from", "channels", "repeats")))
        if kind == "from":
            if isinstance(row[0], list):
                k = draw(st.integers(0, len(row[0]) - 1))
                row[0][k] = draw(st.integers(-index - 2, index + 1))
            else:
                row[0] = draw(st.integers(-index - 2, index + 1))
        elif kind == "channels" and row[3] and isinstance(row[3][0], int) and row[2] not in ("Concat",):
            row[3][0] = draw(st.integers(1, 1100))
        else:
            row[1] = draw(st.integers(1, 9))
    return cfg


_YAMLS = {family: oracle.load_yaml(family) for family in oracle.FAMILIES}


@settings(max_examples=MUTATIONS, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_mutations_agree_with_ultralytics(cfg):
    report = lint_model(cfg)
    try:
        model = oracle.build(cfg, run=True)
    except Exception as error:  # Ultralytics refuses the model: paramlint must have said why
        event(f"Ultralytics raises {type(error).__name__}; paramlint {sorted({d.code for d in report.diagnostics})}")
        assert report.errors, f"Ultralytics raised {type(error).__name__}: {error}; paramlint: {report.diagnostics}"
        return
    event("both build")
    assert report.errors == 0, report.diagnostics
    expected = oracle.figures(model, flops=False)
    analysis = report.analysis
    assert (analysis.params, analysis.trainable_params, analysis.shapes.buffers, analysis.front["layers"]) == (
        expected["params"], expected["trainable"], expected["buffers"], expected["layers"])


def test_speed_benchmark_runs(tmp_path):
    """benchmarks/ultralytics.py produces its figures (the timings themselves are not asserted)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "ultralytics.py"
    raw = tmp_path / "results.json"
    result = subprocess.run([sys.executable, str(script), "--json", str(raw)], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    assert "faster in wall time" in result.stdout
    assert set(json.loads(raw.read_text())) >= {"paramlint_s", "ultralytics_s", "ratio", "cpu_ratio"}
