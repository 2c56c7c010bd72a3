"""MatMul, Roll, Chunk, Split, StochasticDepth, Buffer and the SDPA attn_mask against torch: shapes,
parameters, buffers, FLOPs (FlopCounterMode on the CPU), saved tensors, and rejections where torch raises."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import oracle
import yaml
from family_checks import check_case, check_departure
from helpers import lint_yaml

torch = pytest.importorskip("torch")
import meta_flops  # noqa: E402

from paramlint.torch import build  # noqa: E402
from paramlint.torch_ops import Chunk, MatMul, Roll, Split, StochasticDepth  # noqa: E402

oracle.TORCH_BUILDERS.update({"MatMul": MatMul, "Roll": Roll, "Chunk": Chunk, "Split": Split})

CASES = [
    # (type, args, per-sample input shapes): both batched
    ("MatMul", {}, [[5, 6], [6, 4]]),              # [N, 5, 6] @ [N, 6, 4]: bmm
    ("MatMul", {}, [[2, 5, 6], [2, 6, 4]]),
    ("MatMul", {}, [[3, 5, 6], [1, 6, 4]]),        # broadcast
    ("MatMul", {}, [[1, 5, 6], [3, 6, 4]]),
    ("MatMul", {}, [[5, 6], [6]]),                 # rejected: contracts over the batch
    ("MatMul", {}, [[5, 6], [5, 4]]),              # rejected: 6 != 5
    ("MatMul", {}, [[2, 5, 6], [3, 6, 4]]),        # rejected: 2 vs 3
    ("Roll", {"shifts": 1, "dims": 1}, [[4, 5]]),
    ("Roll", {"shifts": [-3, 3], "dims": [1, 2]}, [[7, 7, 3]]),
    ("Roll", {"shifts": [1, 2], "dims": [1]}, [[4, 5]]),   # rejected: shifts and dims differ
    ("Roll", {"shifts": 1, "dims": 3}, [[4, 5]]),          # rejected: out of range
    ("Chunk", {"chunks": 2, "dim": 1}, [[4, 5]]),
    ("Chunk", {"chunks": 3, "dim": -1}, [[4, 5]]),
    ("Chunk", {"chunks": 4, "dim": 1}, [[6, 2]]),          # 6 in 4 chunks: three of 2
    ("Chunk", {"chunks": 9, "dim": 1}, [[3]]),
    ("Chunk", {"chunks": 2, "dim": 4}, [[3]]),             # rejected
    ("Split", {"split_size_or_sections": 2, "dim": 1}, [[5, 3]]),
    ("Split", {"split_size_or_sections": [1, 4], "dim": 1}, [[5, 3]]),
    ("Split", {"split_size_or_sections": 9, "dim": -1}, [[5, 3]]),
    ("Split", {"split_size_or_sections": [1, 3], "dim": 1}, [[5, 3]]),  # rejected: 4 != 5
]


@pytest.mark.parametrize("layer_type,args,shapes", CASES)
def test_tensor_op_matches_torch(layer_type, args, shapes):
    check_case(layer_type, args, shapes)


def test_matmul_departure():
    """[N, 6] @ [N, 6, 4] multiplies each row by every sample's matrix: [N, N, 4], batch-dependent."""
    check_departure("MatMul", {}, [[6], [6, 4]])


def _outputs(layer_type, args, shape):
    layer = oracle.REGISTRY[layer_type]
    return [t.shape for t in layer.infer(oracle.resolve_args(layer, args), [oracle.TensorSpec(tuple(shape))]).outputs]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 9), st.integers(1, 12), st.booleans(), st.integers(1, 12))
def test_every_piece_matches_torch(size, count, chunk, other):
    args = {"chunks": count, "dim": 1} if chunk else {"split_size_or_sections": count, "dim": 1}
    x = torch.zeros(2, size, other)
    pieces = x.chunk(count, 1) if chunk else x.split(count, 1)
    assert _outputs("Chunk" if chunk else "Split", args, [size, other]) == [tuple(p.shape[1:]) for p in pieces]


def _lint(data):
    return lint_yaml(yaml.safe_dump(data))


def _model(layers, inputs):
    return {"paramlint": 1, "inputs": inputs, "layers": layers}


def _flops(model, *inputs):
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        out = model(*inputs)
    return out, counter.get_total_flops()


@pytest.mark.parametrize("weight,shape", [
    ([6, 4], [5, 6]),       # [N, 5, 6] @ [6, 4]: folded mm
    ([6], [5, 6]),          # folded mv: not counted
    ([6, 4], [6]),          # [N, 6] @ [6, 4]: mm
    ([6], [6]),             # [N, 6] @ [6]: mv, one value per sample
    ([1, 6, 4], [3, 5, 6]),
    ([3, 6, 4], [3, 5, 6]),
    ([2, 1, 6, 4], [3, 5, 6]),  # rejected: the batch would broadcast against 2
])
def test_matmul_with_a_parameter_matches_torch(weight, shape):
    data = _model([{"type": "Parameter", "shape": weight, "name": "w"},
                   {"type": "MatMul", "from": ["x", "w"], "name": "mm"}], {"x": shape})
    x = torch.randn(3, *shape)
    w = torch.randn(*weight)
    try:
        expected = torch.matmul(x, w)
    except RuntimeError:
        expected = None
    if expected is None or len(weight) == 4:
        with pytest.raises(ValueError):
            build(data)
        return
    model = build(data)
    out, flops = _flops(model, x)
    assert out.shape == expected.shape
    report = _lint(data)
    mm = next(layer for layer in report.analysis.shapes.layers if layer.node.type == "MatMul")
    assert tuple(mm.result.outputs[0].shape) == tuple(expected.shape[1:])
    assert mm.result.flops * 3 == flops


