"""What a first-time user hit (issue 12, items 6-10): warnings that must not fire on correct networks,
warnings that must, and errors that name their inputs.  Each asserts (line, column, code)."""
from __future__ import annotations

import pytest

from helpers import at, codes, lint_yaml
from paramlint.core.suggest import TYPE_ALIASES
from paramlint.model.layers import REGISTRY

HEAD = "paramlint: 1\ninput: [3, 32, 32]\nlayers:\n"


# --- 6. PL451 only where windows overlap or touch and still leave a tail ----------------------------------

@pytest.mark.parametrize("layer", [
    "{type: Conv2d, out_channels: 8, kernel_size: 1, stride: 2}",      # ResNet / ResNeXt / RegNet downsample
    "{type: Conv2d, out_channels: 8, kernel_size: [1, 1], stride: 3}",
    "{type: MaxPool2d, kernel_size: 1, stride: 2}",
    "{type: AvgPool2d, kernel_size: 2, stride: 3}",
    "{type: Conv2d, out_channels: 8, kernel_size: 2, stride: 4, dilation: 2}",  # a span of 3 < 4
])
def test_a_window_shorter_than_its_stride_skips_rows_by_design(layer):
    text = "paramlint: 1\ninput: [3, 31, 33]\nlayers:\n  - " + layer + "\n"
    assert codes(text) == []


def test_resnet_downsample_at_56_draws_no_warning():
    text = ("paramlint: 1\ninput: [64, 56, 56]\nlayers:\n"
            "  - {type: Conv2d, out_channels: 128, kernel_size: 1, stride: 2, bias: false}\n")
    assert codes(text) == []


@pytest.mark.parametrize("size,layer,token", [
    (28, "{type: MaxPool2d, kernel_size: 3, stride: 2}", "2}"),             # overlapping: the seed network's pool
    (29, "{type: Conv2d, out_channels: 8, kernel_size: 3, stride: 3}", "3}"),  # touching windows, a tail of 2
    (29, "{type: MaxPool2d, kernel_size: 2, stride: 2}", "2}"),             # touching windows on an odd size
])
def test_overlapping_or_touching_windows_that_leave_a_tail_still_warn(size, layer, token):
    text = f"paramlint: 1\ninput: [3, {size}, {size}]\nlayers:\n  - " + layer + "\n"
    assert codes(text) == [at(text, 4, token, "PL451")]


def test_the_seed_networks_pool_keeps_its_warning():
    report = lint_yaml(open("examples/cifar10_cnn.yaml").read(), "examples/cifar10_cnn.yaml")
    assert [(d.line, d.column, d.code) for d in report.diagnostics] == [(8, 47, "PL451")]


# --- 7. LayerNorm without normalized_shape after [C, H, W] --------------------------------------------------

def test_layer_norm_after_an_image_warns_and_says_what_was_meant():
    text = HEAD + "  - {type: Conv2d, out_channels: 8, kernel_size: 3, padding: 1}\n  - {type: LayerNorm}\n"
    report = lint_yaml(text)
    assert codes(text) == [at(text, 5, "{", "PL453")]
    message = report.diagnostics[0].message
    assert "inferred normalized_shape [32]" in message and "normalized_shape [8, 32, 32]" in message
    assert "[N, 8, 32, 32]" in message
    assert report.analysis is not None and report.analysis.params == 8 * 3 * 9 + 8 + 2 * 32


@pytest.mark.parametrize("layers", [
    "  - {type: LayerNorm, normalized_shape: [3, 32, 32]}\n",        # written: what the user meant
    "  - {type: LayerNorm, normalized_shape: 32}\n",                # written: the width, deliberately
    "  - {type: Permute, dims: [0, 2, 3, 1]}\n  - {type: LayerNorm}\n",  # channels-last [H, W, C]: over C
    "  - {type: Flatten, start_dim: 2}\n  - {type: LayerNorm}\n",     # tokens [C, H*W]
])
def test_layer_norm_that_says_what_it_normalizes_is_quiet(layers):
    assert codes(HEAD + layers) == []


def test_rms_norm_after_an_image_warns_too():
    text = HEAD + "  - {type: RMSNorm}\n"
    assert codes(text) == [at(text, 4, "{", "PL453")]


