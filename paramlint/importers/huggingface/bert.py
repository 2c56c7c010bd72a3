"""BERT (``BertModel``, ``BertForMaskedLM``, ``BertForSequenceClassification``) as format-1 data.

The embeddings keep two int64 buffers of ``max_position_embeddings``
(``position_ids``, ``token_type_ids``), which ``.buffers()`` counts; the
token types are all 0, as when a model is called without them.
"""
from __future__ import annotations

from typing import Any, Dict, List

from .decoder import activation
from .fields import Fields

Entry = Dict[str, Any]


def encoder_attention(hidden: int, heads: int, head_dim: int, bias: bool, dropout: float,
                      names: Dict[str, str]) -> List[Entry]:
    """Bidirectional multi-head attention on separate q/k/v Linears (BERT's and ViT's)."""
    layers: List[Entry] = []
    for part in ("q", "k", "v"):
        layers += [{"type": "Linear", "from": "input", "out_features": heads * head_dim, "bias": bias,
                    "name": names[part]},
                   {"type": "Reshape", "shape": [-1, heads, head_dim], "name": f"{part}_split"},
                   {"type": "Transpose", "dim0": 1, "dim1": 2, "name": f"{part}_heads"}]
    sdpa: Entry = {"type": "ScaledDotProductAttention", "from": ["q_heads", "k_heads", "v_heads"],
                   "name": "attention"}
    if dropout:
        sdpa["dropout_p"] = dropout
    return layers + [sdpa, {"type": "Transpose", "dim0": 1, "dim1": 2, "name": "merge"},
                     {"type": "Reshape", "shape": [-1, heads * head_dim], "name": "merged"}]


def build_bert(fields: Fields, head: str, sequence_length: int, checkpointing: bool) -> Dict[str, Any]:
    f = fields
    vocab, hidden, inner = f.size("vocab_size"), f.size("hidden_size"), f.size("intermediate_size")
    layers_n, heads = f.size("num_hidden_layers"), f.size("num_attention_heads")
    head_dim = f.heads(hidden, "num_attention_heads", "hidden_size")
    positions, types = f.size("max_position_embeddings"), f.size("type_vocab_size")
    eps = f.number("layer_norm_eps")
    act = activation(f, "hidden_act")
    drop, attn_drop = f.probability("hidden_dropout_prob"), f.probability("attention_probs_dropout_prob")
    tied = f.flag("tie_word_embeddings", True)
    if f.findings:
        return {}
    attention = encoder_attention(hidden, heads, head_dim, True, attn_drop, {"q": "query", "k": "key", "v": "value"})
    attention += [{"type": "Linear", "out_features": hidden, "name": "dense"},
                  {"type": "Dropout", "p": drop, "name": "dropout"},
                  {"type": "Add", "from": ["dropout", "input"], "name": "attended"},
                  {"type": "LayerNorm", "eps": eps, "name": "LayerNorm"}]
    layer = [{"type": "BertAttention", "name": "attention"},
             {"type": "Linear", "out_features": inner, "name": "intermediate"}, dict(act, name="act"),
             {"type": "Linear", "out_features": hidden, "name": "dense"},
             {"type": "Dropout", "p": drop, "name": "dropout"},
             {"type": "Add", "from": ["dropout", "attention"], "name": "residual"},
             {"type": "LayerNorm", "eps": eps, "name": "LayerNorm"}]
    stack: Entry = {"type": "BertLayer", "repeat": layers_n, "name": "layer"}
    if checkpointing:
        stack["checkpoint"] = True
    layers: List[Entry] = [
        {"type": "Embedding", "num_embeddings": vocab, "embedding_dim": hidden, "name": "word_embeddings"},
        {"type": "Parameter", "shape": [positions, hidden], "name": "position_embeddings"},
        {"type": "Slice", "dim": 0, "end": sequence_length, "name": "positions"},
        {"type": "Parameter", "shape": [types, hidden], "name": "token_type_embeddings"},
        {"type": "Slice", "dim": 0, "end": 1, "name": "token_types"},
        {"type": "Buffer", "shape": [1, positions], "dtype": "int64", "name": "position_ids"},
        {"type": "Buffer", "shape": [1, positions], "dtype": "int64", "name": "token_type_ids"},
        {"type": "Add", "from": ["word_embeddings", "token_types", "positions"], "name": "embedded"},
        {"type": "LayerNorm", "eps": eps, "name": "embeddings_LayerNorm"},
        {"type": "Dropout", "p": drop, "name": "embeddings_dropout"},
        stack,
    ]
    if head in ("Model", "ForSequenceClassification"):
        layers += [{"type": "Select", "dim": 1, "index": 0, "name": "first_token"},
                   {"type": "Linear", "out_features": hidden, "name": "pooler_dense"},
                   {"type": "Tanh", "name": "pooler_activation"}]
    if head == "ForSequenceClassification":
        layers += [{"type": "Dropout", "p": drop, "name": "classifier_dropout"},
                   {"type": "Linear", "out_features": f.num_labels(), "name": "classifier"}]
    elif head == "ForMaskedLM":
        decoder: Entry = {"type": "Linear", "out_features": vocab, "name": "decoder"}
        if tied:
            decoder["shares"] = "word_embeddings"
        if not tied:  # transformers ties decoder.bias to predictions.bias only along with the weight
            layers.append({"type": "Parameter", "shape": [vocab], "name": "predictions_bias"})
        layers += [{"type": "Linear", "from": "layer", "out_features": hidden, "name": "transform_dense"},
                   dict(act, name="transform_act_fn"),
                   {"type": "LayerNorm", "eps": eps, "name": "transform_LayerNorm"}, decoder]
    return {"inputs": {"input_ids": {"shape": [sequence_length], "dtype": "int64"}},
            "blocks": {"BertAttention": {"layers": attention}, "BertLayer": {"layers": layer}},
            "layers": layers}
