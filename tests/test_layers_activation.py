"""Activations against torch: shapes, PReLU's parameters, rejections, saved tensors."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from family_checks import check_case, check_departure, ours

POINTWISE = ["ReLU", "ReLU6", "LeakyReLU", "RReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Hardswish",
             "Hardsigmoid", "Hardtanh", "Sigmoid", "LogSigmoid", "Tanh", "Softplus", "Softsign", "Tanhshrink",
             "Hardshrink", "Softshrink"]
INPLACE = ["ReLU", "ReLU6", "LeakyReLU", "RReLU", "ELU", "SELU", "CELU", "SiLU", "Mish", "Hardswish", "Hardsigmoid",
           "Hardtanh"]

CASES = [(t, {}, [4, 5]) for t in POINTWISE] + [(t, {"inplace": True}, [3, 2, 2]) for t in INPLACE] + [
    # (type, args, input shape per sample)
    ("ReLU", {}, []),
    ("GELU", {"approximate": "tanh"}, [7]),
    ("LeakyReLU", {"negative_slope": 0.2}, [3, 8, 8]),
    ("ELU", {"alpha": -1.0}, [6]),
    ("CELU", {"alpha": 0.0}, [6]),  # rejected: divides by alpha
    ("CELU", {"alpha": 2.0}, [6]),
    ("Hardtanh", {"min_val": -2.0, "max_val": 2.0}, [6]),
    ("Hardtanh", {"min_val": 1.0, "max_val": 1.0}, [6]),  # rejected: max_val must exceed min_val
    ("Hardtanh", {"min_val": 2.0, "max_val": 1.0}, [6]),  # rejected
    ("RReLU", {"lower": 0.5, "upper": 0.1}, [6]),  # rejected: lower > upper
    ("Softshrink", {"lambd": -1.0}, [6]),  # rejected: negative lambd
    ("Softshrink", {"lambd": 0.0}, [6]),
    ("Hardshrink", {"lambd": -1.0}, [6]),  # torch accepts it
    ("Softplus", {"beta": 2.0, "threshold": 5.0}, [6]),
    ("Threshold", {"threshold": 0.1, "value": 20.0}, [3, 4]),
    ("Threshold", {"threshold": 0.1, "value": 20.0, "inplace": True}, [3, 4]),
    ("Threshold", {"threshold": 0.1}, [3, 4]),  # rejected: value is required
    ("GELU", {"approximate": "fast"}, [3]),  # rejected: unknown choice
    ("PReLU", {}, [3, 8, 8]),
    ("PReLU", {"num_parameters": 3}, [3, 8, 8]),
    ("PReLU", {"num_parameters": 4, "init": 0.1}, [4]),
    ("PReLU", {"num_parameters": 4}, [3, 8, 8]),  # rejected: 3 channels
    ("PReLU", {"num_parameters": 2}, []),  # rejected: a 1-d tensor has 1 channel
    ("PReLU", {"num_parameters": 1}, []),
    ("PReLU", {"num_parameters": 0}, [3]),  # rejected here (kind); torch fails at forward
    ("Softmax", {"dim": 1}, [10]),
    ("Softmax", {"dim": -1}, [4, 10]),
    ("Softmax", {"dim": 2}, [4, 10]),
    ("Softmax", {"dim": 3}, [4, 10]),  # rejected: out of range
    ("Softmax", {"dim": -4}, [4, 10]),  # rejected: out of range
    ("Softmax", {}, [10]),  # implicit dim 1 (warning)
    ("Softmax", {}, [3, 4, 4]),  # implicit dim 1, the channels
    ("LogSoftmax", {"dim": -1}, [7, 3]),
    ("LogSoftmax", {}, [4, 2, 2, 2]),
    ("Softmin", {"dim": 1}, [5]),
    ("Softmax2d", {}, [3, 4, 5]),
    ("Softmax2d", {}, [3]),  # rejected: 2-d
    ("Softmax2d", {}, [2, 3, 4, 5]),  # rejected: 5-d
    ("GLU", {}, [8]),
    ("GLU", {"dim": 1}, [6, 5]),
    ("GLU", {"dim": -2}, [6, 5]),
    ("GLU", {}, [7]),  # rejected: odd
    ("GLU", {"dim": 3}, [6, 5]),  # rejected: out of range
    ("ReLU", {}, [3]),
]


@pytest.mark.parametrize("layer_type,args,shape", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_activation_matches_torch(layer_type, args, shape):
    check_case(layer_type, args, [shape])


# paramlint rejects these although torch runs them: each would act across the
# samples of a batch (or takes integer input into an activation).
DEPARTURES = [
    ("Softmax", {"dim": 0}, [10], "float32"),
    ("Softmax", {}, [], "float32"),  # implicit dim 0 for a 1-d tensor
    ("Softmax", {}, [4, 10], "float32"),  # implicit dim 0 for a 3-d tensor
    ("LogSoftmax", {"dim": -3}, [4, 10], "float32"),
    ("Softmax2d", {}, [4, 5], "float32"),  # a 3-d tensor: dim -3 is the batch
    ("GLU", {"dim": 0}, [5], "float32"),
    ("GLU", {}, [], "float32"),  # the last dim of a 1-d tensor is the batch
    ("ReLU", {}, [3], "int64"),
    ("Hardtanh", {}, [3], "int64"),
]


@pytest.mark.parametrize("layer_type,args,shape,dtype", DEPARTURES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(DEPARTURES)])
def test_activation_departures(layer_type, args, shape, dtype):
    check_departure(layer_type, args, [shape], dtype)


def test_implicit_softmax_dim_is_written_and_warned():
    _, result, _ = ours("Softmax", {}, [[3, 4, 4]])
    assert result.args["dim"] == 1
    assert [w.code for w in result.warnings] == ["PL453"]
    _, result, _ = ours("Softmax", {"dim": 1}, [[3, 4, 4]])
    assert result.warnings == ()


def test_prelu_counts_its_weight():
    _, result, _ = ours("PReLU", {"num_parameters": 64}, [[64, 8, 8]])
    assert result.params == {"weight": (64,)}


NUMBER = st.floats(-3, 3, allow_nan=False).map(lambda v: round(v, 2))
ARG_STRATEGIES = {
    "negative_slope": NUMBER, "alpha": NUMBER, "beta": NUMBER, "threshold": NUMBER, "value": NUMBER,
    "lambd": NUMBER, "min_val": NUMBER, "max_val": NUMBER, "lower": NUMBER, "upper": NUMBER, "init": NUMBER,
    "inplace": st.booleans(), "approximate": st.sampled_from(["none", "tanh"]),
}
TYPES = POINTWISE + ["Threshold", "PReLU", "Softmax", "LogSoftmax", "Softmin", "Softmax2d", "GLU"]


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_activation_property(data):
    from paramlint.model.layers import REGISTRY
    layer_type = data.draw(st.sampled_from(TYPES))
    shape = data.draw(st.lists(st.integers(1, 4), min_size=0, max_size=4))
    rank = len(shape) + 1
    args = {}
    for name in REGISTRY[layer_type].args:
        if name in ARG_STRATEGIES and data.draw(st.booleans()):
            args[name] = data.draw(ARG_STRATEGIES[name])
    if layer_type == "Threshold":
        args.update(threshold=data.draw(NUMBER), value=data.draw(NUMBER))
    if layer_type == "PReLU":
        args["num_parameters"] = data.draw(st.sampled_from([1, 2, 3, 4]))
    departure = False
    if layer_type in ("Softmax", "LogSoftmax", "Softmin", "GLU"):
        if layer_type != "GLU" and data.draw(st.booleans()):
            departure = rank in (1, 3)  # torch's implicit dim would be the batch
        else:
            dim = data.draw(st.integers(-rank - 1, rank))
            args["dim"] = dim
            departure = dim in (0, -rank) or (layer_type == "GLU" and "dim" not in args and rank == 1)
        if layer_type == "GLU" and "dim" not in args:
            departure = rank == 1
    if layer_type == "Softmax2d":
        departure = rank == 3
    if departure:
        check_departure(layer_type, args, [shape])
    else:
        check_case(layer_type, args, [shape])
