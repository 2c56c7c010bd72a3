"""The decoder families (llama, mistral, mixtral, qwen2, qwen3, gemma, gemma2,
phi3) as format-1 data, module for module as transformers builds them.

Names follow transformers' module names (``embed_tokens``,
``layers.3.self_attn.q_proj``, ``mlp.down_proj``, ``lm_head``...), so that a
LoRA ``target_modules`` list matches them as peft does.  Self-attention is a
``ScaledDotProductAttention`` with ``is_causal: true`` on key and value heads
``[num_key_value_heads, seq, head_dim]`` (``enable_gqa`` where they are
grouped), ``window`` on sliding-window layers.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from .fields import Fields
from .heads import decoder_head

Entry = Dict[str, Any]

_INPUTS = ("input", "cos", "sin")  # a decoder layer's: the hidden states and the model's rotary tables
MAX_LAYERS = 100_000  # graph.MAX_NODES: more decoder layers could never be expanded

_ACTIVATIONS = {"silu": {"type": "SiLU"}, "swish": {"type": "SiLU"}, "gelu": {"type": "GELU"},
                "gelu_pytorch_tanh": {"type": "GELU", "approximate": "tanh"},
                "gelu_new": {"type": "GELU", "approximate": "tanh"}, "relu": {"type": "ReLU"}}


def activation(fields: Fields, name: str) -> Entry:
    value = fields.text(name)
    if value not in _ACTIVATIONS:
        fields.error("PL202", f"`{name}` {value!r} is not an activation paramlint knows: "
                              f"{', '.join(sorted(_ACTIVATIONS))}", (name,))
        return {"type": "SiLU"}
    return dict(_ACTIVATIONS[value])


class DecoderShape:
    """The numbers of one decoder config, read once."""

    def __init__(self, fields: Fields) -> None:
        f = self.fields = fields
        family = f.family
        self.family = family
        self.vocab = f.size("vocab_size")
        self.hidden = f.size("hidden_size")
        self.inner = f.size("intermediate_size")
        self.layers = f.size("num_hidden_layers")
        if self.layers > MAX_LAYERS:  # checked before a per-layer list is made
            f.error("PL103", f"`num_hidden_layers` {self.layers:,} is more than paramlint expands "
                             f"({MAX_LAYERS:,})", ("num_hidden_layers",))
            self.layers = 1
        self.heads = f.size("num_attention_heads")
        self.head_dim = f.heads(self.hidden, "num_attention_heads", "hidden_size", head_dim_name="head_dim")
        self.kv_heads = f.kv_heads(self.heads)
        self.max_positions = f.size("max_position_embeddings")
        self.eps = f.number("rms_norm_eps")
        self.tied = f.flag("tie_word_embeddings")
        self.attention_bias = f.flag("attention_bias") if family in ("llama", "qwen3", "gemma", "gemma2") else False
        self.qkv_bias = True if family == "qwen2" else self.attention_bias
        self.mlp_bias = f.flag("mlp_bias") if family == "llama" else False
        self.act = activation(f, "hidden_act")
        self.attention_dropout = f.probability("attention_dropout")
        self.theta = self._rope_theta()
        self.rotary_dim = self._rotary_dim()
        self.experts = f.size("num_local_experts") if family == "mixtral" else 0
        self.top_k = f.size("num_experts_per_tok") if family == "mixtral" else 0
        self.windows = self._windows()

    def _rope(self) -> Dict[str, Any]:
        rope = self.fields.data.get("rope_parameters") or self.fields.data.get("rope_scaling") or {}
        return rope if isinstance(rope, dict) else {}

    def _rope_theta(self) -> float:
        theta = self._rope().get("rope_theta")
        if isinstance(theta, (int, float)) and not isinstance(theta, bool) and theta > 0:
            return float(theta)
        return self.fields.number("rope_theta", 10000.0)

    def _rotary_dim(self) -> int:
        """transformers' default rope uses the whole head, but Phi-3 and the scaled rope types
        (llama3, yarn, longrope, ...) keep only ``int(head_dim * partial_rotary_factor)``."""
        rope = self._rope()
        rope_type = rope.get("rope_type", rope.get("type", "default"))
        if self.family != "phi3" and rope_type == "default":
            return self.head_dim
        factor = rope.get("partial_rotary_factor", self.fields.data.get("partial_rotary_factor", 1.0))
        if not isinstance(factor, (int, float)) or isinstance(factor, bool) or not 0 < factor <= 1:
            self.fields.error("PL202", f"`partial_rotary_factor` must be in (0, 1], got {factor!r}",
                              ("partial_rotary_factor",))
            return self.head_dim
        return int(self.head_dim * factor)

    def _windows(self) -> List[Optional[int]]:
        """The sliding window of each layer (None: full attention), as transformers' ``layer_types``."""
        f, n = self.fields, self.layers
        window = f.raw("sliding_window")
        if self.family == "gemma2":
            types = f.data.get("layer_types")
            if not isinstance(types, list) or len(types) != n:
                types = ["sliding_attention" if (i + 1) % 2 else "full_attention" for i in range(n)]
            size = f.size("sliding_window")
            return [size if t == "sliding_attention" else None for t in types]
        if self.family in ("qwen2", "qwen3"):
            if not f.flag("use_sliding_window") or window is None:
                return [None] * n
            size = f.size("sliding_window")
            start = f.size("max_window_layers", minimum=0)
            return [size if i >= start else None for i in range(n)]
        if self.family in ("mistral", "mixtral", "phi3") and window is not None:
            return [f.size("sliding_window")] * n
        return [None] * n


