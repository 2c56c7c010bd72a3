"""Ultralytics YOLO model YAMLs, linted without a marker: Ultralytics' rules and each row's diagnostics at its
own line and column.  (The counts against Ultralytics itself: tests/test_ultralytics_oracle.py.)"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from paramlint.api import lint_text
from paramlint.cli import main
from paramlint.importers.ultralytics import looks_like_ultralytics
from paramlint.importers.ultralytics.scaling import depth_gain, make_divisible, scale_from_filename

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "ultralytics" / "yolov8n.yaml"
WRAPPER = ROOT / "examples" / "ultralytics" / "yolov8n_train.yaml"

# A small detector in the same format, written for these tests: two strides, a Concat, a Detect.
TINY = """\
nc: 3
scales:
  n: [0.5, 0.25, 1024]
  s: [0.5, 0.5, 1024]
backbone:
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 2, C2f, [64, True]]
  - [-1, 1, Conv, [128, 3, 2]]
  - [-1, 1, SPPF, [128, 5]]
head:
  - [-1, 1, nn.Upsample, [None, 2, nearest]]
  - [[-1, 1], 1, Concat, [1]]
  - [-1, 1, C2f, [64]]
  - [[6, 3], 1, Detect, [nc]]
"""


def codes(report):
    return [(d.line, d.column, d.code) for d in report.diagnostics]


def lint(text: str, path: str = "yolo99n.yaml"):
    return lint_text(text, path=path)


def with_row(line: int, row: str, text: str = TINY) -> str:
    lines = text.splitlines()
    lines[line - 1] = "  - " + row
    return "\n".join(lines) + "\n"


# --- Ultralytics' arithmetic ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name,letter", [("yolov8n.yaml", "n"), ("yolo11x-seg.yaml", "x"), ("yolov8-pose.yaml", ""),
                                         ("yoloe-11s.yaml", "s"), ("my-model.yaml", ""), ("yolov8m-cls", "m")])
def test_scale_letter_from_the_file_name(name, letter):
    assert scale_from_filename(name) == letter


@pytest.mark.parametrize("value,expected", [(16.0, 16), (16.5, 24), (0.25 * 1024, 256), (0.75 * 1024, 768), (1, 8)])
def test_make_divisible(value, expected):
    assert make_divisible(value) == expected


@pytest.mark.parametrize("repeats,depth,expected", [(3, 0.33, 1), (6, 0.33, 2), (6, 0.67, 4), (1, 0.33, 1),
                                                    (2, 0.5, 1), (9, 0.33, 3), (3, 1.0, 3)])
def test_depth_gain(repeats, depth, expected):
    assert depth_gain(repeats, depth) == expected


def test_the_marker_test():
    assert looks_like_ultralytics({"backbone": [[-1, 1, "Conv", [64]]], "head": []})
    assert not looks_like_ultralytics({"backbone": [[-1, 1, "Conv"]], "head": []})
    assert not looks_like_ultralytics({"backbone": [], "head": []})
    assert not looks_like_ultralytics({"paramlint": 1, "layers": []})
    assert not looks_like_ultralytics(["backbone", "head"])


# --- the example: the figures model.info() prints (tests/test_ultralytics_oracle.py checks them against it) ---
def test_example_lints_clean_with_ultralytics_figures():
    report = lint(EXAMPLE.read_text(), path=str(EXAMPLE))
    assert report.diagnostics == ()
    analysis = report.analysis
    assert (analysis.params, analysis.trainable_params, analysis.shapes.buffers) == (3_157_200, 3_157_184, 10_649)
    assert analysis.flops == 8_743_987_200  # FlopCounterMode, eval, one 640 x 640 image
    assert analysis.front["layers"] == 129
    assert analysis.front["gflops"] == pytest.approx(8.8550912)  # get_flops(model, 640)
    assert analysis.shapes.output.shape == (84, 8400)
    assert (analysis.training.batch_size, analysis.training.precision) == (16, "fp16-mixed")


def test_summary_prints_model_info_beside_flop_counter(capsys):
    assert main(["--summary", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "129 layers, 3,157,200 parameters, 3,157,184 gradients, 8.9 GFLOPs" in out
    assert "8.7440 by FlopCounterMode" in out


def test_scale_option_overrides_the_file_name(capsys):
    assert main(["--scale", "x", "--format", "json", str(EXAMPLE)]) == 0
    model = json.loads(capsys.readouterr().out)["files"][0]["model"]
    assert (model["params"], model["front"]["scale"]) == (68_229_648, "x")


def test_scale_key_then_first_scale_with_a_warning():
    assert lint(TINY + "scale: s\n", path="tiny.yaml").analysis.front["scale"] == "s"
    report = lint(TINY, path="tiny.yaml")
    assert codes(report) == [(3, 3, "PL706")]  # at `scales`
    assert report.analysis.front["scale"] == "n"


def test_unknown_scale_is_an_error():
    assert codes(lint(TINY, path="yolo99x.yaml")) == [(3, 3, "PL706")]


def test_wrapper_adds_training_and_budgets():
    report = lint_text(WRAPPER.read_text(), path=str(WRAPPER))
    assert report.diagnostics == ()
    analysis = report.analysis
    assert analysis.params == 11_166_560  # scale s
    assert (analysis.training.batch_size, analysis.training.optimizer) == (32, "AdamW")
    assert [b.name for b in analysis.budgets] == ["params", "memory"]


def test_wrapper_budget_and_stride_diagnostics(tmp_path):
    (tmp_path / "yolo99n.yaml").write_text(TINY)
    wrapper = tmp_path / "model.yaml"
    wrapper.write_text("paramlint: 1\nultralytics: yolo99n.yaml\nimgsz: 600\nbudgets:\n  params: 1K\n")
    assert main([str(wrapper)]) == 1
    report = lint_text(wrapper.read_text(), path=str(wrapper))
    assert codes(report) == [(3, 8, "PL705"), (5, 11, "PL501")]
    assert report.analysis.front["imgsz"] == 608  # rounded up to the stride, as Ultralytics does


def test_wrapper_refuses_other_keys(tmp_path):
    wrapper = tmp_path / "model.yaml"
    wrapper.write_text("paramlint: 1\nultralytics: missing.yaml\nlayers: []\n")
    assert codes(lint_text(wrapper.read_text(), path=str(wrapper))) == [(3, 1, "PL201")]
    wrapper.write_text("paramlint: 1\nultralytics: missing.yaml\n")
    assert codes(lint_text(wrapper.read_text(), path=str(wrapper))) == [(2, 14, "PL901")]


def test_plain_yaml_is_still_skipped():
    assert lint("backbone: [1, 2]\nhead: []\n").skipped
    assert lint("name: x\n").skipped


# --- diagnostics at the row ----------------------------------------------------------------------------------
def test_tiny_is_clean():
    assert lint(TINY).diagnostics == ()


@pytest.mark.parametrize("line,row,expected", [
    # `from` out of range, at itself, forward; in a list, at the element
    (7, "[-3, 2, C2f, [64, True]]", (7, 6, "PL702")),
    (7, "[1, 2, C2f, [64, True]]", (7, 6, "PL702")),
    (9, "[5, 1, SPPF, [128, 5]]", (9, 6, "PL702")),
    (12, "[[-1, 9], 1, Concat, [1]]", (12, 11, "PL702")),
    (6, "[0, 1, Conv, [64, 3, 2]]", (6, 6, "PL702")),
    # an unknown module (did-you-mean in the message), an unsupported one
    (8, "[-1, 1, Cnov, [128, 3, 2]]", (8, 13, "PL701")),
    (8, "[-1, 1, GhostConv, [128, 3, 2]]", (8, 13, "PL701")),
    # argument lists: too long, too short, a wrong type (at the argument), `from` of the wrong kind
    (8, "[-1, 1, Conv, [128, 3, 2, None, 1, 1, True, 7]]", (8, 49, "PL703")),  # at the extra one
    (9, "[-1, 1, SPPF, []]", (9, 19, "PL703")),
    (8, "[-1, 1, Conv, [128, three, 2]]", (8, 25, "PL703")),
    (12, "[-1, 1, Concat, [1]]", (12, 6, "PL703")),
    (12, "[[-1, 1], 4, Concat, [1]]", (12, 15, "PL703")),
    # a Concat of two strides names both rows
    (12, "[[-1, 2], 1, Concat, [1]]", (12, 6, "PL704")),
    # a layer the pipeline rejects, at its row: Conv repeated with changing channels
    (6, "[-1, 4, Conv, [64, 3, 2]]", (6, 5, "PL401")),
])
def test_row_diagnostics(line, row, expected):
    report = lint(with_row(line, row))
    assert codes(report) == [expected], report.diagnostics


def test_concat_message_names_both_rows():
    [diagnostic] = lint(with_row(12, "[[-1, 2], 1, Concat, [1]]")).diagnostics
    assert "row 4 (`head[0]`) gives [32, 320, 320]" in diagnostic.message
    assert "row 2 (`backbone[2]`) gives [32, 160, 160]" in diagnostic.message


def test_unknown_module_did_you_mean():
    [diagnostic] = lint(with_row(8, "[-1, 1, Cnov, [128, 3, 2]]")).diagnostics
    assert "did you mean `Conv`" in diagnostic.message


def test_detect_from_a_row_of_different_stride_is_fine():
    # Detect reads any rows (each level keeps its own anchors): not an error in Ultralytics either
    assert lint(with_row(14, "[[6, 1], 1, Detect, [nc]]")).errors == 0


def test_c2psa_must_keep_its_channels():
    text = with_row(9, "[-1, 1, C2PSA, [256]]")
    assert codes(lint(text)) == [(9, 5, "PL401")]


def test_hostile_repeats_are_bounded():
    assert codes(lint(with_row(7, "[-1, 100000, C2f, [64, True]]"))) == [(7, 10, "PL703")]
    rows = "".join("  - [-1, 999, Conv, [16, 1, 1]]\n" for _ in range(300))
    text = "backbone:\n  - [-1, 1, Conv, [16, 3, 2]]\n" + rows + "head: []\n"
    assert [d.code for d in lint(text).diagnostics] == ["PL103"]
