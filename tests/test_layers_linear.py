"""Linear, Bilinear, Embedding and EmbeddingBag against torch."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from family_checks import check_case, check_departure, ours


def _bilinear_inferable(args, shapes):
    """Bilinear's two inferable sizes, from the two inputs (as a user would write them)."""
    filled = dict(args)
    filled.setdefault("in1_features", shapes[0][-1] if shapes[0] else 1)
    filled.setdefault("in2_features", shapes[1][-1] if shapes[1] else 1)
    return filled


LINEAR = [
    # (args, input shape per sample)
    ({"in_features": 192, "out_features": 128}, [192]),
    ({"out_features": 10}, [128]),
    ({"out_features": 10, "bias": False}, [128]),
    ({"out_features": 7}, [5, 3]),
    ({"out_features": 7}, [4, 5, 3]),
    ({"out_features": 7, "bias": False}, [2, 4, 5, 3]),
    ({"in_features": 200, "out_features": 10}, [192]),  # rejected: 192 features
    ({"in_features": 192, "out_features": 10}, [12, 4, 4]),  # rejected: not flattened
    ({"in_features": 4, "out_features": 10}, [12, 4, 4]),
    ({"out_features": 0}, [3]),  # rejected here (kind): torch's output would be empty
]


@pytest.mark.parametrize("args,shape", LINEAR, ids=[f"Linear-{i}" for i in range(len(LINEAR))])
def test_linear_matches_torch(args, shape):
    check_case("Linear", args, [shape], inferable=["in_features"])


def test_linear_seed_counts_and_flops():
    _, result, _ = ours("Linear", {"in_features": 192, "out_features": 128}, [[192]])
    assert sum(a * b for a, b in [result.params["weight"]]) + result.params["bias"][0] == 24_704
    _, result, _ = ours("Linear", {"out_features": 10}, [[128]])
    assert result.flops == 2 * 128 * 10


def test_unflattened_input_gets_a_hint():
    mine, _, code = ours("Linear", {"in_features": 192, "out_features": 10}, [[12, 4, 4]])
    assert code == "PL401" and "192 = 12 x 4 x 4" in mine.error


BILINEAR = [
    ({"out_features": 5}, [3], [4]),
    ({"out_features": 5, "bias": False}, [6, 3], [6, 4]),
    ({"in1_features": 3, "in2_features": 4, "out_features": 5}, [2, 6, 3], [2, 6, 4]),
    ({"in1_features": 2, "out_features": 5}, [3], [4]),  # rejected: in1_features
    ({"in2_features": 5, "out_features": 5}, [3], [4]),  # rejected: in2_features
    ({"out_features": 5}, [7, 3], [6, 4]),  # rejected: leading dims differ
    ({"out_features": 5}, [7, 3], [4]),  # rejected: ranks differ
    ({"out_features": 5}, [1, 3], [7, 4]),  # rejected: no broadcasting
]


@pytest.mark.parametrize("args,shape1,shape2", BILINEAR, ids=[f"Bilinear-{i}" for i in range(len(BILINEAR))])
def test_bilinear_matches_torch(args, shape1, shape2):
    shapes = [shape1, shape2]
    mine, _, _ = ours("Bilinear", args, shapes)
    from oracle import torch_outcome
    theirs = torch_outcome("Bilinear", _bilinear_inferable(args, shapes), shapes)
    assert mine.same_as(theirs), (mine, theirs)
    if theirs.ok:
        check_case("Bilinear", _bilinear_inferable(args, shapes), shapes)  # FLOPs, saved tensors, args


EMBEDDING = [
    ({"num_embeddings": 1000, "embedding_dim": 64}, [128], "int64"),
    ({"num_embeddings": 10, "embedding_dim": 3}, [], "int64"),
    ({"num_embeddings": 10, "embedding_dim": 3}, [4, 5], "int64"),
    ({"num_embeddings": 10, "embedding_dim": 3}, [4], "int32"),
    ({"num_embeddings": 10, "embedding_dim": 3}, [4], "float32"),  # rejected: PL404
    ({"num_embeddings": 10, "embedding_dim": 3, "padding_idx": 9}, [4], "int64"),
    ({"num_embeddings": 10, "embedding_dim": 3, "padding_idx": -10}, [4], "int64"),
    ({"num_embeddings": 10, "embedding_dim": 3, "padding_idx": 10}, [4], "int64"),  # rejected
    ({"num_embeddings": 10, "embedding_dim": 3, "padding_idx": -11}, [4], "int64"),  # rejected
    ({"num_embeddings": 10, "embedding_dim": 3, "max_norm": 1.0, "norm_type": 1.0}, [4], "int64"),
    ({"num_embeddings": 10, "embedding_dim": 3, "scale_grad_by_freq": True, "sparse": True}, [4], "int64"),
    ({"num_embeddings": 10}, [4], "int64"),  # rejected: embedding_dim required
]


