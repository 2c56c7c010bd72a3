"""Blocks: arguments, substitution, repeats, nesting, errors with their block path."""
from __future__ import annotations

import pytest

from helpers import at, codes, lint_yaml

RESNET_STAGE = """\
paramlint: 1
input: [64, 56, 56]
blocks:
  BasicBlock:
    args: {planes: null, stride: 1}
    layers:
      - {type: Conv2d, out_channels: $planes, kernel_size: 3, stride: $stride, padding: 1, bias: false}
      - {type: BatchNorm2d}
      - {type: ReLU}
      - {type: Conv2d, out_channels: $planes, kernel_size: 3, padding: 1, bias: false}
      - {type: BatchNorm2d, name: bn2}
      - {type: Add, from: [bn2, input]}
      - {type: ReLU}
layers:
  - {type: BasicBlock, planes: 64, repeat: 2}
"""


def test_block_expands_with_arguments():
    report = lint_yaml(RESNET_STAGE)
    assert report.errors == 0, report.diagnostics
    analysis = report.analysis
    assert len(analysis.shapes.layers) == 14
    # two BasicBlocks of 64 planes: 2 x (2 x 64*64*9 + 2 x 2*64) = 148,480
    assert analysis.params == 2 * (2 * 64 * 64 * 9 + 2 * 2 * 64)
    traces = [info.node.trace for info in analysis.shapes.layers]
    assert traces[0] == "layers[0] BasicBlock #1 > layers[0]"
    assert traces[-1] == "layers[0] BasicBlock #2 > layers[6]"


def test_wrong_shape_inside_repeat_reports_definition_line_and_block_path():
    text = RESNET_STAGE.replace("{type: BasicBlock, planes: 64, repeat: 2}",
                                "{type: BasicBlock, planes: 64, repeat: 2}\n  - {type: BasicBlock, planes: 128, "
                                "stride: 2, repeat: 3}")
    report = lint_yaml(text)
    # The residual Add of the first 128-plane block adds [128, 28, 28] to its [64, 56, 56] input.
    assert codes(text) == [at(text, 12, "{", "PL401")]
    message = report.diagnostics[0].message
    assert "layers[1] BasicBlock #1 (planes=128, stride=2) > layers[5]" in message


def test_expression_arguments_and_nested_blocks():
    text = """\
    paramlint: 1
    input: [16]
    blocks:
      MLP:
        args: {width: null, ratio: 4}
        layers:
          - {type: Linear, out_features: "${width * ratio}"}
          - {type: GELU}
          - {type: Linear, out_features: $width}
      Tower:
        args: {width: null, depth: 1}
        layers:
          - {type: MLP, width: $width, repeat: $depth}
    layers:
      - {type: Linear, out_features: 32}
      - {type: Tower, width: 32, depth: 3}
    """
    report = lint_yaml(text)
    assert report.errors == 0, report.diagnostics
    per_mlp = (32 * 128 + 128) + (128 * 32 + 32)
    assert report.analysis.params == 16 * 32 + 32 + 3 * per_mlp


@pytest.mark.parametrize("use,line_token,code", [
    ("{type: BasicBlock}", "{", "PL305"),                                  # planes is required
    ("{type: BasicBlock, planes: 64, strides: 2}", "strides", "PL305"),    # unknown argument
    ("{type: BasicBlock, planes: 64, repeat: 0}", "0}", "PL202"),           # repeat must be positive
])
def test_block_use_errors_point_at_the_use(use, line_token, code):
    text = RESNET_STAGE.replace("{type: BasicBlock, planes: 64, repeat: 2}", use)
    assert codes(text) == [at(text, 15, line_token, code)]


def test_bad_expression_points_into_definition():
    text = RESNET_STAGE.replace("out_channels: $planes, kernel_size: 3, stride", "out_channels: \"${planes ** 2}\", "
                                "kernel_size: 3, stride")
    assert codes(text) == [at(text, 7, '"${', "PL305")]


def test_block_using_itself():
    text = """\
    paramlint: 1
    input: [8]
    blocks:
      Loop:
        layers:
          - {type: Linear, out_features: 8}
          - {type: Loop}
    layers:
      - {type: Loop}
    """
    assert codes(text) == [at(text, 7, "Loop", "PL305")]


def test_huge_repeat_is_refused_before_expanding():
    text = "paramlint: 1\ninput: [8]\nlayers:\n  - {type: ReLU, repeat: 1000000000}\n"
    assert codes(text) == [at(text, 4, "1000000000", "PL103")]


def test_shares_counts_tied_weights_once():
    text = """\
    paramlint: 1
    input: {shape: [12], dtype: int64}
    layers:
      - {type: Embedding, num_embeddings: 100, embedding_dim: 16, name: embed}
      - {type: Linear, out_features: 100, bias: false, shares: embed}
    """
    report = lint_yaml(text)
    assert report.errors == 0, report.diagnostics
    assert report.analysis.params == 100 * 16


def test_shares_with_mismatched_shape():
    text = """\
    paramlint: 1
    input: {shape: [12], dtype: int64}
    layers:
      - {type: Embedding, num_embeddings: 100, embedding_dim: 16, name: embed}
      - {type: Linear, out_features: 99, bias: false, shares: embed}
    """
    assert codes(text) == [at(text, 5, "embed}", "PL306")]


def test_frozen_block_counts_as_non_trainable():
    text = RESNET_STAGE.replace("repeat: 2}", "repeat: 2, trainable: false}")
    analysis = lint_yaml(text).analysis
    assert analysis.trainable_params == 0
    assert analysis.shapes.non_trainable_params == analysis.params > 0


def test_multi_input_block_and_output():
    text = """\
    paramlint: 1
    inputs: {x: [10, 32], memory: [7, 32]}
    blocks:
      Cross:
        inputs: [q, kv]
        output: out
        layers:
          - {type: MultiheadAttention, num_heads: 4, from: [q, kv], name: out}
          - {type: ReLU}
    layers:
      - {type: Cross, from: [x, memory]}
    """
    report = lint_yaml(text)
    assert report.errors == 0, report.diagnostics
    assert report.analysis.shapes.output.shape == (10, 32)
