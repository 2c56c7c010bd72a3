"""BERT (``BertModel``, ``BertForMaskedLM``, ``BertForSequenceClassification``,
``BertForTokenClassification``, ``BertForQuestionAnswering``, ``BertForPreTraining``,
``BertForNextSentencePrediction``, ``BertLMHeadModel``) as format-1 data.

The embeddings keep two int64 buffers of ``max_position_embeddings``
(``position_ids``, ``token_type_ids``), which ``.buffers()`` counts; the
token types are all 0, as when a model is called without them.
"""
from __future__ import annotations

from typing import Any, Dict, List

from .decoder import activation
from .fields import Fields
from .heads import question_answering, token_classification

Entry = Dict[str, Any]


def encoder_attention(hidden: int, heads: int, head_dim: int, bias: bool, dropout: float,
                      names: Dict[str, str], *, causal: bool = False) -> List[Entry]:
    """Multi-head attention on separate q/k/v Linears (BERT's and ViT's), bidirectional unless ``causal``."""
    layers: List[Entry] = []
    for part in ("q", "k", "v"):
        layers += [{"type": "Linear", "from": "input", "out_features": heads * head_dim, "bias": bias,
                    "name": names[part]},
                   {"type": "Reshape", "shape": [-1, heads, head_dim], "name": f"{part}_split"},
                   {"type": "Transpose", "dim0": 1, "dim1": 2, "name": f"{part}_heads"}]
    sdpa: Entry = {"type": "ScaledDotProductAttention", "from": ["q_heads", "k_heads", "v_heads"],
                   "name": "attention"}
    if causal:
        sdpa["is_causal"] = True
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
    causal = f.flag("is_decoder")  # BertLayer's self-attention is causal in a decoder
    if f.flag("add_cross_attention"):
        f.error("PL205", "`add_cross_attention` (BERT as the decoder of an encoder-decoder model) is not one "
                         "paramlint builds", ("add_cross_attention",))
    if f.findings:
        return {}
    attention = encoder_attention(hidden, heads, head_dim, True, attn_drop, {"q": "query", "k": "key", "v": "value"},
                                  causal=causal)
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
    layers += _bert_head(f, head, hidden=hidden, vocab=vocab, drop=drop, eps=eps, act=act, tied=tied)
    return {"inputs": {"input_ids": {"shape": [sequence_length], "dtype": "int64"}},
            "blocks": {"BertAttention": {"layers": attention}, "BertLayer": {"layers": layer}},
            "layers": layers}


# The heads whose BertModel keeps its pooler (the others pass add_pooling_layer=False).
_POOLED = ("Model", "ForSequenceClassification", "ForPreTraining", "ForNextSentencePrediction")


def _mlm_head(vocab: int, hidden: int, eps: float, act: Entry, tied: bool) -> List[Entry]:
    """``cls.predictions``: transform (dense, activation, LayerNorm), then the decoder to the vocabulary,
    its weight tied to the word embeddings and its bias to ``predictions.bias`` when the embeddings are tied."""
    decoder: Entry = {"type": "Linear", "out_features": vocab, "name": "decoder"}
    layers: List[Entry] = []
    if tied:
        decoder["shares"] = "word_embeddings"
    else:  # transformers ties decoder.bias to predictions.bias only along with the weight
        layers.append({"type": "Parameter", "shape": [vocab], "name": "predictions_bias"})
    return layers + [{"type": "Linear", "from": "layer", "out_features": hidden, "name": "transform_dense"},
                     dict(act, name="transform_act_fn"),
                     {"type": "LayerNorm", "eps": eps, "name": "transform_LayerNorm"}, decoder]


def _bert_head(f: Fields, head: str, *, hidden: int, vocab: int, drop: float, eps: float, act: Entry,
               tied: bool) -> List[Entry]:
    """The layers after the encoder: the pooler where ``BertModel`` keeps it, then the class's head.

    ``BertForPreTraining`` returns two tensors (the MLM logits and the next-sentence logits) and a
    format-1 graph has one output: the model's output is the MLM logits, and the next-sentence
    ``seq_relationship`` on the pooled first token comes before the MLM head as a side branch (counted
    in parameters and FLOPs; see :data:`UNREAD`)."""
    layers: List[Entry] = []
    if head in _POOLED:
        layers += [{"type": "Select", "dim": 1, "index": 0, "name": "first_token"},
                   {"type": "Linear", "out_features": hidden, "name": "pooler_dense"},
                   {"type": "Tanh", "name": "pooler_activation"}]
    # classifier_dropout when the config states it, else hidden_dropout_prob
    dropout = f.probability("classifier_dropout") if f.given("classifier_dropout") else drop
    if head == "ForSequenceClassification":
        layers += [{"type": "Dropout", "p": dropout, "name": "classifier_dropout"},
                   {"type": "Linear", "out_features": f.num_labels(), "name": "classifier"}]
    elif head == "ForTokenClassification":
        layers += token_classification(f, dropout=dropout, bias=True, name="classifier")
    elif head == "ForQuestionAnswering":  # BERT's qa_outputs has num_labels outputs (2 by default)
        layers += question_answering(f.num_labels())
    elif head == "ForNextSentencePrediction":
        layers.append({"type": "Linear", "out_features": 2, "name": "seq_relationship"})
    elif head == "ForPreTraining":
        layers.append({"type": "Linear", "out_features": 2, "name": "seq_relationship"})
        layers += _mlm_head(vocab, hidden, eps, act, tied)
    elif head in ("ForMaskedLM", "LMHeadModel"):
        layers += _mlm_head(vocab, hidden, eps, act, tied)
    return layers


# Top-level layers whose output the graph does not read: the embeddings' registered buffers (the
# positions and token types are slices of the tables), BertForPreTraining's next-sentence logits,
# and an untied MLM head's ``predictions.bias``, which transformers keeps but its forward never uses.
UNREAD = ("position_ids", "token_type_ids", "seq_relationship", "predictions_bias")
