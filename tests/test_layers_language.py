"""Buffer (as the importer uses it), RotaryEmbedding, ApplyRotary and Experts: shapes, counts and errors, against the torch bridge and against
the transformers code each stands for (apply_rotary_pos_emb, MixtralExperts)."""
from __future__ import annotations

import pytest

from paramlint.model.layers import REGISTRY
from paramlint.model.layers.base import LayerError, TensorSpec, resolve_args

torch = pytest.importorskip("torch")

from paramlint.torch_language import ApplyRotary, Experts, RotaryEmbedding  # noqa: E402
from paramlint.torch_ops import Buffer  # noqa: E402


def infer(layer_type, args, *inputs):
    layer = REGISTRY[layer_type]
    return layer.infer(resolve_args(layer, args), inputs)


@pytest.mark.parametrize("shape,dtype", [([], "float32"), ([1, 512], "int64"), ([64], "float32")])
def test_buffer_counts_as_torch_buffers(shape, dtype):
    result = infer("Buffer", {"shape": shape, "dtype": dtype})
    module = Buffer(shape, dtype)
    assert sum(b.numel() for b in module.buffers()) == sum(
        torch.Size(s).numel() for s, _ in result.buffers.values())
    assert not result.params and list(module.parameters()) == []
    assert result.outputs[0].shape == tuple(shape) and not result.outputs[0].batched


@pytest.mark.parametrize("dim,base", [(16, 10000.0), (8, 500000.0), (6, 10000.0)])
def test_rotary_tables_and_buffers_equal_transformers(dim, base):
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    result = infer("RotaryEmbedding", {"dim": dim, "base": base}, TensorSpec((9, 32)))
    assert [t.shape for t in result.outputs] == [(9, dim), (9, dim)] and not result.outputs[0].batched
    config = LlamaConfig(hidden_size=dim * 4, num_attention_heads=4, rope_theta=base)
    theirs = LlamaRotaryEmbedding(config)
    assert {k: v[0] for k, v in result.buffers.items()} == {n: tuple(b.shape) for n, b in theirs.named_buffers()}
    x = torch.randn(2, 9, 32)
    cos, sin = theirs(x, torch.arange(9)[None])
    ours = RotaryEmbedding(dim, base)(x)
    torch.testing.assert_close(ours[0], cos[0])
    torch.testing.assert_close(ours[1], sin[0])


@pytest.mark.parametrize("shape,dim", [((4, 9, 16), 16), ((2, 5, 8), 4), ((3, 7, 12), 6)])
def test_apply_rotary_equals_transformers(shape, dim):
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    table = TensorSpec((shape[-2], dim), batched=False)
    result = infer("ApplyRotary", {}, TensorSpec(shape), table, table)
    assert result.outputs[0].shape == shape and not result.params and result.flops == 0
    x = torch.randn(2, *shape)
    cos, sin = RotaryEmbedding(dim)(x)
    theirs_rot, _ = apply_rotary_pos_emb(x[..., :dim], x[..., :dim], cos[None], sin[None])
    theirs = torch.cat((theirs_rot, x[..., dim:]), dim=-1)
    torch.testing.assert_close(ApplyRotary()(x, cos, sin), theirs)


@pytest.mark.parametrize("table,shape,message", [
    ((7, 10), (2, 7, 8), "only 8"),
    ((6, 8), (2, 7, 8), "6 positions"),
])
def test_apply_rotary_rejects(table, shape, message):
    tables = TensorSpec(table, batched=False)
    with pytest.raises(LayerError, match=message):
        infer("ApplyRotary", {}, TensorSpec(shape), tables, tables)


def test_experts_equal_mixtral_experts():
    """Same parameters, same output as transformers' MixtralExperts with its router's choice."""
    from transformers import MixtralConfig
    from transformers.models.mixtral.modeling_mixtral import MixtralExperts, MixtralTopKRouter

    config = MixtralConfig(hidden_size=8, intermediate_size=6, num_local_experts=4, num_experts_per_tok=2)
    result = infer("Experts", {"num_experts": 4, "intermediate_size": 6, "top_k": 2}, TensorSpec((5, 8)),
                   TensorSpec((5, 4)))
    theirs, router = MixtralExperts(config), MixtralTopKRouter(config)
    config._experts_implementation = "eager"
    for tensor in (*theirs.parameters(), router.weight):
        torch.nn.init.normal_(tensor)
    assert result.params == {name: tuple(p.shape) for name, p in theirs.named_parameters()}
    assert result.flops == 2 * 5 * 2 * 3 * 8 * 6
    ours = Experts(4, 6, 2, "silu", 8)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(5, 8)
    logits = torch.nn.functional.linear(x, router.weight)
    _, weights, chosen = router(x)
    torch.testing.assert_close(ours(x, logits), theirs(x, chosen, weights))


def test_experts_rejects_a_router_of_another_size():
    with pytest.raises(LayerError, match="4 experts"):
        infer("Experts", {"num_experts": 4, "intermediate_size": 6}, TensorSpec((5, 8)), TensorSpec((5, 3)))
