"""Identity, Flatten, Unflatten and the dropouts against torch."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from family_checks import check_case, check_departure, ours

CASES = [
    # (type, args, input shape per sample)
    ("Identity", {}, [3, 4]),
    ("Identity", {}, []),
    ("Flatten", {}, [12, 4, 4]),
    ("Flatten", {}, [7]),
    ("Flatten", {"start_dim": 2}, [3, 4, 5]),
    ("Flatten", {"start_dim": 1, "end_dim": 2}, [3, 4, 5]),
    ("Flatten", {"start_dim": -2}, [3, 4, 5]),
    ("Flatten", {"start_dim": 2, "end_dim": 2}, [3, 4, 5]),
    ("Flatten", {"start_dim": -1}, [3]),
    ("Flatten", {"start_dim": 3, "end_dim": 2}, [3, 4, 5]),  # rejected: start after end
    ("Flatten", {"start_dim": 2, "end_dim": -3}, [3, 4, 5]),  # rejected: start after end
    ("Flatten", {}, []),  # rejected: dim 1 out of range for a 1-d tensor
    ("Flatten", {"start_dim": 2}, [3]),  # rejected: out of range
    ("Flatten", {"end_dim": 4}, [3, 4]),  # rejected: out of range
    ("Unflatten", {"dim": 1, "unflattened_size": [2, -1]}, [6]),
    ("Unflatten", {"dim": -1, "unflattened_size": [2, 3]}, [4, 6]),
    ("Unflatten", {"dim": 1, "unflattened_size": [12, 4, 4]}, [192]),
    ("Unflatten", {"dim": 1, "unflattened_size": [5]}, [5, 2]),
    ("Unflatten", {"dim": 1, "unflattened_size": [-1]}, [5, 2]),
    ("Unflatten", {"dim": 1, "unflattened_size": [-1, -1]}, [6]),  # rejected: two -1
    ("Unflatten", {"dim": 1, "unflattened_size": [4, -1]}, [6]),  # rejected: 6 % 4
    ("Unflatten", {"dim": 1, "unflattened_size": [4, 2]}, [6]),  # rejected: 8 != 6
    ("Unflatten", {"dim": 1, "unflattened_size": [-2, 3]}, [6]),  # rejected: kind
    ("Unflatten", {"dim": 1, "unflattened_size": []}, [6]),  # rejected: empty
    ("Unflatten", {"dim": 3, "unflattened_size": [2, 3]}, [6]),  # rejected: out of range
    ("Unflatten", {"dim": 1}, [6]),  # rejected: unflattened_size required
    ("Dropout", {}, [3, 4]),
    ("Dropout", {"p": 0.0}, [3, 4]),
    ("Dropout", {"p": 1.0}, [3, 4]),
    ("Dropout", {"p": 0.2, "inplace": True}, [3, 4]),
    ("Dropout", {"p": 1.5}, [3, 4]),  # rejected: p out of range
    ("Dropout", {"p": -0.1}, [3, 4]),  # rejected
    ("Dropout", {}, []),
    ("Dropout1d", {}, [3, 8]),
    ("Dropout1d", {"p": 0.1}, [8]),  # torch reads it as unbatched (warning)
    ("Dropout1d", {}, [3, 8, 8]),  # rejected: 4-d
    ("Dropout1d", {}, []),  # rejected: 1-d
    ("Dropout2d", {}, [3, 8, 8]),
    ("Dropout2d", {"inplace": True}, [3, 8, 8]),
    ("Dropout2d", {}, [3, 8]),  # torch warns: 1d behaviour
    ("Dropout2d", {}, [3]),  # torch warns: deprecated
    ("Dropout2d", {}, [3, 2, 2, 2]),  # torch warns: deprecated
    ("Dropout2d", {}, []),  # rejected: needs 2 dims
    ("Dropout3d", {}, [3, 2, 4, 4]),
    ("Dropout3d", {}, [3, 4, 4]),  # unbatched reading
    ("Dropout3d", {}, [3]),  # deprecated, unbatched reading
    ("Dropout3d", {}, []),
    ("AlphaDropout", {}, [5]),
    ("AlphaDropout", {"p": 0.0}, [5]),
    ("AlphaDropout", {}, []),
    ("FeatureAlphaDropout", {}, [4, 5, 5]),
    ("FeatureAlphaDropout", {}, [4]),
    ("FeatureAlphaDropout", {"p": 0.3}, [4, 2]),
    ("FeatureAlphaDropout", {}, []),  # rejected: needs 2 dims
]


@pytest.mark.parametrize("layer_type,args,shape", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_reshape_matches_torch(layer_type, args, shape):
    check_case(layer_type, args, [shape])


def test_flatten_seed():
    _, result, _ = ours("Flatten", {}, [[12, 4, 4]])
    assert result.outputs[0].shape == (192,)


def test_channel_dropout_warnings():
    for layer_type, shape in [("Dropout1d", [8]), ("Dropout2d", [3, 8]), ("Dropout2d", [3]), ("Dropout3d", [3, 4, 4])]:
        assert [w.code for w in ours(layer_type, {}, [shape])[1].warnings] == ["PL453"], (layer_type, shape)
    for layer_type, shape in [("Dropout1d", [3, 8]), ("Dropout2d", [3, 8, 8]), ("Dropout3d", [3, 2, 4, 4])]:
        assert ours(layer_type, {}, [shape])[1].warnings == ()


def test_dropout_mask_is_bool_unless_in_place():
    assert [s.dtype for s in ours("Dropout", {}, [[3, 4]])[1].saved] == ["bool"]
    assert [s.dtype for s in ours("Dropout", {"inplace": True}, [[3, 4]])[1].saved] == ["float32"]


DEPARTURES = [
    ("Flatten", {"start_dim": 0}, [12, 4, 4]),  # would merge the batch
    ("Flatten", {"start_dim": -4}, [12, 4, 4]),
    ("Flatten", {"start_dim": 0, "end_dim": 0}, [12]),
    ("Unflatten", {"dim": 0, "unflattened_size": [1, -1]}, [3]),
]


@pytest.mark.parametrize("layer_type,args,shape", DEPARTURES, ids=[f"{c[0]}-{i}" for i, c in enumerate(DEPARTURES)])
def test_reshape_departures(layer_type, args, shape):
    check_departure(layer_type, args, [shape])


def test_identity_and_flatten_accept_integer_ids():
    check_case("Identity", {}, [[4]], "int64")
    check_case("Flatten", {}, [[4, 2]], "int64")
    check_case("Unflatten", {"dim": 1, "unflattened_size": [2, 2]}, [[4]], "int64")


DROPOUTS = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"]


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_reshape_property(data):
    layer_type = data.draw(st.sampled_from(["Identity", "Flatten", "Unflatten"] + DROPOUTS))
    shape = data.draw(st.lists(st.integers(1, 4), min_size=0, max_size=4))
    rank = len(shape) + 1
    not_batch = st.integers(-rank - 1, rank).filter(lambda d: d not in (0, -rank))
    args = {}
    if layer_type == "Flatten":
        if data.draw(st.booleans()):
            args["start_dim"] = data.draw(not_batch)
        if data.draw(st.booleans()):
            args["end_dim"] = data.draw(not_batch)
    elif layer_type == "Unflatten":
        args["dim"] = data.draw(not_batch)
        args["unflattened_size"] = data.draw(st.lists(st.sampled_from([-1, 1, 2, 3, 4, 6]), min_size=1, max_size=3))
    elif layer_type != "Identity":
        args = {"p": data.draw(st.sampled_from([0.0, 0.25, 0.5, 1.0])), "inplace": data.draw(st.booleans())}
    check_case(layer_type, args, [shape])
