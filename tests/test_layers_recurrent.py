"""Recurrent layers against torch: shapes, parameters, extra outputs, FLOPs,
rejections and the ineffective-dropout warning."""
from __future__ import annotations

import warnings
from typing import Any, Dict, List, Sequence

import pytest
from hypothesis import given, settings, strategies as st

import meta_flops
from oracle import BATCH, paramlint_outcome, torch_outcome
from paramlint.model.layers import REGISTRY
from paramlint.model.layers.base import LayerError, TensorSpec, resolve_args

torch = pytest.importorskip("torch")

SEQUENCE_TYPES = ("RNN", "LSTM", "GRU")

CASES = [
    # (type, args, per-sample input shape)
    ("RNN", {"hidden_size": 5}, [7, 4]),
    ("RNN", {"hidden_size": 5, "nonlinearity": "relu"}, [7, 4]),
    ("RNN", {"hidden_size": 5, "num_layers": 3}, [7, 4]),
    ("RNN", {"hidden_size": 5, "num_layers": 2, "bidirectional": True}, [7, 4]),
    ("RNN", {"hidden_size": 5, "bias": False}, [1, 4]),
    ("RNN", {"hidden_size": 5, "num_layers": 2, "dropout": 0.3}, [3, 4]),
    ("RNN", {"hidden_size": 5, "dropout": 0.3}, [3, 4]),  # torch warns only
    ("RNN", {"input_size": 4, "hidden_size": 5}, [7, 4]),
    ("RNN", {"input_size": 6, "hidden_size": 5}, [7, 4]),  # rejected: input_size
    ("RNN", {"hidden_size": 5}, [7, 4, 2]),  # rejected: rank
    ("RNN", {"hidden_size": 1}, [2, 1]),
    ("LSTM", {"hidden_size": 5}, [7, 4]),
    ("LSTM", {"hidden_size": 8, "num_layers": 2}, [6, 3]),
    ("LSTM", {"hidden_size": 8, "bidirectional": True}, [6, 3]),
    ("LSTM", {"hidden_size": 8, "num_layers": 3, "bidirectional": True, "bias": False}, [6, 3]),
    ("LSTM", {"hidden_size": 8, "proj_size": 3}, [6, 3]),
    ("LSTM", {"hidden_size": 8, "proj_size": 3, "num_layers": 2, "bidirectional": True}, [6, 3]),
    ("LSTM", {"hidden_size": 8, "proj_size": 7, "num_layers": 2, "bias": False}, [2, 9]),
    ("LSTM", {"hidden_size": 8, "proj_size": 8}, [6, 3]),  # rejected: proj_size >= hidden_size
    ("LSTM", {"hidden_size": 8, "proj_size": 9}, [6, 3]),  # rejected
    ("LSTM", {"hidden_size": 8, "num_layers": 2, "dropout": 0.5}, [6, 3]),
    ("LSTM", {"hidden_size": 8, "dropout": 0.5}, [6, 3]),  # torch warns only
    ("LSTM", {"input_size": 2, "hidden_size": 8}, [6, 3]),  # rejected
    ("LSTM", {"hidden_size": 8}, [6, 3, 1]),  # rejected: rank
    ("LSTM", {"hidden_size": 2}, [1, 1]),
    ("LSTM", {"hidden_size": 16, "num_layers": 4}, [5, 10]),
    ("GRU", {"hidden_size": 5}, [7, 4]),
    ("GRU", {"hidden_size": 5, "num_layers": 2, "bidirectional": True}, [7, 4]),
    ("GRU", {"hidden_size": 5, "num_layers": 2, "bidirectional": True, "bias": False}, [7, 4]),
    ("GRU", {"hidden_size": 12, "num_layers": 3}, [2, 6]),
    ("GRU", {"hidden_size": 12, "num_layers": 3, "dropout": 1.0}, [2, 6]),
    ("GRU", {"hidden_size": 3, "bidirectional": True}, [11, 1]),
    ("GRU", {"input_size": 5, "hidden_size": 5}, [7, 4]),  # rejected
    ("GRU", {"hidden_size": 5}, [2, 7, 4]),  # rejected: rank
    ("RNNCell", {"hidden_size": 5}, [4]),
    ("RNNCell", {"hidden_size": 5, "nonlinearity": "relu"}, [4]),
    ("RNNCell", {"hidden_size": 5, "bias": False}, [4]),
    ("RNNCell", {"input_size": 3, "hidden_size": 5}, [4]),  # rejected
    ("RNNCell", {"hidden_size": 5}, [3, 4]),  # rejected: rank
    ("LSTMCell", {"hidden_size": 5}, [4]),
    ("LSTMCell", {"hidden_size": 7, "bias": False}, [2]),
    ("LSTMCell", {"hidden_size": 5}, [3, 4]),  # rejected: rank
    ("LSTMCell", {"input_size": 9, "hidden_size": 5}, [4]),  # rejected
    ("GRUCell", {"hidden_size": 5}, [4]),
    ("GRUCell", {"hidden_size": 1, "bias": False}, [1]),
    ("GRUCell", {"hidden_size": 5}, [1, 1, 4]),  # rejected: rank
    ("GRUCell", {"input_size": 5, "hidden_size": 5}, [4]),  # rejected
    ("LSTM", {"hidden_size": 4, "proj_size": 0, "bidirectional": True}, [3, 2]),
    ("LSTM", {"hidden_size": 1, "num_layers": 2}, [2, 2]),
    ("LSTM", {"input_size": 3, "hidden_size": 4, "proj_size": 2, "num_layers": 2}, [5, 3]),
    ("RNN", {"hidden_size": 3, "num_layers": 2, "nonlinearity": "relu", "bidirectional": True, "bias": False},
     [4, 2]),
    ("GRU", {"hidden_size": 4}, [1, 1]),
    ("RNNCell", {"hidden_size": 3, "nonlinearity": "relu", "bias": False}, [2]),
    ("LSTMCell", {"hidden_size": 3}, [1]),
]

