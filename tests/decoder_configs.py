"""Format-1 decoders written as transformers builds them, for the serving tests.

``decoder`` writes a pre-norm decoder-only language model in paramlint's
format 1: token embedding (plus learned positions for GPT-2), per layer a
norm, q/k/v projections split into heads ``[heads, seq, head_dim]`` (keys
and values with their own, fewer, heads: grouped-query attention, cached
unrepeated), causal ``ScaledDotProductAttention`` (``window`` on
sliding-window layers), the output projection, and a gated (llama) or plain
(GPT-2) MLP; a final norm and the language-model head.  Rotary position
embeddings change no shape and allocate nothing that lives across layers,
so they are left out.  ``family_config`` gives the same model as a small
transformers config for each decoder family.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence


def decoder(*, hidden: int, heads: int, kv_heads: int, head_dim: int, layers: int, intermediate: int, vocab: int,
            tokens: int, windows: Sequence[Optional[int]] = (), gated: bool = True, qkv_bias: bool = False,
            positions: Optional[int] = None, tied: bool = False, norm: str = "RMSNorm") -> Dict[str, Any]:
    """A decoder config; ``windows[i]``: layer i's sliding window (None: full attention)."""
    windows = list(windows) or [None] * layers
    attention_args = {"dim": hidden, "heads": heads, "kv_heads": kv_heads, "head_dim": head_dim}
    gqa = kv_heads != heads

    def split(name: str, source: str, count: str) -> List[Dict[str, Any]]:
        return [
            {"type": "Linear", "from": source, "out_features": f"${{{count} * head_dim}}", "bias": qkv_bias,
             "name": f"{name}_proj"},
            {"type": "Reshape", "shape": [-1, f"${count}", "$head_dim"], "name": f"{name}_heads"},
            {"type": "Transpose", "dim0": 1, "dim1": 2, "name": name},
        ]

    sdpa = {"type": "ScaledDotProductAttention", "from": ["q", "k", "v"], "is_causal": True, "enable_gqa": gqa,
            "name": "attend"}
    attention = (split("q", "input", "heads") + split("k", "input", "kv_heads") + split("v", "input", "kv_heads") + [
        sdpa,
        {"type": "Transpose", "dim0": 1, "dim1": 2, "name": "merge"},
        {"type": "Reshape", "shape": [-1, "${heads * head_dim}"], "name": "merged"},
        {"type": "Linear", "out_features": "$dim", "bias": qkv_bias and not gated, "name": "o_proj"},
    ])
    if gated:
        mlp = [
            {"type": "Linear", "out_features": "$intermediate", "bias": False, "name": "gate_proj"},
            {"type": "SiLU", "name": "act"},
            {"type": "Linear", "from": "norm2", "out_features": "$intermediate", "bias": False, "name": "up_proj"},
            {"type": "Multiply", "from": ["act", "up_proj"], "name": "gated"},
            {"type": "Linear", "out_features": "$dim", "bias": False, "name": "down_proj"},
        ]
    else:
        mlp = [
            {"type": "Linear", "out_features": "$intermediate", "name": "c_fc"},
            {"type": "GELU", "approximate": "tanh", "name": "act"},
            {"type": "Linear", "out_features": "$dim", "name": "c_proj"},
        ]

    def block(attention_type: str, sliding: bool) -> List[Dict[str, Any]]:
        use = dict({"type": attention_type, "name": "attn"}, **{k: f"${k}" for k in attention_args})
        if sliding:
            use["window"] = "$window"
        return [
            {"type": norm, "normalized_shape": "$dim", "name": "norm1"},
            use,
            {"type": "Add", "from": ["attn", "input"], "name": "residual1"},
            {"type": norm, "normalized_shape": "$dim", "name": "norm2"},
        ] + mlp + [{"type": "Add", "from": [mlp[-1]["name"], "residual1"], "name": "residual2"}]

    body: List[Dict[str, Any]] = [{"type": "Embedding", "from": "tokens", "num_embeddings": vocab,
                                   "embedding_dim": hidden, "name": "embed"}]
    inputs: Dict[str, Any] = {"tokens": {"shape": [tokens], "dtype": "int64"}}
    if positions:
        inputs["positions"] = {"shape": [tokens], "dtype": "int64"}
        body += [{"type": "Embedding", "from": "positions", "num_embeddings": positions, "embedding_dim": hidden,
                  "name": "wpe"},
                 {"type": "Add", "from": ["embed", "wpe"], "name": "embedded"}]
    for index, window in enumerate(windows):
        use = {"type": "Block" if window is None else "SlidingBlock", "dim": hidden, "heads": heads,
               "kv_heads": kv_heads, "head_dim": head_dim, "intermediate": intermediate, "name": f"layers_{index}"}
        if window is not None:
            use["window"] = window
        body.append(use)
    body.append({"type": norm, "normalized_shape": hidden, "name": "final_norm"})
    head: Dict[str, Any] = {"type": "Linear", "out_features": vocab, "bias": False, "name": "lm_head"}
    if tied:
        head["shares"] = "embed"
    body.append(head)
    return {
        "paramlint": 1, "name": "decoder", "inputs": inputs,
        "blocks": {
            "Attention": {"args": dict(attention_args), "layers": attention},
            "SlidingAttention": {"args": dict(attention_args, window=None),
                                 "layers": attention[:9] + [dict(sdpa, window="$window")] + attention[10:]},
            "Block": {"args": dict(attention_args, intermediate=None), "layers": block("Attention", False)},
            "SlidingBlock": {"args": dict(attention_args, intermediate=None, window=None),
                             "layers": block("SlidingAttention", True)},
        },
        "layers": body,
    }
