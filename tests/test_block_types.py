"""``type: $arg``: a layer type (an activation, a norm) or a block passed as a block argument."""
from __future__ import annotations

from helpers import at, codes, lint_yaml

CONV_ACT = """\
paramlint: 1
input: [8, 4, 4]
blocks:
  ConvAct:
    args: {act: ReLU, c: 8}
    layers:
      - {type: Conv2d, out_channels: $c, kernel_size: 1}
      - {type: $act, inplace: true}
layers:
  - {type: ConvAct, act: Hardswish}
  - {type: ConvAct}
  - {type: ConvAct, act: Hardsigmoid, c: 4}
"""


def test_the_argument_names_the_type():
    report = lint_yaml(CONV_ACT)
    assert report.errors == 0, report.diagnostics
    layers = report.analysis.shapes.layers
    assert [layer.node.type for layer in layers] == ["Conv2d", "Hardswish", "Conv2d", "ReLU", "Conv2d",
                                                     "Hardsigmoid"]
    assert [layer.result.args.get("inplace") for layer in layers[1::2]] == [True, True, True]


def test_a_block_can_be_passed_as_a_type():
    text = CONV_ACT.replace("layers:\n  - {type: ConvAct, act: Hardswish}", """\
  Wrap:
    args: {inner: ConvAct}
    layers:
      - {type: $inner, act: SiLU}
layers:
  - {type: Wrap}""")
    report = lint_yaml(text)
    assert report.errors == 0, report.diagnostics
    assert [layer.node.type for layer in report.analysis.shapes.layers][:2] == ["Conv2d", "SiLU"]


def test_an_unknown_type_is_reported_at_the_use():
    text = CONV_ACT.replace("act: Hardswish}", "act: Hardswsh}")
    assert codes(text) == [at(text, 10, "Hardswsh", "PL204")]
    assert "did you mean `Hardswish`" in lint_yaml(text).diagnostics[0].message


def test_a_value_that_is_not_a_name_is_reported_at_the_use():
    text = CONV_ACT.replace("act: Hardswish}", "act: 3}")
    assert codes(text) == [at(text, 10, "3}", "PL202")]


def test_an_unknown_default_is_reported_at_the_default():
    text = CONV_ACT.replace("{act: ReLU, c: 8}", "{act: Relu, c: 8}")
    assert codes(text) == [at(text, 5, "Relu", "PL204")]


def test_an_unknown_argument_name_is_reported_at_the_type():
    text = CONV_ACT.replace("type: $act", "type: $activation")
    assert codes(text) == [at(text, 8, "$activation", "PL305")]


def test_a_key_the_passed_type_does_not_have():
    text = CONV_ACT.replace("act: Hardswish}", "act: GELU}")
    assert codes(text) == [at(text, 8, "inplace", "PL201")]


def test_outside_a_block():
    text = "paramlint: 1\ninput: [8]\nlayers:\n  - {type: $act}\n"
    assert codes(text) == [at(text, 4, "$act", "PL305")]
