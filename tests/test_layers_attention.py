"""Attention and Transformer layers against torch: shapes, parameters,
attention weights, FLOPs and rejections."""
from __future__ import annotations

import warnings
from typing import Any, Dict, List, Sequence

import pytest
from hypothesis import given, settings, strategies as st

import meta_flops
import oracle
from oracle import BATCH, paramlint_outcome, torch_outcome
from paramlint.model.layers import REGISTRY
from paramlint.model.layers.attention import sdpa_flops
from paramlint.model.layers.base import LayerError, TensorSpec, resolve_args

torch = pytest.importorskip("torch")
F = torch.nn.functional


class TorchMHA(torch.nn.Module):
    """MultiheadAttention called as paramlint calls it: 1 input is
    self-attention, 2 are [query, key_value], 3 are [query, key, value]."""

    def __init__(self, need_weights: bool = False, **kwargs: Any) -> None:
        super().__init__()
        self.need_weights = need_weights
        self.attn = torch.nn.MultiheadAttention(**kwargs)

    def forward(self, *xs):
        query = xs[0]
        key = xs[1] if len(xs) > 1 else query
        value = xs[2] if len(xs) > 2 else key
        out, weights = self.attn(query, key, value, need_weights=self.need_weights)
        return (out, weights) if self.need_weights else (out,)


class TorchSDPA(torch.nn.Module):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.kwargs = kwargs

    def forward(self, query, key, value):
        return F.scaled_dot_product_attention(query, key, value, **self.kwargs)


oracle.TORCH_BUILDERS["MultiheadAttention"] = TorchMHA
oracle.TORCH_BUILDERS["ScaledDotProductAttention"] = TorchSDPA

MHA, SDPA = "MultiheadAttention", "ScaledDotProductAttention"
ENC, DEC, TF = "TransformerEncoderLayer", "TransformerDecoderLayer", "Transformer"
INFERABLE = {MHA: ["embed_dim"], SDPA: [], ENC: ["d_model"], DEC: ["d_model"], TF: ["d_model"]}