# Accepted by torch but rejected by paramlint, with the code paramlint gives.
REJECTED_HERE = [
    ("RNN", {"hidden_size": 5, "batch_first": False}, [7, 4], "PL402"),
    ("LSTM", {"hidden_size": 5, "batch_first": False}, [7, 4], "PL402"),
    ("GRU", {"hidden_size": 5, "batch_first": False}, [7, 4], "PL402"),
    # torch reads [N, F] as one unbatched sequence of length N: batch dependent.
    ("RNN", {"hidden_size": 5}, [4], "PL401"),
    ("LSTM", {"hidden_size": 5}, [4], "PL401"),
    ("GRU", {"hidden_size": 5}, [4], "PL401"),
    ("LSTMCell", {"hidden_size": 5}, [], "PL401"),
    ("GRUCell", {"hidden_size": 5}, [], "PL401"),
]


def torch_args(layer_type: str, args: Dict[str, Any]) -> Dict[str, Any]:
    """The constructor arguments a user writing the torch model would pass."""
    if layer_type in SEQUENCE_TYPES:
        return {"batch_first": True, **args}
    return dict(args)


def infer(layer_type: str, args: Dict[str, Any], shape: Sequence[int], dtype: str = "float32"):
    layer = REGISTRY[layer_type]
    return layer.infer(resolve_args(layer, args), [TensorSpec(tuple(shape), dtype)])


def build(layer_type: str, args: Dict[str, Any], shape: Sequence[int]):
    kwargs = torch_args(layer_type, args)
    kwargs.setdefault("input_size", shape[-1])
    return getattr(torch.nn, layer_type)(**kwargs)