def _attention(s: DecoderShape, window: Optional[int], cache: bool) -> List[Entry]:
    q_width, kv_width = s.heads * s.head_dim, s.kv_heads * s.head_dim
    layers: List[Entry] = []
    if s.family == "phi3":
        layers.append({"type": "Linear", "out_features": q_width + 2 * kv_width, "bias": False, "name": "qkv_proj"})
        starts = {"q": (0, q_width), "k": (q_width, q_width + kv_width), "v": (q_width + kv_width, None)}
        for part, (start, end) in starts.items():
            entry: Entry = {"type": "Slice", "from": "qkv_proj", "dim": -1, "start": start, "name": f"{part}_part"}
            if end is not None:
                entry["end"] = end
            layers.append(entry)
    else:
        for part, width in (("q", q_width), ("k", kv_width), ("v", kv_width)):
            layers.append({"type": "Linear", "from": "input", "out_features": width, "bias": s.qkv_bias,
                           "name": f"{part}_proj"})
    for part, heads in (("q", s.heads), ("k", s.kv_heads), ("v", s.kv_heads)):
        source = f"{part}_part" if s.family == "phi3" else f"{part}_proj"
        split = "Reshape"
        if s.family == "phi3" and (part == "q" or not cache):
            # Phi-3's q, k, v are views of its fused projection (`.view`); in a forward with the KV cache
            # (use_cache, off under gradient checkpointing), the cache's torch.cat makes k and v new
            # tensors, which the Reshape's copy of the slice stands for.
            split = "View"
        layers.append({"type": split, "from": source, "shape": [-1, heads, s.head_dim], "name": f"{part}_split"})
        if s.family == "qwen3" and part != "v":
            layers.append(_norm(s, f"{part}_norm"))
        layers.append({"type": "Transpose", "dim0": 1, "dim1": 2, "name": f"{part}_heads"})
        if part != "v":
            rotary: Entry = {"type": "ApplyRotary", "from": [f"{part}_heads", "cos", "sin"], "name": f"{part}_rotary"}
            if s.family == "phi3":  # its apply_rotary_pos_emb always ends in torch.cat
                rotary["concatenate"] = True
            layers.append(rotary)
    sdpa: Entry = {"type": "ScaledDotProductAttention", "from": ["q_rotary", "k_rotary", "v_heads"],
                   "is_causal": True, "name": "attention"}
    if s.kv_heads != s.heads:
        sdpa["enable_gqa"] = True
    if s.attention_dropout:
        sdpa["dropout_p"] = s.attention_dropout
    if s.family == "gemma2":
        sdpa["scale"] = s.fields.size("query_pre_attn_scalar") ** -0.5
    if window is not None:
        sdpa["window"] = window
    layers += [sdpa,
               {"type": "Transpose", "dim0": 1, "dim1": 2, "name": "merge"},
               {"type": "Reshape", "shape": [-1, q_width], "name": "merged"},
               {"type": "Linear", "out_features": s.hidden, "bias": s.attention_bias, "name": "o_proj"}]
    return layers


def _mlp(s: DecoderShape) -> List[Entry]:
    if s.experts:
        return [{"type": "Linear", "out_features": s.experts, "bias": False, "name": "gate"},
                {"type": "Experts", "from": ["input", "gate"], "num_experts": s.experts,
                 "intermediate_size": s.inner, "top_k": s.top_k, "name": "experts"}]
    act = dict(s.act, name="act_fn")
    if s.family == "phi3":
        return [{"type": "Linear", "out_features": 2 * s.inner, "bias": False, "name": "gate_up_proj"},
                {"type": "Slice", "dim": -1, "end": s.inner, "name": "gate"},
                act,
                {"type": "Slice", "from": "gate_up_proj", "dim": -1, "start": s.inner, "name": "up"},
                {"type": "Multiply", "from": ["up", "act_fn"], "name": "gated"},
                {"type": "Linear", "out_features": s.hidden, "bias": False, "name": "down_proj"}]
    return [{"type": "Linear", "out_features": s.inner, "bias": s.mlp_bias, "name": "gate_proj"},
            act,
            {"type": "Linear", "from": "input", "out_features": s.inner, "bias": s.mlp_bias, "name": "up_proj"},
            {"type": "Multiply", "from": ["act_fn", "up_proj"], "name": "gated"},
            {"type": "Linear", "out_features": s.hidden, "bias": s.mlp_bias, "name": "down_proj"}]


def _norm(s: DecoderShape, name: str, source: Optional[str] = None) -> Entry:
    """transformers' RMSNorm, which computes in float32: Gemma's scales by ``1 + weight``."""
    entry: Entry = {"type": "RMSNorm", "eps": s.eps, "name": name}
    entry["unit_offset" if s.family in ("gemma", "gemma2") else "upcast"] = True
    if source is not None:
        entry["from"] = source
    return entry


