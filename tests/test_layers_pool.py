"""Pooling layers against torch: output shapes, rejections, indices, unread input, saved tensors."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from oracle import BATCH, infer_layer, layer_error, paramlint_outcome, torch_outcome
from torch_saved import paramlint_saved, torch_saved

from paramlint.model.layers.conv import skips_by_design
from paramlint.model.layers.pool import pool_output_size, unread_positions

INF = float("inf")

CASES = [
    # (type, args, per-sample input shape); the torch oracle decides accept or reject
    ("MaxPool2d", {"kernel_size": 3, "stride": 2}, [5, 28, 28]),  # the seed network
    ("MaxPool2d", {"kernel_size": 5, "stride": 2}, [12, 11, 11]),  # -> [12, 4, 4]
    ("MaxPool2d", {"kernel_size": 2}, [3, 32, 32]),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, [8, 15, 15]),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "ceil_mode": True}, [8, 14, 14]),
    ("MaxPool2d", {"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True}, [3, 5, 5]),  # last window dropped
    ("MaxPool2d", {"kernel_size": 3, "padding": 2}, [3, 10, 10]),  # padding > kernel // 2
    ("MaxPool2d", {"kernel_size": 4, "padding": 2}, [3, 10, 10]),
    ("MaxPool2d", {"kernel_size": 3, "dilation": 2, "padding": 1}, [3, 10, 10]),
    ("MaxPool2d", {"kernel_size": 3, "dilation": 2, "padding": 2}, [3, 10, 10]),  # the kernel, not the dilated one
    ("MaxPool2d", {"kernel_size": 5}, [3, 4, 4]),  # output 0
    ("MaxPool2d", {"kernel_size": [2, 3], "stride": [1, 2]}, [3, 7, 9]),
    ("MaxPool2d", {"kernel_size": [3]}, [3, 10, 10]),  # one value for both axes
    ("MaxPool2d", {"kernel_size": [3, 3, 3]}, [3, 10, 10]),
    ("MaxPool2d", {"kernel_size": 2}, [10, 10]),  # read as unbatched [C=N, H, W]
    ("MaxPool2d", {"kernel_size": 2}, [10]),
    ("MaxPool2d", {"kernel_size": 2}, [2, 3, 10, 10]),
    ("MaxPool2d", {"kernel_size": 2, "return_indices": True}, [3, 8, 8]),
    ("MaxPool2d", {"kernel_size": 3, "stride": 1, "padding": 1}, [3, 1, 1]),
    ("MaxPool2d", {"kernel_size": 3, "stride": 3, "ceil_mode": True}, [3, 10, 10]),
    ("MaxPool2d", {"kernel_size": 3, "stride": [2, 2, 2]}, [3, 10, 10]),
    ("MaxPool1d", {"kernel_size": 3}, [4, 10]),
    ("MaxPool1d", {"kernel_size": 3}, [10]),
    ("MaxPool1d", {"kernel_size": 2, "stride": 3, "padding": 1, "ceil_mode": True}, [3, 6]),
    ("MaxPool1d", {"kernel_size": 5}, [3, 4]),
    ("MaxPool1d", {"kernel_size": 3, "padding": 2}, [3, 10]),
    ("MaxPool1d", {"kernel_size": 4, "dilation": 3, "padding": 2, "ceil_mode": True}, [2, 20]),
    ("MaxPool1d", {"kernel_size": [3, 3]}, [3, 10]),
    ("MaxPool1d", {"kernel_size": 3, "stride": [2]}, [3, 10]),
    ("MaxPool1d", {"kernel_size": 1, "stride": 2}, [3, 9]),
    ("MaxPool1d", {"kernel_size": 3, "dilation": 4}, [3, 8]),  # effective kernel 9 > 8
    ("MaxPool3d", {"kernel_size": 2}, [2, 4, 4, 4]),
    ("MaxPool3d", {"kernel_size": [1, 2, 2], "stride": [1, 2, 2]}, [2, 5, 8, 8]),
    ("MaxPool3d", {"kernel_size": 3, "padding": 1, "stride": 2, "ceil_mode": True}, [2, 5, 6, 7]),
    ("MaxPool3d", {"kernel_size": 2}, [4, 4, 4]),
    ("MaxPool3d", {"kernel_size": 3}, [2, 2, 8, 8]),
    ("MaxPool3d", {"kernel_size": 2, "dilation": [2]}, [1, 8, 8, 8]),
    ("MaxPool3d", {"kernel_size": 3, "dilation": [2, 2]}, [1, 8, 8, 8]),
    ("AvgPool1d", {"kernel_size": 3}, [4, 10]),
    ("AvgPool1d", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False},
     [4, 10]),
    ("AvgPool1d", {"kernel_size": 3, "padding": 2}, [4, 10]),
    ("AvgPool1d", {"kernel_size": 5}, [4, 4]),
    ("AvgPool1d", {"kernel_size": 3}, [10]),
    ("AvgPool1d", {"kernel_size": [3, 3]}, [4, 10]),
    ("AvgPool2d", {"kernel_size": 2}, [3, 8, 8]),
    ("AvgPool2d", {"kernel_size": 5, "padding": 1}, [3, 4, 4]),  # 2-d pools may start smaller than the kernel
    ("AvgPool2d", {"kernel_size": 3, "divisor_override": 2}, [3, 8, 8]),
    ("AvgPool2d", {"kernel_size": 3, "divisor_override": 0}, [3, 8, 8]),
    ("AvgPool2d", {"kernel_size": 3, "divisor_override": -1}, [3, 8, 8]),
    ("AvgPool2d", {"kernel_size": [3], "padding": [1]}, [3, 8, 8]),
    ("AvgPool2d", {"kernel_size": 2}, [8, 8]),
    ("AvgPool2d", {"kernel_size": 2, "padding": [1, 1, 1]}, [3, 8, 8]),
    ("AvgPool2d", {"kernel_size": 4, "stride": 3, "padding": 2, "ceil_mode": True}, [3, 10, 11]),
    ("AvgPool3d", {"kernel_size": 2}, [2, 4, 4, 4]),
    ("AvgPool3d", {"kernel_size": 5, "padding": 2}, [2, 4, 4, 4]),  # AvgPool3d: input smaller than the kernel
    ("AvgPool3d", {"kernel_size": [1, 3, 3], "padding": [0, 1, 1]}, [2, 1, 5, 5]),
    ("AvgPool3d", {"kernel_size": 3, "stride": 2, "ceil_mode": True, "divisor_override": 5}, [2, 5, 6, 7]),
    ("AvgPool3d", {"kernel_size": 2}, [4, 4, 4]),
    ("LPPool1d", {"norm_type": 2, "kernel_size": 3}, [4, 10]),
    ("LPPool1d", {"norm_type": 2, "kernel_size": [3]}, [4, 10]),  # LPPool1d multiplies by kernel_size
    ("LPPool1d", {"norm_type": 0, "kernel_size": 3}, [4, 10]),
    ("LPPool1d", {"norm_type": INF, "kernel_size": 3, "stride": 2, "ceil_mode": True}, [4, 10]),
    ("LPPool2d", {"norm_type": 3, "kernel_size": [3, 2], "stride": [1, 2]}, [3, 10, 10]),
    ("LPPool2d", {"norm_type": 2, "kernel_size": [3]}, [3, 10, 10]),
    ("LPPool2d", {"norm_type": 1.5, "kernel_size": 2, "stride": [1]}, [3, 7, 7]),
    ("LPPool2d", {"norm_type": 2, "kernel_size": 3}, [3, 10]),
    ("LPPool2d", {"norm_type": 2, "kernel_size": 3}, [10, 10]),
    ("LPPool3d", {"norm_type": 2, "kernel_size": 3}, [2, 2, 10, 10]),
    ("LPPool3d", {"norm_type": INF, "kernel_size": [2, 3, 3]}, [2, 2, 10, 10]),
    ("LPPool3d", {"norm_type": 2, "kernel_size": 2, "ceil_mode": True}, [2, 3, 5, 5]),
    ("AdaptiveAvgPool1d", {"output_size": 4}, [3, 10]),
    ("AdaptiveAvgPool1d", {"output_size": [4]}, [10]),
    ("AdaptiveAvgPool1d", {"output_size": [None]}, [3, 10]),
    ("AdaptiveAvgPool1d", {"output_size": [3, 4]}, [3, 10]),
    ("AdaptiveAvgPool2d", {"output_size": 1}, [512, 7, 7]),
    ("AdaptiveAvgPool2d", {"output_size": [None, 3]}, [3, 5, 10]),
    ("AdaptiveAvgPool2d", {"output_size": 30}, [3, 5, 10]),
    ("AdaptiveAvgPool2d", {"output_size": [3]}, [3, 5, 10]),
    ("AdaptiveAvgPool2d", {"output_size": 2}, [5, 10]),
    ("AdaptiveAvgPool2d", {"output_size": 2}, [10]),
    ("AdaptiveAvgPool3d", {"output_size": [None, 2, None]}, [2, 5, 6, 7]),
    ("AdaptiveAvgPool3d", {"output_size": 2}, [5, 6, 7]),
    ("AdaptiveAvgPool3d", {"output_size": [2, 2]}, [2, 5, 6, 7]),
    ("AdaptiveMaxPool1d", {"output_size": 5, "return_indices": True}, [3, 12]),
    ("AdaptiveMaxPool1d", {"output_size": [None]}, [3, 12]),
    ("AdaptiveMaxPool2d", {"output_size": [None, 2]}, [3, 5, 6]),
    ("AdaptiveMaxPool2d", {"output_size": 7}, [2, 3]),
    ("AdaptiveMaxPool3d", {"output_size": 1}, [2, 3, 4, 5]),
    ("AdaptiveMaxPool3d", {"output_size": [2, None, 1]}, [3, 4, 5]),
    ("AdaptiveMaxPool3d", {"output_size": 2}, [4, 5]),
]


@pytest.mark.parametrize("layer_type,args,shape", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_pool_matches_torch(layer_type, args, shape):
    ours = paramlint_outcome(layer_type, args, [shape])
    theirs = torch_outcome(layer_type, args, [shape])
    assert ours.same_as(theirs), (ours, theirs)


def test_case_table_covers_rejections():
    rejected = [c for c in CASES if not paramlint_outcome(c[0], c[1], [c[2]]).ok]
    assert len(CASES) >= 60 and len(rejected) >= 20




def test_error_codes():
    assert layer_error("MaxPool2d", {"kernel_size": 5}, [3, 4, 4]).code == "PL403"
    assert layer_error("AvgPool3d", {"kernel_size": 5, "padding": 2}, [2, 4, 4, 4]).code == "PL403"
    padding = layer_error("MaxPool2d", {"kernel_size": 3, "padding": 2}, [3, 10, 10])
    assert (padding.code, padding.arg) == ("PL402", "padding")
    assert layer_error("MaxPool2d", {"kernel_size": 2}, [10]).code == "PL401"
    assert layer_error("AdaptiveAvgPool2d", {"output_size": [3]}, [3, 5, 10]).arg == "output_size"


def test_empty_output_message_shows_the_formula():
    message = layer_error("MaxPool1d", {"kernel_size": 5}, [3, 4]).message
    assert "floor((4 + 2*0 - 1*(5-1) - 1) / 5) + 1 = 0" in message
    ceil = layer_error("MaxPool1d", {"kernel_size": 5, "stride": 2, "ceil_mode": True}, [3, 3]).message
    assert "ceil((3 + 2*0 - 1*(5-1) - 1) / 2) + 1 = 0" in ceil


def test_ceil_mode_drops_a_window_starting_in_the_padding():
    # (out-1)*stride >= size + padding: 3 windows, not 4
    assert pool_output_size(5, 2, 2, 1, 1, True) == 3
    assert pool_output_size(5, 2, 2, 1, 1, False) == 3
    assert pool_output_size(5, 2, 2, 0, 1, True) == 3
    assert pool_output_size(5, 2, 2, 0, 1, False) == 2


@pytest.mark.parametrize("layer_type,args,shape", [
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "return_indices": True}, [4, 9, 9]),
    ("MaxPool1d", {"kernel_size": 2, "return_indices": True, "ceil_mode": True}, [7]),
    ("MaxPool3d", {"kernel_size": 2, "return_indices": True}, [2, 4, 4, 4]),
    ("AdaptiveMaxPool2d", {"output_size": [None, 2], "return_indices": True}, [3, 5, 6]),
    ("AdaptiveMaxPool1d", {"output_size": 4, "return_indices": True}, [3, 9]),
])
def test_indices_are_a_second_int64_output(layer_type, args, shape):
    torch = pytest.importorskip("torch")
    result = infer_layer(layer_type, args, shape)
    out, indices = result.outputs
    module = getattr(torch.nn, layer_type)(**{k: tuple(v) if isinstance(v, list) else v for k, v in args.items()})
    theirs = module(torch.randn(BATCH, *shape))
    assert isinstance(theirs, tuple) and len(theirs) == 2
    assert indices.dtype == str(theirs[1].dtype).replace("torch.", "") == "int64"
    assert indices.shape == out.shape == tuple(theirs[1].shape[1:]) == tuple(theirs[0].shape[1:])
    without = infer_layer(layer_type, dict(args, return_indices=False), shape)
    assert len(without.outputs) == 1


@pytest.mark.parametrize("layer_type,args,shape", [
    ("MaxPool2d", {"kernel_size": 3, "stride": 2}, [5, 28, 28]),
    ("MaxPool1d", {"kernel_size": 3, "return_indices": True}, [4, 10]),
    ("MaxPool3d", {"kernel_size": 2}, [2, 4, 4, 4]),
    ("AvgPool2d", {"kernel_size": 2}, [3, 8, 8]),
    ("AvgPool1d", {"kernel_size": 3}, [10]),
    ("LPPool2d", {"norm_type": 2, "kernel_size": 2}, [3, 8, 8]),
    ("LPPool1d", {"norm_type": INF, "kernel_size": 2}, [3, 8]),
    ("AdaptiveAvgPool2d", {"output_size": 1}, [3, 8, 8]),
    ("AdaptiveAvgPool2d", {"output_size": [None, 1]}, [3, 1, 8]),  # null makes it 1x1 too
    ("AdaptiveAvgPool2d", {"output_size": [1, None]}, [3, 8, 8]),
    ("AdaptiveAvgPool1d", {"output_size": 2}, [3, 8]),
    ("AdaptiveMaxPool2d", {"output_size": 2, "return_indices": True}, [3, 8, 8]),
    ("AdaptiveMaxPool3d", {"output_size": 1}, [2, 4, 4, 4]),
])
@pytest.mark.parametrize("batch", [2, 3])
def test_saved_tensors_match_autograd(layer_type, args, shape, batch):
    torch = pytest.importorskip("torch")
    module = getattr(torch.nn, layer_type)(**{k: tuple(v) if isinstance(v, list) else v for k, v in args.items()})
    assert paramlint_saved(layer_type, args, shape, batch) == torch_saved(module, shape, batch)


@pytest.mark.parametrize("layer_type,args,shape", [
    ("MaxPool2d", {"kernel_size": 3, "stride": 2}, [5, 28, 28]),
    ("AvgPool2d", {"kernel_size": 2}, [3, 8, 8]),
    ("LPPool2d", {"norm_type": 2, "kernel_size": 2}, [3, 8, 8]),
    ("AdaptiveAvgPool2d", {"output_size": 2}, [3, 8, 8]),
    ("AdaptiveMaxPool1d", {"output_size": 2}, [3, 8]),
])
def test_pools_count_no_flops(layer_type, args, shape):
    torch = pytest.importorskip("torch")
    import meta_flops
    counted = meta_flops.forward_flops(lambda: getattr(torch.nn, layer_type)(**args), meta_flops.noise([shape], 1))
    assert counted == 0 == infer_layer(layer_type, args, shape).flops


@pytest.mark.parametrize("layer_type,args,shape", [
    ("MaxPool2d", {"kernel_size": 2}, [10, 10]),
    ("AvgPool1d", {"kernel_size": 3}, [10]),
    ("LPPool2d", {"norm_type": 2, "kernel_size": 2}, [6, 6]),
    ("AdaptiveMaxPool3d", {"output_size": 2}, [5, 6, 7]),
])
def test_unbatched_reading_does_not_depend_on_the_batch(layer_type, args, shape):
    torch = pytest.importorskip("torch")
    module = getattr(torch.nn, layer_type)(**args)
    shapes = {tuple(module(torch.randn(n, *shape)).shape[1:]) for n in (1, 2, 5)}
    assert shapes == {infer_layer(layer_type, args, shape).outputs[0].shape}


# ---------------------------------------------------------------------------
# PL451: input positions no window reads, checked against what torch reads.

def _torch_unread_max(size, kernel, stride, pad, dilation, ceil_mode):
    """One-hot inputs: position i is read iff some output sees its 1 (max pooling pads with -inf)."""
    torch = pytest.importorskip("torch")
    eye = torch.eye(size).unsqueeze(1)
    out = torch.nn.functional.max_pool1d(eye, kernel, stride, pad, dilation, ceil_mode)
    return int((out.amax(dim=(1, 2)) <= 0).sum())


def _torch_unread_avg(shape, kernel, stride, pad, ceil_mode):
    """The gradient of the summed output is zero exactly on the rows and columns no window reads."""
    torch = pytest.importorskip("torch")
    x = torch.randn(1, 1, *shape, requires_grad=True)
    torch.nn.functional.avg_pool2d(x, kernel, stride, pad, ceil_mode).sum().backward()
    touched = x.grad[0, 0] != 0
    return int((~touched.any(dim=1)).sum()), int((~touched.any(dim=0)).sum())


def _pl451(result):
    return [w for w in result.warnings if w.code == "PL451"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(size=st.integers(1, 40), kernel=st.integers(1, 6), stride=st.integers(1, 7), pad=st.integers(0, 3),
       dilation=st.integers(1, 4), ceil_mode=st.booleans())
def test_unread_count_matches_torch_max_pool(size, kernel, stride, pad, dilation, ceil_mode):
    args = {"kernel_size": kernel, "stride": stride, "padding": pad, "dilation": dilation, "ceil_mode": ceil_mode}
    ours = paramlint_outcome("MaxPool1d", args, [[1, size]])
    assume(ours.ok)
    lost = _torch_unread_max(size, kernel, stride, pad, dilation, ceil_mode)
    out = pool_output_size(size, kernel, stride, pad, dilation, ceil_mode)
    assert unread_positions(size, kernel, stride, pad, dilation, out) == lost
    warnings = _pl451(infer_layer("MaxPool1d", args, [1, size]))
    if skips_by_design(kernel, stride, dilation):  # windows shorter than the stride skip rows by design
        lost = 0
    assert len(warnings) == (1 if lost else 0)
    if lost:
        assert f"{lost} of {size} positions" in warnings[0].message


@pytest.mark.parametrize("shape,kernel,stride,pad,ceil_mode", [
    ([32, 32], 3, 2, 0, False),  # the PL451 example: the last row and column
    ([32, 31], 3, 2, 0, False),  # only the last row
    ([11, 11], 2, 2, 0, True),  # ceil mode reads the last row after all
    ([10, 10], 2, 3, 0, False),  # stride > kernel: gaps between windows, by design: no warning
    ([10, 10], 3, 3, 0, False),  # windows that touch and leave a tail: warned
    ([10, 12], [2, 3], [3, 3], [1, 0], False),
    ([13, 13], 4, 4, 2, True),
    ([8, 8], 2, 2, 0, False),  # everything read
])
def test_unread_rows_and_columns_match_avg_pool_gradient(shape, kernel, stride, pad, ceil_mode):
    args = {"kernel_size": kernel, "stride": stride, "padding": pad, "ceil_mode": ceil_mode}
    lost = _torch_unread_avg(shape, kernel, stride, pad, ceil_mode)
    kernels, strides = (k if isinstance(k, list) else [k] * 2 for k in (kernel, stride))
    lost = [0 if skips_by_design(k, s, 1) else n for n, k, s in zip(lost, kernels, strides)]
    warnings = _pl451(infer_layer("AvgPool2d", args, [1, *shape]))
    assert len(warnings) == (1 if any(lost) else 0)
    for n, size, word in zip(lost, shape, ("rows", "columns")):
        if n:
            assert f"{n} of {size} {word}" in warnings[0].message
        else:
            assert word not in warnings[0].message if warnings else True


# ---------------------------------------------------------------------------
# Property tests against torch

def _sizes(draw, n, lo, hi):
    values = [draw(st.integers(lo, hi)) for _ in range(n)]
    return values[0] if len(set(values)) == 1 and draw(st.booleans()) else values


def _per_sample(draw, n, hi):
    spatial = [draw(st.integers(1, hi)) for _ in range(n)]
    return ([draw(st.integers(1, 3))] if draw(st.booleans()) else []) + spatial


@st.composite
def max_pool_cases(draw):
    n = draw(st.integers(1, 3))
    args = {"kernel_size": _sizes(draw, n, 1, 5), "padding": _sizes(draw, n, 0, 2), "dilation": _sizes(draw, n, 1, 3),
            "ceil_mode": draw(st.booleans()), "return_indices": draw(st.booleans())}
    if draw(st.booleans()):
        args["stride"] = _sizes(draw, n, 1, 4)
    return f"MaxPool{n}d", args, _per_sample(draw, n, 12 if n < 3 else 7)


@st.composite
def avg_pool_cases(draw):
    n = draw(st.integers(1, 3))
    args = {"kernel_size": _sizes(draw, n, 1, 5), "padding": _sizes(draw, n, 0, 2), "ceil_mode": draw(st.booleans()),
            "count_include_pad": draw(st.booleans())}
    if draw(st.booleans()):
        args["stride"] = _sizes(draw, n, 1, 4)
    if n > 1 and draw(st.booleans()):
        args["divisor_override"] = draw(st.integers(-2, 4))
    return f"AvgPool{n}d", args, _per_sample(draw, n, 12 if n < 3 else 7)


@st.composite
def lp_pool_cases(draw):
    n = draw(st.integers(1, 3))
    args = {"norm_type": draw(st.sampled_from([1, 2, 3.5, INF, -INF])),
            "kernel_size": draw(st.integers(1, 5)) if n == 1 else _sizes(draw, n, 1, 5),
            "ceil_mode": draw(st.booleans())}
    if draw(st.booleans()):
        args["stride"] = _sizes(draw, n, 1, 4)
    return f"LPPool{n}d", args, _per_sample(draw, n, 12 if n < 3 else 7)


@st.composite
def adaptive_pool_cases(draw):
    n = draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["Avg", "Max"]))
    entries = [draw(st.integers(1, 14)) if n == 1 else draw(st.none() | st.integers(1, 14)) for _ in range(n)]
    args = {"output_size": entries[0] if entries[0] is not None and draw(st.booleans()) else entries}
    if kind == "Max":
        args["return_indices"] = draw(st.booleans())
    return f"Adaptive{kind}Pool{n}d", args, _per_sample(draw, n, 12 if n < 3 else 7)


def _check_against_torch(layer_type, args, shape):
    ours = paramlint_outcome(layer_type, args, [shape])
    theirs = torch_outcome(layer_type, args, [shape])
    assert ours.same_as(theirs), (layer_type, args, shape, ours, theirs)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(max_pool_cases())
def test_max_pool_property(case):
    _check_against_torch(*case)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(avg_pool_cases())
def test_avg_pool_property(case):
    _check_against_torch(*case)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lp_pool_cases())
def test_lp_pool_property(case):
    _check_against_torch(*case)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(adaptive_pool_cases())
def test_adaptive_pool_property(case):
    _check_against_torch(*case)


def test_output_size_formula_matches_torch_exhaustively():
    """Every small 1-d geometry: accept/reject and size, with and without grad (torch's two max_pool1d paths)."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for size in range(1, 8):
        for kernel in range(1, 5):
            for stride in range(1, 4):
                for pad in range(0, 3):
                    for dilation in (1, 2):
                        for ceil_mode in (False, True):
                            args = {"kernel_size": kernel, "stride": stride, "padding": pad, "dilation": dilation,
                                    "ceil_mode": ceil_mode}
                            ours = paramlint_outcome("MaxPool1d", args, [[1, size]])
                            for grad in (False, True):
                                x = torch.randn(1, 1, size, requires_grad=grad)
                                try:
                                    length = F.max_pool1d(x, kernel, stride, pad, dilation, ceil_mode).shape[-1]
                                except RuntimeError:
                                    length = None
                                assert (ours.output_shape[-1] if ours.ok else None) == length, (args, size, grad)