@pytest.mark.parametrize("order", ["param_first", "input_first"])
def test_matmul_vector_on_the_left(order):
    sources = ["v", "x"] if order == "param_first" else ["x", "v"]
    shape = [3, 6, 4] if order == "param_first" else [3, 5, 6]
    data = _model([{"type": "Parameter", "shape": [6], "name": "v"},
                   {"type": "MatMul", "from": sources}], {"x": shape})
    model = build(data)
    x = torch.randn(2, *shape)
    out, flops = _flops(model, x)
    report = _lint(data)
    mm = report.analysis.shapes.layers[-1]
    assert tuple(mm.result.outputs[0].shape) == tuple(out.shape[1:])
    assert mm.result.flops * 2 == flops


@pytest.mark.parametrize("p,mode", [(0.2, "row"), (0.5, "batch"), (0.0, "row"), (1.0, "row")])
def test_stochastic_depth(p, mode):
    check_case_sd = oracle.paramlint_outcome("StochasticDepth", {"p": p, "mode": mode}, [[4, 3, 3]])
    assert check_case_sd.ok and check_case_sd.output_shape == (4, 3, 3) and check_case_sd.params == 0
    module = StochasticDepth(p, mode).train()
    x = torch.ones(64, 4, 3, 3)
    y = module(x)
    assert y.shape == x.shape
    kept = (y.flatten(1) != 0).all(1)
    if p == 0.0:
        assert y is x
    elif p == 1.0:
        assert not kept.any()
    else:
        assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / (1 - p)))
        if mode == "batch":
            assert kept.all() or not kept.any()
    assert meta_flops.forward_flops(lambda: StochasticDepth(p, mode).train(), meta_flops.noise([[4, 3, 3]], 64)) == 0
    module.eval()
    assert module(x) is x


def test_stochastic_depth_rejects_unbatched_and_bad_mode():
    assert not oracle.paramlint_outcome("StochasticDepth", {"p": 0.1, "mode": "rows"}, [[4]]).ok
    assert not oracle.paramlint_outcome("StochasticDepth", {"p": 1.5, "mode": "row"}, [[4]]).ok


@pytest.mark.parametrize("persistent", [True, False])
def test_buffer_counts_as_torch_buffers(persistent):
    data = _model([{"type": "Buffer", "shape": [2401], "dtype": "int64", "persistent": persistent, "name": "index"},
                   {"type": "Embedding", "num_embeddings": 169, "embedding_dim": 3, "from": "index"},
                   {"type": "Reshape", "shape": [49, 49, 3], "name": "bias"},
                   {"type": "Add", "from": ["x", "bias"]}], {"x": [49, 49, 3]})
    report = _lint(data)
    assert report.errors == 0, report.diagnostics
    model = build(data)
    assert sum(b.numel() for b in model.buffers()) == report.analysis.shapes.buffers == 2401
    assert sum(p.numel() for p in model.parameters()) == report.analysis.shapes.params == 169 * 3
    assert ("index.value" in model.state_dict()) == persistent
    assert model(torch.randn(2, 49, 49, 3)).shape == (2, 49, 49, 3)


MASKS = [
    # (q shape per sample, mask shape, unbatched mask)
    ([2, 7, 4], [2, 7, 7], False),
    ([2, 7, 4], [7, 7], True),
    ([3, 2, 7, 4], [2, 7, 7], True),       # 5-d: windows, heads, tokens, dim; a relative-position bias
    ([3, 2, 7, 4], [1, 2, 7, 7], True),
    ([3, 2, 7, 4], [3, 7, 7], True),        # rejected: 3 heads in the mask, 2 in q
    ([2, 7, 4], [7, 6], True),              # rejected: S is 7
]


@pytest.mark.parametrize("q,mask,unbatched", MASKS)
def test_sdpa_attn_mask(q, mask, unbatched):
    layers = [{"type": "Parameter", "shape": mask, "name": "bias"}] if unbatched else []
    inputs = {"q": q} if unbatched else {"q": q, "bias": mask}
    layers.append({"type": "ScaledDotProductAttention", "from": ["q", "q", "q", "bias"]})
    data = _model(layers, inputs)
    # paramlint takes the mask for a learned bias (it needs a gradient): torch then runs the math kernel
    tensors = [torch.randn(2, *q, requires_grad=True)] + ([] if unbatched else [torch.randn(2, *mask,
                                                                                            requires_grad=True)])
    try:
        bias = torch.randn(*mask, requires_grad=True) if unbatched else tensors[1]
        torch.nn.functional.scaled_dot_product_attention(tensors[0], tensors[0], tensors[0], attn_mask=bias)
    except RuntimeError:
        with pytest.raises(ValueError):
            build(data)
        return
    report = _lint(data)
    assert report.errors == 0, report.diagnostics
    model = build(data)
    out, flops = _flops(model, *tensors)
    sdpa = report.analysis.shapes.layers[-1]
    assert tuple(sdpa.result.outputs[0].shape) == tuple(out.shape[1:])
    assert sdpa.result.flops * 2 == flops


def test_sdpa_attn_mask_with_is_causal_is_rejected():
    data = _model([{"type": "ScaledDotProductAttention", "from": ["q", "q", "q", "m"], "is_causal": True}],
                  {"q": [7, 4], "m": [7, 7]})
    assert [d.code for d in _lint(data).diagnostics] == ["PL401"]
