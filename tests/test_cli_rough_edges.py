"""The CLI's rough edges a first-time user hit (issue 12, items 12-16): fit's digits, exit status, GPU names and
units; defaults stated; the summary's optimizer line, 'Saved for backward' column, block shapes and FLOPs that
FlopCounterMode does not count; diff's unchanged layers."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from helpers import lint_yaml
from paramlint.cli import build_parser
from paramlint.cli import main as cli_main
from paramlint.commands.fit import distinct_bytes
from paramlint.commands.fit import main as fit_main
from paramlint.report.summary import SAVED_HEADER, render_summary

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def fit(*argv: str):
    out, err = io.StringIO(), io.StringIO()
    status = fit_main(list(argv), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


# --- 12. fit ----------------------------------------------------------------------------------------------------

def test_fit_shows_the_step_between_n_and_n_plus_1():
    status, out, _ = fit(str(EXAMPLES / "resnet18.yaml"), "--gpu", "A100-40GB")
    assert status == 0
    match = re.search(r"peak at batch size (\d+): ([\d.,]+ GiB); at (\d+): ([\d.,]+ GiB)", out)
    assert match, out
    assert int(match.group(3)) == int(match.group(1)) + 1 and match.group(2) != match.group(4)


@pytest.mark.parametrize("first,second,expected", [
    (int(39.571 * 2**30), int(39.592 * 2**30), ("39.57 GiB", "39.59 GiB")),
    (int(1.5 * 2**30), int(2.5 * 2**30), ("1.5 GiB", "2.5 GiB")),
    (2**30 + 1, 2**30 + 2, ("1,073,741,825 B", "1,073,741,826 B")),  # nothing short tells them apart
    (700, 900, ("700 B", "900 B")),
])
def test_distinct_bytes(first, second, expected):
    assert distinct_bytes(first, second) == expected


def test_fit_on_a_config_with_errors_exits_1_like_lint():
    status, out, err = fit(str(EXAMPLES / "broken.yaml"), "--gpu", "A100-80GB")
    assert status == 1 == cli_main([str(EXAMPLES / "broken.yaml")])
    assert "examples/broken.yaml:14:33: PL401" in err and out == ""


def test_fit_on_a_missing_file_or_not_a_config_exits_2(tmp_path):
    assert fit(str(tmp_path / "missing.yaml"), "--gpu", "T4")[0] == 2
    other = tmp_path / "other.yaml"
    other.write_text("services: [web]\n")
    assert fit(str(other), "--gpu", "T4")[0] == 2


def test_help_lists_fit():
    assert "paramlint fit" in build_parser().format_help()


@pytest.mark.parametrize("given,hint", [("a100", "A100-40GB or A100-80GB"), ("h100", "H100-80GB"),
                                        ("A100-80G", "A100-80GB"), ("rtx4090", "RTX-4090")])
def test_unknown_gpu_gets_a_did_you_mean(given, hint):
    status, _, err = fit(str(EXAMPLES / "cifar10_cnn.yaml"), "--gpu", given)
    assert status == 2
    assert f"unknown GPU {given!r}" in err and "did you mean" in err
    suggested = err.split("did you mean", 1)[1].split("?")[0]
    assert [name for name in re.findall(r"[A-Z][\w-]+", suggested)] == hint.split(" or ")


@pytest.mark.parametrize("option", ["--memory", "--overhead"])
def test_a_size_without_a_unit_is_an_error(option):
    argv = ["--memory", "12"] if option == "--memory" else ["--gpu", "T4", "--overhead", "12"]
    status, out, err = fit(str(EXAMPLES / "cifar10_cnn.yaml"), *argv)
    assert status == 2 and out == ""
    assert "'12' has no unit" in err


def test_zero_overhead_needs_no_unit():
    assert fit(str(EXAMPLES / "cifar10_cnn.yaml"), "--memory", "1 GiB", "--overhead", "0")[0] == 0


# --- 13. defaults stated where the figures are shown ---------------------------------------------------------------

NO_TRAINING = "paramlint: 1\ninput: [16]\nlayers:\n  - {type: Linear, out_features: 4}\n"


def test_no_training_section_says_batch_1_sgd_defaults(capsys, tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(NO_TRAINING)
    assert cli_main(["--summary", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Training:              batch 1, SGD (defaults): not set in the config's `training:`" in out
    assert out.rstrip().endswith("memory 65.0 MiB at batch 1 (batch 1, SGD (defaults))")


@pytest.mark.parametrize("training,note", [
    ("training: {optimizer: Adam}\n", "batch 1 (default)"),
    ("training: {batch_size: 8}\n", "SGD (default)"),
    ("training: {batch_size: 8, optimizer: SGD}\n", ""),
])
def test_partly_declared_training_names_only_the_defaults(training, note):
    report = lint_yaml(NO_TRAINING + training)
    assert report.analysis is not None and report.analysis.training.defaults_note() == note
    assert ("(default" in render_summary(report)) == bool(note)


# --- 14. the summary's optimizer line, its last column, block rows ---------------------------------------------------

def _summary(name: str) -> str:
    report = lint_yaml((EXAMPLES / f"{name}.yaml").read_text(), f"examples/{name}.yaml")
    return render_summary(report)


def test_optimizer_line_says_each_thing_once():
    line = next(line for line in _summary("cifar10_cnn").splitlines() if line.startswith("Optimizer state:"))
    assert line == ("Optimizer state:       53,852 values (Adam, 2 per trainable parameter: exp_avg and exp_avg_sq; "
                    "max_exp_avg_sq too with amsgrad)")
    assert line.count("per ") == 1


def test_saved_for_backward_column_adds_up_to_what_the_breakdown_shows():
    report = lint_yaml((EXAMPLES / "cifar10_cnn.yaml").read_text(), "examples/cifar10_cnn.yaml")
    memory = report.analysis.memory
    text = render_summary(report)
    assert text.splitlines()[1].endswith(SAVED_HEADER)
    assert (f"saved by the forward pass 8.4 MiB ('{SAVED_HEADER}' column 8.4 MiB + output and loss 21.0 KiB); "
            f"3.8 MiB of it held at the peak ('activations' below)") in text
    rest = memory.forward_activations - sum(memory.layer_activations)
    assert rest == 21.0 * 1024  # the model output [256, 10] and the loss's saved log-softmax, 10 KiB + 11 KiB
    assert "Saved for backward" in (ROOT / "docs" / "memory.md").read_text()


def test_block_rows_show_their_output_shape():
    lines = [line for line in _summary("resnet18").splitlines() if "BasicBlock" in line]
    assert re.match(r"layer1\s+BasicBlock #1\s+\[64, 56, 56\]\s+73,984 ", lines[0])
    assert len(lines) == 5 and all(re.search(r"BasicBlock( #\d)?\s+\[\d", line) for line in lines)
    assert re.search(r"BasicBlock\s+\[512, 7, 7\]\s+4,720,640 ", lines[-1])


def test_a_block_with_a_named_output_shows_that_layers_shape():
    text = ("paramlint: 1\ninput: [16]\nblocks:\n  Wide:\n    output: wide\n    layers:\n"
            "      - {type: Linear, name: wide, out_features: 32}\n"
            "      - {type: Linear, name: probe, out_features: 2}\n"
            "layers:\n  - {type: Wide}\n  - {type: ReLU}\n")
    report = lint_yaml(text)
    assert [(d.line, d.code) for d in report.diagnostics] == [(8, "PL455")]  # probe is never read
    block = next(line for line in render_summary(report).splitlines() if line.startswith("layers[0]"))
    assert re.search(r"Wide\s+\[32\]\s+610 ", block), block


# --- 15. FLOPs FlopCounterMode does not count ------------------------------------------------------------------------

def test_lstm_is_counted_under_the_meta_convention():
    # FlopCounterMode on the meta device steps through the recurrence (the FLOPs convention): nothing to flag
    text = _summary("lstm_lm")
    lstm = next(line for line in text.splitlines() if " LSTM " in line)
    assert "not counted" not in text and re.search(r"LSTM\s+\[\d+, \d+\]\s+[\d,]+\s+[1-9][\d,]*", lstm), lstm


def test_bilinear_says_not_counted_and_linear_does_not():
    text = ("paramlint: 1\ninputs: {a: [8], b: [6]}\nlayers:\n  - {type: Bilinear, from: [a, b], out_features: 4}\n"
            "  - {type: Linear, out_features: 2}\n")
    report = lint_yaml(text)
    assert report.diagnostics == ()
    [bilinear, linear] = report.analysis.shapes.layers
    assert bilinear.result.flops == 0 and "aten._trilinear" in bilinear.result.uncounted
    assert linear.result.uncounted == ""
    summary = render_summary(report)
    assert summary.count("not counted") == 2  # the row and the note


def test_an_activation_counting_nothing_is_a_plain_zero():
    assert "not counted" not in _summary("cifar10_cnn")


# --- 16. diff leaves unchanged layers out unless asked -------------------------------------------------------------

def test_diff_lists_unchanged_layers_only_with_all(capsys):
    args = [str(EXAMPLES / "cifar10_cnn.yaml"), str(EXAMPLES / "cifar10_cnn_batchnorm.yaml")]
    assert cli_main(["diff", *args]) == 0
    short = capsys.readouterr().out
    assert cli_main(["diff", "--all", *args]) == 0
    full = capsys.readouterr().out
    assert "  = " not in short and short.count("  + ") == 4
    assert full.count("  = ") == 10 and full.count("  + ") == 4
    assert "  = layers[9] -> layers[13]  Linear  [10]  1,290 params" in full
