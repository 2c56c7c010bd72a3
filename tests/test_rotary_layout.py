"""The memory layout of rotary attention on the CPU, against autograd.

The CPU's fused attention writes its output in the query's layout: after an ``ApplyRotary`` that works
elementwise on a transposed ``[N, L, heads, E]`` buffer the output lies as ``[N, L, heads, E]`` and merging
the heads is a view; after one that ends in ``torch.cat`` (``concatenate``, Phi-3; or features passed
through unrotated) the query, and so the output, is a contiguous ``[N, heads, L, E]``, and merging the
heads copies, which the output projection then keeps.  Each case compares the bytes saved, layer by layer.
"""
from __future__ import annotations

from typing import Any, Dict

import pytest

torch = pytest.importorskip("torch")

from test_saved_tensors import _ours  # noqa: E402
from torch_memory import network_saved  # noqa: E402

from paramlint.torch import build  # noqa: E402

SEQ_LEN, HEADS, HEAD_DIM = 6, 2, 4


def _attention(rotary_dim: int, concatenate: bool) -> Dict[str, Any]:
    width = HEADS * HEAD_DIM
    layers = [{"type": "RotaryEmbedding", "from": "x", "dim": rotary_dim, "name": "rotary_emb"}]
    for part in ("q", "k", "v"):
        layers += [{"type": "Linear", "from": "x", "out_features": width, "name": f"{part}_proj"},
                   {"type": "Reshape", "shape": [-1, HEADS, HEAD_DIM], "name": f"{part}_split"},
                   {"type": "Transpose", "dim0": 1, "dim1": 2, "name": f"{part}_heads"}]
        if part != "v":
            layers.append({"type": "ApplyRotary", "from": [f"{part}_heads", "rotary_emb.0", "rotary_emb.1"],
                           "concatenate": concatenate, "name": f"{part}_rotary"})
    layers += [{"type": "ScaledDotProductAttention", "from": ["q_rotary", "k_rotary", "v_heads"], "is_causal": True,
                "name": "attention"},
               {"type": "Transpose", "dim0": 1, "dim1": 2, "name": "merge"},
               {"type": "Reshape", "shape": [-1, width], "name": "merged"},
               {"type": "Linear", "out_features": width, "name": "o_proj"}]
    return {"paramlint": 1, "inputs": {"x": [SEQ_LEN, width]}, "layers": layers}


@pytest.mark.parametrize("rotary_dim, concatenate", [(HEAD_DIM, False), (HEAD_DIM, True), (HEAD_DIM // 2, False)],
                         ids=["elementwise", "concatenate", "partial"])
def test_attention_after_rotary_saves_what_torch_saves(rotary_dim, concatenate):
    data = _attention(rotary_dim, concatenate)
    ours, _ = _ours(data)
    torch.manual_seed(0)
    theirs = network_saved(build(data), [torch.randn(3, SEQ_LEN, HEADS * HEAD_DIM)])
    assert ours == theirs
    o_proj = len(data["layers"]) - 1  # the layer index of o_proj (no other layers)
    merged_copy = 3 * SEQ_LEN * HEADS * HEAD_DIM * 4
    assert ours.get(o_proj, 0) == (merged_copy if concatenate or rotary_dim < HEAD_DIM else 0)
