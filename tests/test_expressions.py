"""``${...}`` functions: max, min and make_divisible (torchvision's channel rounding)."""
from __future__ import annotations


import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import at, codes, lint_yaml, torchvision_make_divisible
from paramlint.model.expr import ExprError, evaluate


@pytest.mark.parametrize("text,value", [
    ("max(3, 5)", 5),
    ("min(3, 5)", 3),
    ("max(1, 2, 9, 4)", 9),
    ("min(-1, 2 * c)", -1),
    ("max(c // 4, 8)", 16),
    ("make_divisible(c // 4, 8)", 16),
    ("make_divisible(72 // 4, 8)", 24),      # MobileNetV3's squeeze of 72 channels
    ("make_divisible(960 // 4, 8)", 240),
    ("make_divisible(c * 3, 8, 32)", 192),
    ("make_divisible(10, 8)", 16),           # 8 would lose more than 10%
    ("make_divisible(3, 8)", 8),             # at least the divisor
    ("make_divisible(3, 8, 4)", 4),
    ("2 * max(c, 3) + min(1, 2)", 129),
    ("max((c), (c + 1))", 65),
])
def test_functions(text, value):
    assert evaluate(text, {"c": 64}) == value


@pytest.mark.parametrize("text,fragment", [
    ("max(3)", "max takes 2 or more arguments, got 1"),
    ("make_divisible(3)", "make_divisible takes 2 or 3 arguments, got 1"),
    ("make_divisible(3, 8, 1, 2)", "make_divisible takes 2 or 3 arguments, got 4"),
    ("make_divisible(3, 0)", "positive divisor"),
    ("max(3, 4", "missing ')'"),
    ("max 3", "max is a function: write max(...)"),
    ("max(1, 10 * 1000000000000000000)", "out of range"),
    ("max(1,)", "expected a number"),
    ("3, 4", "unexpected ','"),
    ("size(3)", "unknown argument 'size'"),
])
def test_function_errors(text, fragment):
    with pytest.raises(ExprError) as caught:
        evaluate(text, {"c": 64})
    assert fragment in str(caught.value)


def test_an_argument_may_share_a_function_name():
    assert evaluate("max + 1", {"max": 4}) == 5
    assert evaluate("max(max, 7)", {"max": 4}) == 7


@settings(max_examples=300, deadline=None)
@given(st.integers(-10**6, 10**6), st.integers(1, 256), st.one_of(st.none(), st.integers(-64, 512)))
def test_make_divisible_matches_torchvision(value, divisor, min_value):
    args = [value, divisor] + ([] if min_value is None else [min_value])
    text = "make_divisible(" + ", ".join(str(a) for a in args) + ")"
    assert evaluate(text, {}) == torchvision_make_divisible(value, divisor, min_value)


SQUEEZE = """\
paramlint: 1
input: [72, 8, 8]
blocks:
  Squeeze:
    args: {channels: null}
    layers:
      - {type: AdaptiveAvgPool2d, output_size: 1}
      - {type: Conv2d, out_channels: "${make_divisible(channels // 4, 8)}", kernel_size: 1}
      - {type: Conv2d, out_channels: "${max(channels, 8)}", kernel_size: 1}
layers:
  - {type: Squeeze, channels: 72}
"""


def test_functions_in_a_block():
    report = lint_yaml(SQUEEZE)
    assert report.errors == 0, report.diagnostics
    layers = report.analysis.shapes.layers
    assert [layer.result.outputs[0].shape[0] for layer in layers] == [72, 24, 72]


def test_function_error_points_at_the_argument():
    text = SQUEEZE.replace("max(channels, 8)", "max(channels)")
    assert codes(text) == [at(text, 9, "\"${max", "PL305")]
