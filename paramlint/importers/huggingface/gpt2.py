"""GPT-2 (``GPT2Model``, ``GPT2LMHeadModel``, ``GPT2ForSequenceClassification``,
``GPT2ForTokenClassification``, ``GPT2ForQuestionAnswering``) as format-1 data.

transformers' ``Conv1D`` is a Linear with a transposed weight: the same
count and FLOPs, so it is written as ``Linear`` under its own name.
"""
from __future__ import annotations

from typing import Any, Dict, List

from .decoder import activation
from .fields import Fields
from .heads import generic_classifier_dropout, question_answering, token_classification

Entry = Dict[str, Any]


def build_gpt2(fields: Fields, head: str, sequence_length: int, checkpointing: bool) -> Dict[str, Any]:
    f = fields
    vocab, hidden, layers_n = f.size("vocab_size"), f.size("n_embd"), f.size("n_layer")
    heads = f.size("n_head")
    head_dim = f.heads(hidden, "n_head", "n_embd")
    inner = f.size("n_inner", 4 * hidden)
    positions = f.size("n_positions")
    eps = f.number("layer_norm_epsilon")
    act = activation(f, "activation_function")
    resid, embd, attn = f.probability("resid_pdrop"), f.probability("embd_pdrop"), f.probability("attn_pdrop")
    tied = f.flag("tie_word_embeddings", True)
    if f.findings:
        return {}
    sdpa: Entry = {"type": "ScaledDotProductAttention", "from": ["q", "k", "v"], "is_causal": True,
                   "name": "attention"}
    if attn:
        sdpa["dropout_p"] = attn
    attention: List[Entry] = [{"type": "Linear", "out_features": 3 * hidden, "name": "c_attn"}]
    for i, part in enumerate("qkv"):
        attention += [{"type": "Slice", "from": "c_attn", "dim": -1, "start": i * hidden, "end": (i + 1) * hidden,
                       "name": f"{part}_part"},
                      {"type": "Reshape", "shape": [-1, heads, head_dim], "name": f"{part}_split"},
                      {"type": "Transpose", "dim0": 1, "dim1": 2, "name": part}]
    attention += [sdpa, {"type": "Transpose", "dim0": 1, "dim1": 2, "name": "merge"},
                  {"type": "Reshape", "shape": [-1, hidden], "name": "merged"},
                  {"type": "Linear", "out_features": hidden, "name": "c_proj"},
                  {"type": "Dropout", "p": resid, "name": "resid_dropout"}]
    mlp = [{"type": "Linear", "out_features": inner, "name": "c_fc"}, dict(act, name="act"),
           {"type": "Linear", "out_features": hidden, "name": "c_proj"},
           {"type": "Dropout", "p": resid, "name": "dropout"}]
    block = [{"type": "LayerNorm", "eps": eps, "name": "ln_1"}, {"type": "GPT2Attention", "name": "attn"},
             {"type": "Add", "from": ["attn", "input"], "name": "attended"},
             {"type": "LayerNorm", "eps": eps, "name": "ln_2"}, {"type": "GPT2MLP", "name": "mlp"},
             {"type": "Add", "from": ["mlp", "attended"], "name": "output"}]
    stack: Entry = {"type": "GPT2Block", "repeat": layers_n, "name": "h"}
    if checkpointing:
        stack["checkpoint"] = True
    layers: List[Entry] = [
        {"type": "Embedding", "num_embeddings": vocab, "embedding_dim": hidden, "name": "wte"},
        {"type": "Parameter", "shape": [positions, hidden], "name": "wpe"},
        {"type": "Slice", "dim": 0, "end": sequence_length, "name": "positions"},
        {"type": "Add", "from": ["wte", "positions"], "name": "embedded"},
        {"type": "Dropout", "p": embd, "name": "drop"},
        stack,
        {"type": "LayerNorm", "eps": eps, "name": "ln_f"},
    ]
    if head == "LMHeadModel":
        lm_head: Entry = {"type": "Linear", "out_features": vocab, "bias": False, "name": "lm_head"}
        if tied:
            lm_head["shares"] = "wte"
        layers.append(lm_head)
    elif head == "ForSequenceClassification":
        layers += [{"type": "Linear", "out_features": f.num_labels(), "bias": False, "name": "score"},
                   {"type": "Select", "dim": 1, "index": -1, "name": "pooled_logits"}]
    elif head == "ForTokenClassification":
        layers += token_classification(f, dropout=generic_classifier_dropout(f), bias=True, name="classifier")
    elif head == "ForQuestionAnswering":
        layers += question_answering()
    return {"inputs": {"input_ids": {"shape": [sequence_length], "dtype": "int64"}},
            "blocks": {"GPT2Attention": {"layers": attention}, "GPT2MLP": {"layers": mlp},
                       "GPT2Block": {"layers": block}},
            "layers": layers}