CASES = [
    # (type, args, per-sample input shapes)
    (MHA, {"num_heads": 2}, [[7, 8]]),
    (MHA, {"num_heads": 1}, [[1, 4]]),
    (MHA, {"num_heads": 4, "dropout": 0.1}, [[7, 8]]),
    (MHA, {"num_heads": 3}, [[7, 8]]),  # rejected: 8 % 3
    (MHA, {"num_heads": 2, "need_weights": True}, [[7, 8]]),
    (MHA, {"num_heads": 2, "bias": False}, [[7, 8]]),
    (MHA, {"num_heads": 2, "add_bias_kv": True}, [[7, 8]]),
    (MHA, {"num_heads": 2, "add_zero_attn": True, "need_weights": True}, [[7, 8]]),
    (MHA, {"num_heads": 2, "add_bias_kv": True, "add_zero_attn": True, "need_weights": True, "dropout": 0.2},
     [[7, 8], [5, 8]]),
    (MHA, {"num_heads": 2}, [[7, 8], [5, 8]]),
    (MHA, {"num_heads": 2}, [[7, 8], [5, 3]]),
    (MHA, {"num_heads": 2}, [[7, 8], [5, 3], [5, 6]]),
    (MHA, {"num_heads": 2}, [[7, 8], [5, 8], [4, 8]]),  # rejected: key/value lengths
    (MHA, {"num_heads": 2}, [[7, 8], [5, 3], [4, 6]]),  # rejected: key/value lengths
    (MHA, {"num_heads": 2, "kdim": 3, "vdim": 6}, [[7, 8], [5, 3], [5, 6]]),
    (MHA, {"num_heads": 2, "kdim": 4}, [[7, 8], [5, 3], [5, 6]]),  # rejected: kdim
    (MHA, {"num_heads": 2, "vdim": 3}, [[7, 8]]),  # rejected: vdim vs self-attention
    (MHA, {"num_heads": 2, "embed_dim": 6}, [[7, 8]]),  # rejected: embed_dim
    (MHA, {"num_heads": 2}, [[7, 8, 2]]),  # rejected: rank
    (MHA, {"num_heads": 2}, [[7, 8], [5, 8, 1]]),  # rejected: rank
    (MHA, {"num_heads": 8, "bias": False, "add_bias_kv": True}, [[3, 16], [9, 16]]),
    (MHA, {"num_heads": 2, "need_weights": True}, [[7, 8], [5, 3]]),
    (MHA, {"num_heads": 2, "vdim": 8}, [[7, 8], [5, 3], [5, 8]]),
    (MHA, {"num_heads": 16}, [[2, 16]]),
    (MHA, {"num_heads": 2, "dropout": 1.0, "need_weights": True}, [[3, 4], [2, 4], [2, 5]]),
    (SDPA, {}, [[7, 8], [5, 8], [5, 6]]),
    (SDPA, {}, [[3, 7, 8], [3, 5, 8], [3, 5, 8]]),
    (SDPA, {"dropout_p": 0.1}, [[3, 7, 8], [3, 5, 8], [3, 5, 8]]),
    (SDPA, {"is_causal": True}, [[3, 7, 8], [3, 5, 8], [3, 5, 8]]),
    (SDPA, {"scale": 0.5, "is_causal": True}, [[7, 8], [5, 8], [5, 8]]),
    (SDPA, {}, [[3, 7, 8], [1, 5, 8], [1, 5, 8]]),
    (SDPA, {}, [[7, 8], [3, 5, 8], [1, 5, 8]]),
    (SDPA, {}, [[7, 8], [5, 8], [3, 5, 6]]),
    (SDPA, {}, [[3, 7, 8], [3, 5, 8], [3, 5, 4]]),
    (SDPA, {}, [[2, 3, 7, 8], [2, 3, 5, 8], [2, 3, 5, 8]]),
    (SDPA, {}, [[7, 8], [5, 9], [5, 8]]),  # rejected: E
    (SDPA, {}, [[7, 8], [5, 8], [4, 8]]),  # rejected: S
    (SDPA, {}, [[2, 7, 8], [3, 5, 8], [3, 5, 8]]),  # rejected: broadcast
    (SDPA, {"enable_gqa": True}, [[6, 7, 8], [2, 5, 8], [2, 5, 8]]),
    (SDPA, {"enable_gqa": True}, [[6, 7, 8], [4, 5, 8], [4, 5, 8]]),  # rejected: 6 % 4
    (SDPA, {"enable_gqa": True}, [[6, 7, 8], [2, 5, 8], [3, 5, 8]]),
    (SDPA, {"enable_gqa": True}, [[7, 8], [5, 8], [5, 8]]),
    (SDPA, {"enable_gqa": True, "dropout_p": 0.5}, [[4, 7, 8], [1, 5, 8], [1, 5, 8]]),
    (ENC, {"nhead": 2, "dim_feedforward": 32}, [[7, 8]]),
    (ENC, {"nhead": 2, "dim_feedforward": 32, "dropout": 0.0, "norm_first": True}, [[7, 8]]),
    (ENC, {"nhead": 2, "dim_feedforward": 32, "activation": "gelu", "bias": False, "layer_norm_eps": 1e-6},
     [[7, 8]]),
    (ENC, {"nhead": 3}, [[7, 8]]),  # rejected: 8 % 3
    (ENC, {"nhead": 2, "d_model": 16}, [[7, 8]]),  # rejected: d_model
    (ENC, {"nhead": 2}, [[7, 8, 1]]),  # rejected: rank
    (ENC, {"nhead": 4}, [[3, 16]]),
    (DEC, {"nhead": 2, "dim_feedforward": 32}, [[7, 8], [5, 8]]),
    (DEC, {"nhead": 2, "dim_feedforward": 32, "dropout": 0.0, "bias": False, "norm_first": True}, [[7, 8], [5, 8]]),
    (DEC, {"nhead": 2, "dim_feedforward": 32}, [[7, 8], [5, 6]]),  # rejected: memory features
    (DEC, {"nhead": 2, "dim_feedforward": 32, "activation": "gelu"}, [[1, 8], [9, 8]]),
    (TF, {"nhead": 2, "dim_feedforward": 32, "num_encoder_layers": 2, "num_decoder_layers": 1}, [[7, 8], [5, 8]]),
    (TF, {"nhead": 2, "dim_feedforward": 16, "num_encoder_layers": 1, "num_decoder_layers": 2, "bias": False,
          "dropout": 0.0}, [[7, 8], [5, 8]]),
    (TF, {"dim_feedforward": 16, "num_encoder_layers": 1, "num_decoder_layers": 1}, [[4, 16], [3, 16]]),
    (TF, {"dim_feedforward": 16}, [[4, 12], [3, 12]]),  # rejected: nhead 8 does not divide 12
    (TF, {"nhead": 2, "dim_feedforward": 16, "num_encoder_layers": 1, "num_decoder_layers": 1},
     [[4, 8], [3, 6]]),  # rejected: tgt features
    (TF, {"nhead": 2, "num_encoder_layers": 0}, [[4, 8], [3, 8]]),  # rejected (torch at forward)
    (TF, {}, [[4, 16], [3, 16]]),
]

