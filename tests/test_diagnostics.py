"""Each rule on a small inline config, asserted by (line, column, code).

Columns are found from a token on the line (``at``) so that each assertion
says which node the diagnostic must point at.
"""
from __future__ import annotations

from helpers import at, codes, lint_yaml

HEAD = "paramlint: 1\ninput: [3, 32, 32]\nlayers:\n"


def test_unknown_key_with_suggestion():
    text = HEAD + "  - {type: Conv2d, out_channels: 8, kernal_size: 3}\n"
    report = lint_yaml(text)
    assert codes(text) == [at(text, 4, "kernal_size", "PL201")]
    assert "did you mean `kernel_size`?" in report.diagnostics[0].message


def test_unknown_top_level_key():
    text = HEAD + "  - {type: ReLU}\ntrainig: {batch_size: 2}\n"
    assert codes(text) == [at(text, 5, "trainig", "PL201")]


def test_wrong_type_points_at_value():
    text = HEAD + "  - type: Linear\n    out_features: 12.5\n"
    assert codes(text) == [at(text, 5, "12.5", "PL202")]
    assert "positive integer" in lint_yaml(text).diagnostics[0].message


def test_missing_required_argument():
    text = HEAD + "  - {type: Conv2d, kernel_size: 3}\n"
    assert codes(text) == [at(text, 4, "{", "PL203")]


def test_unknown_layer_type_with_suggestion():
    text = HEAD + "  - {type: Conv2D, out_channels: 8, kernel_size: 3}\n"
    assert codes(text) == [at(text, 4, "Conv2D", "PL204")]
    assert "did you mean `Conv2d`?" in lint_yaml(text).diagnostics[0].message


def test_unsupported_version():
    text = "paramlint: 2\ninput: [3]\nlayers:\n  - {type: ReLU}\n"
    assert codes(text) == [at(text, 1, "2", "PL205")]


def test_missing_input():
    assert codes("paramlint: 1\nlayers:\n  - {type: ReLU}\n") == [(1, 1, "PL203")]


def test_unknown_reference():
    text = HEAD + "  - {type: ReLU, name: a}\n  - {type: Add, from: [a, b]}\n"
    assert codes(text) == [at(text, 5, "b]", "PL301")]


def test_reference_to_later_layer_is_a_cycle():
    text = HEAD + "  - {type: ReLU, name: a, from: b}\n  - {type: ReLU, name: b, from: a}\n"
    assert codes(text) == [at(text, 4, "b}", "PL302")]


def test_reference_to_itself():
    text = HEAD + "  - {type: Add, name: a, from: [input, a]}\n"
    assert codes(text) == [at(text, 4, "a]", "PL302")]


def test_duplicate_name():
    text = HEAD + "  - {type: ReLU, name: a}\n  - {type: ReLU, name: a}\n"
    assert codes(text) == [at(text, 5, "a}", "PL303")]


def test_merge_needs_two_inputs():
    text = HEAD + "  - {type: ReLU}\n  - {type: Add}\n"
    assert codes(text) == [at(text, 5, "{", "PL304")]


def test_shape_mismatch_names_both_layers_and_arithmetic():
    text = HEAD + ("  - {type: Conv2d, out_channels: 12, kernel_size: 5, stride: 2, padding: 2}\n"
                   "  - {type: MaxPool2d, kernel_size: 4}\n"
                   "  - {type: Flatten}\n"
                   "  - {type: Linear, in_features: 200, out_features: 10}\n")
    assert codes(text) == [at(text, 7, "200", "PL401")]
    message = lint_yaml(text).diagnostics[0].message
    assert "Linear expects in_features 200" in message
    assert "Flatten `layers[2]` (line 6) produces 192 = 12 x 4 x 4" in message


def test_view_that_needs_a_copy_points_at_its_shape_and_explains():
    text = ("paramlint: 1\ninput: {shape: [32], dtype: int64}\nlayers:\n"
            "  - {type: Embedding, num_embeddings: 1000, embedding_dim: 64}\n"
            "  - {type: LSTM, hidden_size: 128}\n"
            "  - {type: View, shape: [-1]}\n")
    assert codes(text) == [at(text, 6, "[-1]", "PL401")]
    message = lint_yaml(text).diagnostics[0].message
    assert "View cannot view LSTM `layers[1]` (line 5) as [4096] without a copy" in message
    assert "[N*128, 1] (N: the batch size)" in message and "Use Reshape" in message
    assert codes(text.replace("type: View", "type: Reshape")) == []


def test_invalid_argument_combination():
    text = HEAD + "  - {type: Conv2d, out_channels: 10, kernel_size: 3, groups: 2}\n"
    assert codes(text) == [at(text, 4, "2}", "PL402")]


def test_empty_output_shows_formula():
    text = "paramlint: 1\ninput: [3, 8, 8]\nlayers:\n  - {type: Conv2d, out_channels: 8, kernel_size: 11}\n"
    assert codes(text) == [at(text, 4, "11", "PL403")]
    assert "floor((8 + 2*0 - 1*(11-1) - 1) / 1) + 1 = -2" in lint_yaml(text).diagnostics[0].message


def test_wrong_dtype_into_embedding():
    text = ("paramlint: 1\ninput: {shape: [16], dtype: float32}\nlayers:\n"
            "  - {type: Embedding, num_embeddings: 100, embedding_dim: 8}\n")
    assert codes(text) == [at(text, 4, "{", "PL404")]


def test_unread_input_warning_counts_rows():
    text = HEAD + "  - {type: Conv2d, out_channels: 8, kernel_size: 3, stride: 2}\n"
    report = lint_yaml(text)
    assert codes(text) == [at(text, 4, "2}", "PL451")]
    assert "the last 1 of 32 rows and the last 1 of 32 columns" in report.diagnostics[0].message
    assert report.errors == 0 and report.analysis is not None


def test_budget_exceeded_shows_arithmetic():
    text = HEAD + "  - {type: Flatten}\n  - {type: Linear, out_features: 10}\ntraining: {optimizer: Adam}\n" \
                  "budgets:\n  params: 20K\n  optimizer_state: 50K\n"
    report = lint_yaml(text)
    assert codes(text) == [at(text, 8, "20K", "PL501"), at(text, 9, "50K", "PL501")]
    params, state = (d.message for d in report.diagnostics)
    assert "params 30,730 exceeds the budget 20,000 (20K) by 10,730 (+53.7%)" in params
    assert "Linear `layers[1]` 30,730 (100.0%)" in params
    assert "61,460 = 2 x 30,730 trainable parameters" in state


def test_budget_unit_of_the_wrong_kind():
    text = HEAD + "  - {type: ReLU}\nbudgets:\n  params: 30 MiB\n  memory: 12M\n"
    report = lint_yaml(text)
    assert codes(text) == [at(text, 6, "30 MiB", "PL205"), at(text, 7, "12M", "PL205")]
    assert "is a size in bytes, but this budget is a count" in report.diagnostics[0].message
    assert "write MB (powers of 1000) or MiB (powers of 1024)" in report.diagnostics[1].message


def test_unknown_optimizer():
    text = HEAD + "  - {type: ReLU}\ntraining: {optimizer: Adamm}\n"
    assert codes(text) == [at(text, 5, "Adamm", "PL502")]
    assert "did you mean" in lint_yaml(text).diagnostics[0].message


def test_unmarked_file_is_skipped():
    assert lint_yaml("repos: []\n").skipped
    assert lint_yaml("- 1\n- 2\n").skipped