def torch_outputs(module, layer_type: str, x) -> List[Any]:
    """torch's outputs as paramlint flattens them, h_n/c_n per sample first."""
    out = module(x)
    if layer_type in SEQUENCE_TYPES:
        output, state = out
        states = state if isinstance(state, tuple) else (state,)
        return [output] + [s.transpose(0, 1) for s in states]
    return list(out) if isinstance(out, tuple) else [out]


def torch_flops(layer_type: str, args: Dict[str, Any], shape: Sequence[int], batch: int, dtype=None,
                device: str = meta_flops.META) -> int:
    """FlopCounterMode's count for the layer on a batch, on ``meta`` (paramlint's convention)."""
    dtype = dtype or torch.float32
    return meta_flops.forward_flops(lambda: build(layer_type, args, shape).to(dtype),
                                    meta_flops.noise([shape], batch, dtype), device)


def _torch_accepts(layer_type: str, args: Dict[str, Any], shape: Sequence[int]) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch_outcome(layer_type, torch_args(layer_type, args), [shape], inferable=["input_size"]).ok


ACCEPTED = [c for c in CASES if _torch_accepts(*c)]


def test_case_table_has_both_outcomes():
    assert len(CASES) + len(REJECTED_HERE) >= 50
    assert 0 < len(ACCEPTED) < len(CASES)


@pytest.mark.parametrize("layer_type,args,shape", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_recurrent_matches_torch(layer_type, args, shape):
    ours = paramlint_outcome(layer_type, args, [shape])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch_outcome(layer_type, torch_args(layer_type, args), [shape], inferable=["input_size"])
    assert ours.same_as(theirs), (ours, theirs)


@pytest.mark.parametrize("layer_type,args,shape,code", REJECTED_HERE,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(REJECTED_HERE)])
def test_rejected_by_paramlint(layer_type, args, shape, code):
    with pytest.raises(LayerError) as caught:
        infer(layer_type, args, shape)
    assert caught.value.code == code
    if code == "PL402":
        assert caught.value.arg == "batch_first" and "batch_first" in caught.value.message