# Accepted by torch but rejected by paramlint, with the code paramlint gives.
REJECTED_HERE = [
    (MHA, {"num_heads": 2, "batch_first": False}, [[7, 8]], "PL402"),
    (ENC, {"nhead": 2, "batch_first": False}, [[7, 8]], "PL402"),
    (DEC, {"nhead": 2, "batch_first": False}, [[7, 8], [5, 8]], "PL402"),
    (TF, {"nhead": 2, "batch_first": False}, [[7, 8], [5, 8]], "PL402"),
    # torch reads [N, E] as one unbatched sequence of length N: batch dependent.
    (MHA, {"num_heads": 2}, [[8]], "PL401"),
    (ENC, {"nhead": 2}, [[8]], "PL401"),
    (DEC, {"nhead": 2}, [[8], [8]], "PL401"),
    (SDPA, {}, [[8], [8], [8]], "PL401"),
]


def torch_args(layer_type: str, args: Dict[str, Any], shapes: Sequence[Sequence[int]]) -> Dict[str, Any]:
    """The constructor arguments a user writing the torch model would pass."""
    if layer_type == SDPA:
        return dict(args)
    kwargs = {"batch_first": True, **args}
    if layer_type == MHA and len(shapes) > 1:
        kwargs.setdefault("kdim", shapes[1][-1])
        kwargs.setdefault("vdim", shapes[-1][-1])
    return kwargs


def infer(layer_type: str, args: Dict[str, Any], shapes: Sequence[Sequence[int]], dtype: str = "float32"):
    layer = REGISTRY[layer_type]
    return layer.infer(resolve_args(layer, args), [TensorSpec(tuple(s), dtype) for s in shapes])


def build(layer_type: str, args: Dict[str, Any], shapes: Sequence[Sequence[int]]):
    kwargs = torch_args(layer_type, args, shapes)
    for name in INFERABLE[layer_type]:
        kwargs.setdefault(name, shapes[0][-1])
    builder = oracle.TORCH_BUILDERS.get(layer_type) or getattr(torch.nn, layer_type)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Transformer's note on its nested-tensor fast path
        return builder(**kwargs)


def torch_named_parameters(module) -> Dict[str, tuple]:
    if isinstance(module, TorchMHA):
        module = module.attn
    return {n: tuple(p.shape) for n, p in module.named_parameters()}


def run(module, shapes: Sequence[Sequence[int]], batch: int) -> List[Any]:
    out = module(*[torch.randn(batch, *s) for s in shapes])
    return list(out) if isinstance(out, tuple) else [out]


def torch_flops(layer_type: str, args: Dict[str, Any], shapes: Sequence[Sequence[int]], batch: int,
                device: str = meta_flops.META) -> int:
    """FlopCounterMode's count for the layer on a batch, on ``meta`` (paramlint's convention)."""
    return meta_flops.forward_flops(lambda: build(layer_type, args, shapes), meta_flops.noise(shapes, batch), device)