def _decoder_layer(s: DecoderShape, attention: str) -> List[Entry]:
    dropout = s.fields.probability("resid_pdrop") if s.family == "phi3" else 0.0
    attn_out, mlp_out = "self_attn", "mlp"
    if dropout:  # Phi-3's resid_attn_dropout and resid_mlp_dropout
        attn_out, mlp_out = "resid_attn_dropout", "resid_mlp_dropout"
    if s.family == "gemma2":
        return [_norm(s, "input_layernorm", "input"), {"type": attention, "from": ["input_layernorm", "cos", "sin"], "name": "self_attn"},
                _norm(s, "post_attention_layernorm"),
                {"type": "Add", "from": ["post_attention_layernorm", "input"], "name": "attended"},
                _norm(s, "pre_feedforward_layernorm"), {"type": "MLP", "name": "mlp"},
                _norm(s, "post_feedforward_layernorm"),
                {"type": "Add", "from": ["post_feedforward_layernorm", "attended"], "name": "output"}]
    layers: List[Entry] = [_norm(s, "input_layernorm", "input"), {"type": attention, "from": ["input_layernorm", "cos", "sin"], "name": "self_attn"}]
    if dropout:
        layers.append({"type": "Dropout", "p": dropout, "name": attn_out})
    layers += [{"type": "Add", "from": [attn_out, "input"], "name": "attended"},
               _norm(s, "post_attention_layernorm"), {"type": "MLP", "name": "mlp"}]
    if dropout:
        layers.append({"type": "Dropout", "p": dropout, "name": mlp_out})
    return layers + [{"type": "Add", "from": [mlp_out, "attended"], "name": "output"}]


def build_decoder(fields: Fields, head: str, sequence_length: int, checkpointing: bool) -> Dict[str, Any]:
    """Format-1 data for a decoder family; ``head`` is the class suffix (``ForCausalLM``, ``Model``, ...)."""
    s = DecoderShape(fields)
    if fields.findings:
        return {}
    blocks: Dict[str, Any] = {"MLP": {"layers": _mlp(s)}}
    for window in sorted(set(s.windows), key=lambda w: (w is not None, w or 0)):
        suffix = "" if window is None else f"Window{window}"
        cache = fields.flag("use_cache", True) and not checkpointing
        blocks[f"Attention{suffix}"] = {"inputs": list(_INPUTS), "layers": _attention(s, window, cache)}
        blocks[f"DecoderLayer{suffix}"] = {"inputs": list(_INPUTS), "layers": _decoder_layer(s, f"Attention{suffix}")}
    layers: List[Entry] = [{"type": "Embedding", "num_embeddings": s.vocab, "embedding_dim": s.hidden,
                            "name": "embed_tokens"}]
    if s.family in ("gemma", "gemma2"):
        layers += [{"type": "Buffer", "shape": [], "name": "embed_scale"},
                   {"type": "Multiply", "from": ["embed_tokens", "embed_scale"], "name": "embedded"}]
    if s.family == "phi3" and fields.probability("embd_pdrop"):
        layers.append({"type": "Dropout", "p": fields.probability("embd_pdrop"), "name": "embed_dropout"})
    last = layers[-1]["name"]
    layers.append({"type": "RotaryEmbedding", "dim": s.rotary_dim, "base": s.theta, "name": "rotary_emb"})
    layers += _stack(s, last, checkpointing)
    layers.append(_norm(s, "norm"))
    if head in ("ForCausalLM",):
        lm_head: Entry = {"type": "Linear", "out_features": s.vocab, "bias": False, "name": "lm_head"}
        if s.tied:
            lm_head["shares"] = "embed_tokens"
        layers.append(lm_head)
    elif head == "ForSequenceClassification":
        layers += [{"type": "Linear", "out_features": fields.num_labels(), "bias": False, "name": "score"},
                   {"type": "Select", "dim": 1, "index": -1, "name": "pooled_logits"}]
    else:
        layers += decoder_head(fields, head)
    return {"inputs": {"input_ids": {"shape": [sequence_length], "dtype": "int64"}}, "blocks": blocks,
            "layers": layers}


def _stack(s: DecoderShape, source: str, checkpointing: bool) -> List[Entry]:
    """The decoder layers: one repeated entry where all are alike, else runs of equal layers."""
    runs: List[List[Any]] = []
    for window in s.windows:
        if runs and runs[-1][0] == window:
            runs[-1][1] += 1
        else:
            runs.append([window, 1])
    entries: List[Entry] = []
    for i, (window, count) in enumerate(runs):
        entry: Entry = {"type": "DecoderLayer" + ("" if window is None else f"Window{window}"),
                        "name": "layers" if len(runs) == 1 else f"layers_{i}"}
        entry["from"] = [source if i == 0 else entries[-1]["name"], "rotary_emb.0", "rotary_emb.1"]
        if count > 1:
            entry["repeat"] = count
        if checkpointing:
            entry["checkpoint"] = True
        entries.append(entry)
    return entries