@pytest.mark.parametrize("layer_type,args,shape", ACCEPTED, ids=[f"{c[0]}-{i}" for i, c in enumerate(ACCEPTED)])
def test_names_outputs_args_and_flops(layer_type, args, shape):
    result = infer(layer_type, args, shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = build(layer_type, args, shape)
    assert result.params == {n: tuple(p.shape) for n, p in module.named_parameters()}
    assert list(result.params) == [n for n, _ in module.named_parameters()]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outs = torch_outputs(module, layer_type, torch.randn(BATCH, *shape))
    assert [o.shape for o in result.outputs] == [tuple(t.shape[1:]) for t in outs]
    # The bridge rebuilds the same module from args alone.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rebuilt = getattr(torch.nn, layer_type)(**result.args)
    assert {n: tuple(p.shape) for n, p in rebuilt.named_parameters()} == result.params
    if layer_type in SEQUENCE_TYPES:
        assert rebuilt.batch_first is True
    one = torch_flops(layer_type, args, shape, 1)
    assert result.flops == one
    assert torch_flops(layer_type, args, shape, 3) == 3 * one


@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16"])
@pytest.mark.parametrize("layer_type,args,shape", [
    ("LSTM", {"hidden_size": 6, "num_layers": 2, "bidirectional": True}, [5, 3]),
    ("LSTM", {"hidden_size": 6, "proj_size": 2}, [5, 3]),
    ("GRU", {"hidden_size": 6}, [5, 3]),
    ("LSTMCell", {"hidden_size": 6}, [3]),
])
def test_flops_by_dtype(layer_type, args, shape, dtype):
    """On ``meta`` every dtype runs the per-step matrix products."""
    result = infer(layer_type, args, shape, dtype)
    assert result.flops == torch_flops(layer_type, args, shape, 1, getattr(torch, dtype))


def test_cpu_fused_lstm_counts_zero_where_meta_counts_the_steps():
    """Why the convention is ``meta``: the CPU's fused oneDNN LSTM kernel has
    no FLOP formula, so FlopCounterMode on the CPU sees none of its work."""
    args, shape = {"hidden_size": 32}, [10, 16]
    result = infer("LSTM", args, shape)
    assert result.flops == 10 * 2 * 4 * 32 * (16 + 32) == torch_flops("LSTM", args, shape, 1)
    assert torch_flops("LSTM", args, shape, 2, device=meta_flops.CPU) == 0


@pytest.mark.parametrize("layer_type,args,shape", [c for c in ACCEPTED if c[0] in SEQUENCE_TYPES])
def test_dropout_warning_matches_torch(layer_type, args, shape):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build(layer_type, args, shape)
    torch_warns = any("dropout" in str(w.message) for w in caught)
    codes = [w.code for w in infer(layer_type, args, shape).warnings]
    assert codes == (["PL452"] if torch_warns else [])


def test_h_n_is_documented_per_sample():
    """h_n per sample is torch's h_n[:, i, :]: [D*num_layers, H_out]."""
    result = infer("LSTM", {"hidden_size": 8, "proj_size": 3, "num_layers": 2, "bidirectional": True}, [6, 5])
    assert [o.shape for o in result.outputs] == [(6, 6), (4, 3), (4, 8)]
    assert "transpose(0, 1)" in REGISTRY["LSTM"].doc


def test_non_float_input_is_rejected():
    for layer_type, shape in (("GRU", [4, 3]), ("GRUCell", [3])):
        with pytest.raises(LayerError) as caught:
            infer(layer_type, {"hidden_size": 4}, shape, "int64")
        assert caught.value.code == "PL404"
        assert not torch_outcome(layer_type, torch_args(layer_type, {"hidden_size": 4}), [shape], "int64",
                                 inferable=["input_size"]).ok


_sizes = st.integers(1, 6)


@st.composite
def recurrent_configs(draw):
    layer_type = draw(st.sampled_from(SEQUENCE_TYPES + ("RNNCell", "LSTMCell", "GRUCell")))
    args: Dict[str, Any] = {"hidden_size": draw(_sizes)}
    if draw(st.booleans()):
        args["bias"] = draw(st.booleans())
    if layer_type in ("RNN", "RNNCell") and draw(st.booleans()):
        args["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    if layer_type in SEQUENCE_TYPES:
        args["num_layers"] = draw(st.integers(1, 3))
        args["bidirectional"] = draw(st.booleans())
        if draw(st.booleans()):
            args["dropout"] = draw(st.sampled_from([0.0, 0.25]))
        if layer_type == "LSTM" and draw(st.booleans()):
            args["proj_size"] = draw(st.integers(0, 7))
        shape = [draw(_sizes) for _ in range(draw(st.sampled_from([2, 2, 2, 3])))]
    else:
        shape = [draw(_sizes) for _ in range(draw(st.sampled_from([1, 1, 1, 2])))]
    if draw(st.integers(0, 4)) == 0:
        args["input_size"] = draw(_sizes)
    return layer_type, args, shape


@settings(max_examples=100, deadline=None)
@given(recurrent_configs())
def test_recurrent_property(config):
    layer_type, args, shape = config
    ours = paramlint_outcome(layer_type, args, [shape])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch_outcome(layer_type, torch_args(layer_type, args), [shape], inferable=["input_size"])
    assert ours.same_as(theirs), (ours, theirs)
    if not ours.ok:
        return
    result = infer(layer_type, args, shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = build(layer_type, args, shape)
        with torch.no_grad():
            outs = torch_outputs(module, layer_type, torch.randn(BATCH, *shape))
    assert [o.shape for o in result.outputs] == [tuple(t.shape[1:]) for t in outs]
    assert result.params == {n: tuple(p.shape) for n, p in module.named_parameters()}
    assert result.flops == torch_flops(layer_type, args, shape, 1)