# --- 8. A layer whose output nothing reads -------------------------------------------------------------------

def test_an_unread_layer_is_named_with_its_parameters():
    text = ("paramlint: 1\ninput: [16]\nlayers:\n"
            "  - {type: Linear, name: main, out_features: 8}\n"
            "  - {type: Linear, name: aux, from: input, out_features: 4}\n"
            "  - {type: ReLU, from: main}\n")
    report = lint_yaml(text)
    assert codes(text) == [at(text, 5, "{", "PL455")]
    message = report.diagnostics[0].message
    assert "Linear `aux`" in message and "68 parameters" in message
    assert report.errors == 0 and report.analysis is not None and report.analysis.params == 136 + 68


def test_an_unread_layer_inside_a_block_names_the_block():
    text = ("paramlint: 1\ninput: [16]\nblocks:\n  Branchy:\n    layers:\n"
            "      - {type: Linear, name: used, out_features: 16}\n"
            "      - {type: Linear, name: dead, from: input, out_features: 2}\n"
            "      - {type: ReLU, from: used}\nlayers:\n  - {type: Branchy}\n  - {type: Branchy}\n")
    found = lint_yaml(text).diagnostics
    assert [(d.line, d.column, d.code) for d in found] == [at(text, 7, "{", "PL455")]  # one line, two uses
    assert "34 parameters" in found[0].message and "Branchy" in found[0].message


def test_every_layer_read_or_the_output_is_quiet():
    text = ("paramlint: 1\ninput: [16]\nlayers:\n"
            "  - {type: Linear, name: a, out_features: 8}\n"
            "  - {type: Linear, name: b, from: input, out_features: 8}\n"
            "  - {type: Add, from: [a, b]}\n")
    assert codes(text) == []


def test_an_unread_parameterless_layer_is_reported_too():
    text = ("paramlint: 1\ninput: [16]\nlayers:\n  - {type: ReLU, name: lost}\n"
            "  - {type: Linear, from: input, out_features: 4}\n")
    assert codes(text) == [at(text, 4, "{", "PL455")]
    assert "computes nothing" in lint_yaml(text).diagnostics[0].message


# --- 9. Merge errors name their inputs and lines ---------------------------------------------------------------

MERGE = HEAD + ("  - {type: Conv2d, name: a, out_channels: 8, kernel_size: 3, padding: 1}\n"
                "  - {type: Conv2d, name: b, from: input, out_channels: 16, kernel_size: 3}\n")


@pytest.mark.parametrize("merge", ["Add", "Multiply"])
def test_elementwise_merge_error_names_each_input_and_its_line(merge):
    text = MERGE + "  - {type: " + merge + ", from: [a, b]}\n"
    assert codes(text) == [at(text, 6, "{", "PL401")]
    message = lint_yaml(text).diagnostics[0].message
    assert (f"{merge} cannot broadcast its inputs Conv2d `a` (line 4) [N, 8, 32, 32], Conv2d `b` (line 5) "
            f"[N, 16, 30, 30]: sizes 8 vs 16 at dim -3") == message


def test_concat_error_names_each_input_and_its_line():
    text = MERGE + "  - {type: Concat, from: [a, b, input], dim: 1}\n"
    assert codes(text) == [at(text, 6, "{", "PL401")]
    message = lint_yaml(text).diagnostics[0].message
    assert message.endswith("; its inputs: Conv2d `a` (line 4) [N, 8, 32, 32], Conv2d `b` (line 5) "
                            "[N, 16, 30, 30], the input `input` [N, 3, 32, 32]")


# --- 10. Suggestions for torch names paramlint spells differently ---------------------------------------------

@pytest.mark.parametrize("written,meant", [("SyncBatchNorm", "BatchNorm2d")])
def test_alias_suggestions(written, meant):
    text = HEAD + "  - {type: " + written + "}\n"
    assert codes(text) == [at(text, 4, written, "PL204")]
    assert lint_yaml(text).diagnostics[0].message == f"unknown layer type `{written}`; did you mean `{meant}`?"


def test_alias_targets_exist():
    assert all(target in REGISTRY for target in TYPE_ALIASES.values())
    assert not set(TYPE_ALIASES) & set(REGISTRY), "an alias of a registered type would never apply"