@pytest.mark.parametrize("args,shape,dtype", EMBEDDING, ids=[f"Embedding-{i}" for i in range(len(EMBEDDING))])
def test_embedding_matches_torch(args, shape, dtype):
    check_case("Embedding", args, [shape], dtype)


def test_float_ids_are_pl404():
    assert ours("Embedding", {"num_embeddings": 10, "embedding_dim": 3}, [[4]], "float32")[2] == "PL404"
    assert ours("Linear", {"out_features": 3}, [[4]], "int64")[2] == "PL404"


EMBEDDING_BAG = [
    ({"num_embeddings": 10, "embedding_dim": 3}, [4], "int64"),
    ({"num_embeddings": 10, "embedding_dim": 3, "mode": "sum"}, [4], "int64"),
    ({"num_embeddings": 10, "embedding_dim": 3, "mode": "max"}, [4], "int64"),
    ({"num_embeddings": 10, "embedding_dim": 3, "mode": "max", "sparse": True}, [4], "int64"),  # rejected
    ({"num_embeddings": 10, "embedding_dim": 3, "sparse": True}, [4], "int64"),
    ({"num_embeddings": 10, "embedding_dim": 3, "mode": "min"}, [4], "int64"),  # rejected: mode
    ({"num_embeddings": 10, "embedding_dim": 3, "include_last_offset": True}, [4], "int64"),
    ({"num_embeddings": 10, "embedding_dim": 3, "padding_idx": -3, "max_norm": 2.0}, [4], "int64"),
    ({"num_embeddings": 10, "embedding_dim": 3, "padding_idx": 10}, [4], "int64"),  # rejected
    ({"num_embeddings": 10, "embedding_dim": 3}, [], "int64"),  # rejected: needs offsets
    ({"num_embeddings": 10, "embedding_dim": 3}, [4, 5], "int64"),  # rejected: 3-d
    ({"num_embeddings": 10, "embedding_dim": 3}, [4], "float32"),  # rejected: PL404
]


@pytest.mark.parametrize("args,shape,dtype", EMBEDDING_BAG,
                         ids=[f"EmbeddingBag-{i}" for i in range(len(EMBEDDING_BAG))])
def test_embedding_bag_matches_torch(args, shape, dtype):
    check_case("EmbeddingBag", args, [shape], dtype)


def test_linear_departures():
    # torch would read the batch as the features (and accept it when they agree).
    check_departure("Linear", {"in_features": 2, "out_features": 3}, [[]])
    # torch takes any truthy value; paramlint's kinds are strict.
    check_departure("Linear", {"out_features": 3, "bias": "yes"}, [[3]], inferable=["in_features"])


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_linear_family_property(data):
    layer_type = data.draw(st.sampled_from(["Linear", "Bilinear", "Embedding", "EmbeddingBag"]))
    shape = data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    if layer_type == "Linear":
        args = {"out_features": data.draw(st.integers(1, 6)), "bias": data.draw(st.booleans())}
        if data.draw(st.booleans()):
            args["in_features"] = data.draw(st.integers(1, 6))
        check_case("Linear", args, [shape], inferable=["in_features"])
    elif layer_type == "Bilinear":
        other = shape[:-1] + [data.draw(st.integers(1, 5))]
        if data.draw(st.integers(0, 4)) == 0:
            other = data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
        args = {"out_features": data.draw(st.integers(1, 4)), "bias": data.draw(st.booleans())}
        for name in ("in1_features", "in2_features"):
            if data.draw(st.booleans()):
                args[name] = data.draw(st.integers(1, 5))
        shapes = [shape, other]
        mine, _, _ = ours("Bilinear", args, shapes)
        from oracle import torch_outcome
        assert mine.same_as(torch_outcome("Bilinear", _bilinear_inferable(args, shapes), shapes))
    else:
        num = data.draw(st.integers(1, 20))
        args = {"num_embeddings": num, "embedding_dim": data.draw(st.integers(1, 6))}
        if data.draw(st.booleans()):
            args["padding_idx"] = data.draw(st.integers(-num - 2, num + 1))
        if layer_type == "EmbeddingBag":
            args["mode"] = data.draw(st.sampled_from(["sum", "mean", "max"]))
            args["sparse"] = data.draw(st.booleans())
            shape = shape[:data.draw(st.integers(0, 2))]
        else:
            shape = shape[:data.draw(st.integers(0, 3))]
        check_case(layer_type, args, [shape], data.draw(st.sampled_from(["int64", "int32", "float32"])))