def _torch_outcome(layer_type: str, args: Dict[str, Any], shapes: Sequence[Sequence[int]], dtype: str = "float32"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch_outcome(layer_type, torch_args(layer_type, args, shapes), shapes, dtype,
                             inferable=INFERABLE[layer_type])


ACCEPTED = [c for c in CASES if _torch_outcome(*c).ok]


def test_case_table_has_both_outcomes():
    assert len(CASES) >= 50
    assert 0 < len(ACCEPTED) < len(CASES)
    assert {c[0] for c in ACCEPTED} == {MHA, SDPA, ENC, DEC, TF}


@pytest.mark.parametrize("layer_type,args,shapes", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_attention_matches_torch(layer_type, args, shapes):
    ours = paramlint_outcome(layer_type, args, shapes)
    theirs = _torch_outcome(layer_type, args, shapes)
    assert ours.same_as(theirs), (ours, theirs)


@pytest.mark.parametrize("layer_type,args,shapes,code", REJECTED_HERE,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(REJECTED_HERE)])
def test_rejected_by_paramlint(layer_type, args, shapes, code):
    with pytest.raises(LayerError) as caught:
        infer(layer_type, args, shapes)
    assert caught.value.code == code
    if code == "PL402":
        assert caught.value.arg == "batch_first" and "batch_first" in caught.value.message


@pytest.mark.parametrize("layer_type,args,shapes", ACCEPTED, ids=[f"{c[0]}-{i}" for i, c in enumerate(ACCEPTED)])
def test_names_outputs_args_and_flops(layer_type, args, shapes):
    result = infer(layer_type, args, shapes)
    module = build(layer_type, args, shapes)
    named = torch_named_parameters(module)
    assert result.params == named and list(result.params) == list(named)
    with torch.no_grad():
        outs = run(module, shapes, BATCH)
    # Every output, the attention weights included, shape for shape.
    assert [o.shape for o in result.outputs] == [tuple(t.shape[1:]) for t in outs]
    if layer_type != SDPA:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rebuilt = getattr(torch.nn, layer_type)(**result.args)
        assert {n: tuple(p.shape) for n, p in rebuilt.named_parameters()} == result.params
        assert rebuilt.state_dict().keys() == (module.attn if layer_type == MHA else module).state_dict().keys()
    one = torch_flops(layer_type, args, shapes, 1)
    assert result.flops == one
    assert torch_flops(layer_type, args, shapes, 3) == 3 * one


def test_weights_output_only_with_need_weights():
    assert len(infer(MHA, {"num_heads": 2}, [[7, 8], [5, 8]]).outputs) == 1
    with_weights = infer(MHA, {"num_heads": 2, "need_weights": True, "add_bias_kv": True}, [[7, 8], [5, 8]])
    assert [o.shape for o in with_weights.outputs] == [(7, 8), (7, 6)]
    assert "need_weights" not in with_weights.args  # a forward argument, not a constructor one


def test_separate_projection_names():
    names = list(infer(MHA, {"num_heads": 2}, [[7, 8], [5, 3], [5, 6]]).params)
    assert names[:3] == ["q_proj_weight", "k_proj_weight", "v_proj_weight"]
    assert "in_proj_weight" in infer(MHA, {"num_heads": 2}, [[7, 8], [5, 8]]).params


def test_mixed_dtypes_are_rejected():
    layer = REGISTRY[MHA]
    inputs = [TensorSpec((7, 8)), TensorSpec((5, 8), "float64")]
    with pytest.raises(LayerError) as caught:
        layer.infer(resolve_args(layer, {"num_heads": 2}), inputs)
    assert caught.value.code == "PL404"
    with pytest.raises(LayerError) as caught:
        infer(ENC, {"nhead": 2}, [[7, 8]], "int64")
    assert caught.value.code == "PL404"
    assert not _torch_outcome(ENC, {"nhead": 2}, [[7, 8]], "int64").ok


# SDPA with Parameters (unbatched) among its inputs: torch shapes are
# compared with a batch of 2 (N=2 stands for "any N"), FLOPs with a batch of 1.
SDPA_WITH_PARAMETERS = [
    # ((shape, batched) for q, k, v), args
    (([3, 7, 8], True), ([1, 1, 5, 8], False), ([1, 1, 5, 8], False)),
    (([7, 8], True), ([5, 8], False), ([5, 8], False)),
    (([7, 8], False), ([5, 8], True), ([5, 8], True)),
    (([7, 8], False), ([5, 8], False), ([5, 6], False)),
    (([2, 7, 8], True), ([2, 5, 8], False), ([2, 5, 8], False)),
]
SDPA_BATCH_DEPENDENT = [
    (([7, 8], True), ([2, 5, 8], False), ([2, 5, 8], False)),  # N against 2
    (([7, 8], True), ([4, 1, 5, 8], False), ([4, 1, 5, 8], False)),  # batch would land in dim 1
]


def _sdpa_specs(case):
    return [TensorSpec(tuple(shape), "float32", batched) for shape, batched in case]


def _sdpa_inputs(case, batch: int):
    return lambda: [torch.randn(batch, *shape) if batched else torch.randn(*shape) for shape, batched in case]


def _sdpa_torch(case, batch: int):
    out = F.scaled_dot_product_attention(*_sdpa_inputs(case, batch)())
    return out, meta_flops.forward_flops(lambda: F.scaled_dot_product_attention, _sdpa_inputs(case, batch))


@pytest.mark.parametrize("case", SDPA_WITH_PARAMETERS)
def test_sdpa_with_parameters(case):
    layer = REGISTRY[SDPA]
    result = layer.infer(resolve_args(layer, {}), _sdpa_specs(case))
    out, _ = _sdpa_torch(case, 2)
    batched = any(b for _, b in case)
    assert result.outputs[0].batched == batched
    assert (2,) + result.outputs[0].shape == tuple(out.shape) if batched else result.outputs[0].shape == out.shape
    assert result.flops == _sdpa_torch(case, 1)[1]


def test_cpu_flash_attention_counts_zero_where_meta_counts_the_core():
    """Why the convention is ``meta``: the CPU's fused flash kernel has no
    FLOP formula, so FlopCounterMode on the CPU sees none of the attention
    core, in SDPA or inside MultiheadAttention (dropout 0, no weights)."""
    shapes = [[2, 16, 8]] * 3
    core = sdpa_flops(1, 2, 16, 16, 8)
    assert infer(SDPA, {}, shapes).flops == core == torch_flops(SDPA, {}, shapes, 1)
    assert torch_flops(SDPA, {}, shapes, 1, device=meta_flops.CPU) == 0
    mha = infer(MHA, {"num_heads": 2}, [[16, 8]]).flops
    assert mha == torch_flops(MHA, {"num_heads": 2}, [[16, 8]], 1)
    assert mha - torch_flops(MHA, {"num_heads": 2}, [[16, 8]], 1, device=meta_flops.CPU) == sdpa_flops(1, 1, 16, 16, 8)


@pytest.mark.parametrize("args,shapes,heads", [
    ({"is_causal": True}, [[4, 9, 8], [4, 9, 8], [4, 9, 8]], 4),  # the full 9 x 9 score matrix counts
    ({"enable_gqa": True}, [[6, 9, 8], [2, 5, 8], [2, 5, 8]], 6),  # grouped kv heads count as the query's
    ({"enable_gqa": True, "is_causal": True}, [[3, 4, 9, 8], [3, 1, 9, 8], [3, 1, 9, 8]], 12),
])
def test_sdpa_flops_follow_the_query_heads_and_the_full_score_matrix(args, shapes, heads):
    query_len, key_len = shapes[0][-2], shapes[1][-2]
    expected = sdpa_flops(1, heads, query_len, key_len, 8)
    assert infer(SDPA, args, shapes).flops == expected == torch_flops(SDPA, args, shapes, 1)
    assert torch_flops(SDPA, args, shapes, 3) == 3 * expected


@pytest.mark.parametrize("case", SDPA_BATCH_DEPENDENT)
def test_sdpa_batch_dependent_broadcast_is_rejected(case):
    layer = REGISTRY[SDPA]
    with pytest.raises(LayerError) as caught:
        layer.infer(resolve_args(layer, {}), _sdpa_specs(case))
    assert caught.value.code == "PL401"


# ---------------------------------------------------------------------------
# One property test over the module's layer types.

_small = st.integers(1, 4)


@st.composite
def attention_configs(draw):
    layer_type = draw(st.sampled_from([MHA, MHA, MHA, SDPA, SDPA, SDPA, ENC, DEC, TF]))
    if layer_type == MHA:
        heads = draw(st.integers(1, 3))
        embed = heads * draw(st.integers(1, 3)) + draw(st.sampled_from([0, 0, 0, 1]))
        args: Dict[str, Any] = {"num_heads": heads}
        for flag in ("bias", "add_bias_kv", "add_zero_attn", "need_weights"):
            if draw(st.booleans()):
                args[flag] = draw(st.booleans())
        args["dropout"] = draw(st.sampled_from([0.0, 0.0, 0.2]))
        n_inputs = draw(st.integers(1, 3))
        key_len = draw(_small)
        shapes = [[draw(_small), embed]]
        if n_inputs >= 2:
            shapes.append([key_len, draw(st.sampled_from([embed, embed, 2, 5]))])
        if n_inputs == 3:
            value_len = draw(st.sampled_from([key_len, key_len, key_len, draw(_small)]))
            shapes.append([value_len, draw(st.sampled_from([embed, embed, 3]))])
        return layer_type, args, shapes
    if layer_type == SDPA:
        args = {"dropout_p": draw(st.sampled_from([0.0, 0.0, 0.3])), "is_causal": draw(st.booleans()),
                "enable_gqa": draw(st.booleans())}
        length, key_len, embed, value_embed = draw(_small), draw(_small), draw(_small), draw(_small)
        lead_rank = draw(st.integers(0, 2))
        lead = [draw(_small) for _ in range(lead_rank)]

        def lead_of():
            return [draw(st.sampled_from([d, d, 1])) for d in lead][draw(st.integers(0, lead_rank)):]

        value_len = draw(st.sampled_from([key_len, key_len, 1]))
        value_dim = draw(st.sampled_from([embed, value_embed]))
        shapes = [lead_of() + [length, embed], lead_of() + [key_len, embed], lead_of() + [value_len, value_dim]]
        return layer_type, args, shapes
    heads = draw(st.integers(1, 3))
    d_model = heads * draw(st.integers(1, 2)) + draw(st.sampled_from([0, 0, 0, 1]))
    args = {"nhead": heads, "dim_feedforward": draw(_small), "dropout": draw(st.sampled_from([0.0, 0.1])),
            "norm_first": draw(st.booleans()), "bias": draw(st.booleans()),
            "activation": draw(st.sampled_from(["relu", "gelu"]))}
    shapes = [[draw(_small), d_model]]
    if layer_type != ENC:
        shapes.append([draw(_small), draw(st.sampled_from([d_model, d_model, d_model + 1]))])
    if layer_type == TF:
        args.update(num_encoder_layers=draw(st.integers(1, 2)), num_decoder_layers=draw(st.integers(1, 2)))
    return layer_type, args, shapes


def _math_kernel_rejects(args: Dict[str, Any], shapes: Sequence[Sequence[int]]) -> bool:
    from torch.nn.attention import SDPBackend, sdpa_kernel

    try:
        with sdpa_kernel(SDPBackend.MATH), torch.no_grad():
            run(build(SDPA, args, shapes), shapes, BATCH)
    except RuntimeError:
        return True
    return False


def test_sdpa_mismatched_key_value_lengths():
    """torch 2.13's CPU flash kernel runs k and v of different lengths
    without a check; its math kernel rejects them, and so does paramlint."""
    shapes = [[3, 4, 8], [3, 6, 8], [3, 5, 8]]
    assert _torch_outcome(SDPA, {}, shapes).ok
    assert _math_kernel_rejects({}, shapes)
    with pytest.raises(LayerError) as caught:
        infer(SDPA, {}, shapes)
    assert caught.value.code == "PL401"


def _per_sample_shape(layer_type: str, args: Dict[str, Any], shapes: Sequence[Sequence[int]], batch: int):
    try:
        with torch.no_grad():
            return tuple(run(build(layer_type, args, shapes), shapes, batch)[0].shape[1:])
    except RuntimeError as error:  # torch refuses this batch size
        return str(error)


@settings(max_examples=100, deadline=None)
@given(attention_configs())
def test_attention_property(config):
    layer_type, args, shapes = config
    ours = paramlint_outcome(layer_type, args, shapes)
    theirs = _torch_outcome(layer_type, args, shapes)
    if theirs.ok and not ours.ok and "batch" in ours.error:
        # paramlint refuses shapes that depend on the batch size; torch runs them.
        assert _per_sample_shape(layer_type, args, shapes, 2) != _per_sample_shape(layer_type, args, shapes, 3)
        return
    if theirs.ok and not ours.ok and "same sequence length" in ours.error:
        assert _math_kernel_rejects(args, shapes)  # torch's CPU flash kernel does not check it
        return
    assert ours.same_as(theirs), (ours, theirs)
    if not ours.ok:
        return
    result = infer(layer_type, args, shapes)
    module = build(layer_type, args, shapes)
    assert result.params == torch_named_parameters(module)
    with torch.no_grad():
        outs = run(module, shapes, BATCH)
    assert [o.shape for o in result.outputs] == [tuple(t.shape[1:]) for t in outs]
    assert result.flops == torch_flops(layer_type, args, shapes, 1)


# ---------------------------------------------------------------------------
# Saved-for-backward tensors, measured on the CPU where it runs the same
# kernels as the model describes: dropout 0 (fused attention), or the
# need_weights path (plain matrix products; the CPU's dropout mask is float
# where CUDA's is bool).

def measured_saved_bytes(module, shapes: Sequence[Sequence[int]], batch: int = 2) -> Dict[str, int]:
    module.train()
    xs = [torch.randn(batch, *s, requires_grad=True) for s in shapes]
    params = {p.untyped_storage().data_ptr() for p in module.parameters()}
    inputs = {x.untyped_storage().data_ptr() for x in xs}
    seen: Dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(*xs)
    shared = sum(n for ptr, n in seen.items() if ptr in inputs)
    return {"input": shared // batch, "new": (sum(seen.values()) - shared) // batch}


def modelled_saved_bytes(saved, mask_bytes: int) -> Dict[str, int]:
    from paramlint.model.layers.base import DTYPE_BYTES

    total = {"input": 0, "new": 0}
    for tensor in saved:
        size = mask_bytes if tensor.dtype == "bool" else DTYPE_BYTES[tensor.dtype]
        total["input" if tensor.kind == "input" else "new"] += tensor.numel * size
    return total


SAVED_CASES = [c for c in ACCEPTED if c[0] in (MHA, ENC, DEC, TF)
               and c[1].get("dropout", 0.0 if c[0] == MHA else 0.1) in (0.0, 0.2 if c[1].get("need_weights") else 0.0)
               ] + [
    (MHA, {"num_heads": 2, "add_bias_kv": True, "need_weights": True}, [[7, 8]]),
    (MHA, {"num_heads": 2, "add_zero_attn": True}, [[7, 8], [5, 3], [5, 6]]),
    (SDPA, {}, [[7, 8], [5, 8], [5, 6]]),
    (SDPA, {"dropout_p": 0.3}, [[7, 8], [5, 8], [5, 6]]),
    (SDPA, {"scale": 0.5, "is_causal": True}, [[2, 7, 8], [2, 5, 8], [2, 5, 6]]),
    (SDPA, {}, [[3, 7, 8], [3, 5, 8], [3, 5, 8]]),
    (SDPA, {"is_causal": True}, [[3, 7, 8], [3, 5, 8], [3, 5, 8]]),
    (SDPA, {"enable_gqa": True}, [[6, 7, 8], [2, 5, 8], [2, 5, 8]]),
    (SDPA, {}, [[3, 7, 8], [3, 5, 8], [3, 5, 4]]),
    (MHA, {"num_heads": 2, "add_zero_attn": True}, [[7, 8], [5, 8]]),
    (ENC, {"nhead": 2, "dim_feedforward": 16, "dropout": 0.0, "activation": "gelu"}, [[7, 8]]),
    (DEC, {"nhead": 2, "dim_feedforward": 16, "dropout": 0.0, "norm_first": True, "activation": "gelu"},
     [[7, 8], [5, 8]]),
    (TF, {"nhead": 2, "dim_feedforward": 16, "num_encoder_layers": 2, "num_decoder_layers": 2, "dropout": 0.0,
          "norm_first": True}, [[7, 8], [5, 8]]),
    (TF, {"nhead": 2, "dim_feedforward": 16, "num_encoder_layers": 2, "num_decoder_layers": 2, "dropout": 0.0},
     [[7, 8], [5, 8]]),
]


@pytest.mark.parametrize("layer_type,args,shapes", SAVED_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(SAVED_CASES)])
def test_saved_tensors_match_cpu_measurement(layer_type, args, shapes):
    result = infer(layer_type, args, shapes)
    measured = measured_saved_bytes(build(layer_type, args, shapes), shapes)
    assert modelled_saved_bytes(result.saved, mask_bytes=4) == measured
