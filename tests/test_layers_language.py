"""Buffer, RotaryEmbedding and Experts: shapes, counts and errors, against the torch bridge and against
the transformers code each stands for (apply_rotary_pos_emb, MixtralExperts)."""
from __future__ import annotations

import pytest

from paramlint.model.layers import REGISTRY
from paramlint.model.layers.base import LayerError, TensorSpec, resolve_args

torch = pytest.importorskip("torch")

from paramlint.torch_language import Buffer, Experts, RotaryEmbedding  # noqa: E402


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


@pytest.mark.parametrize("shape,dim", [((4, 9, 16), None), ((2, 5, 8), 4), ((3, 7, 12), 6)])
def test_rotary_equals_transformers(shape, dim):
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    result = infer("RotaryEmbedding", {"dim": dim, "base": 10000.0}, TensorSpec(shape))
    assert result.outputs[0].shape == shape and not result.params and result.flops == 0
    rotated = result.args["dim"]
    x = torch.randn(2, *shape)
    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, rotated, 2, dtype=torch.float32) / rotated))
    freqs = torch.outer(torch.arange(shape[-2], dtype=torch.float32), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)[None]
    theirs_rot, _ = apply_rotary_pos_emb(x[..., :rotated], x[..., :rotated], emb.cos(), emb.sin())
    theirs = torch.cat((theirs_rot, x[..., rotated:]), dim=-1)
    torch.testing.assert_close(RotaryEmbedding(rotated)(x), theirs)


@pytest.mark.parametrize("args,shape,message", [
    ({"dim": 5}, (2, 7, 8), "even"),
    ({"dim": 10}, (2, 7, 8), "only 8"),
])
def test_rotary_rejects(args, shape, message):
    with pytest.raises(LayerError, match=message):
        infer("RotaryEmbedding", args, TensorSpec(shape))


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
