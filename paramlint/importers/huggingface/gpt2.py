"""GPT-2 (``GPT2Model``, ``GPT2LMHeadModel``, ``GPT2ForSequenceClassification``,
``GPT2ForTokenClassification``, ``GPT2ForQuestionAnswering``, ``GPT2DoubleHeadsModel``) as format-1 data.

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
    if head == "DoubleHeadsModel":
        layers += _multiple_choice_head(f, hidden)
    if head in ("LMHeadModel", "DoubleHeadsModel"):
        lm_head: Entry = {"type": "Linear", "from": "ln_f", "out_features": vocab, "bias": False, "name": "lm_head"}
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


_SUMMARY_TOKEN = {"last": -1, "first": 0, "cls_index": -1}  # cls_index without mc_token_ids: the last token


def _multiple_choice_head(f: Fields, hidden: int) -> List[Entry]:
    """``GPT2DoubleHeadsModel.multiple_choice_head`` (``GPT2SequenceSummary``) on ``ln_f``: one token's
    (or the mean) hidden state, dropout, a Linear to 1 (``num_labels`` is set to 1), an activation,
    dropout; its last layer is named ``mc_logits``.  The class returns two tensors and a graph has one
    output: the model's output is the LM logits, and this head is a side branch (counted in parameters
    and FLOPs, without gradient in the memory model).  Without ``mc_token_ids``, ``cls_index`` takes
    the last token; with them, one token per sequence all the same (a gather: no parameters, no FLOPs)."""
    summary_type = f.text("summary_type")
    if summary_type == "mean":
        layers: List[Entry] = [{"type": "Mean", "from": "ln_f", "dim": 1, "name": "mc_token"}]
    elif summary_type in _SUMMARY_TOKEN:
        layers = [{"type": "Select", "from": "ln_f", "dim": 1, "index": _SUMMARY_TOKEN[summary_type],
                   "name": "mc_token"}]
    else:
        f.error("PL205", f"`summary_type` {summary_type!r} is not one transformers implements: "
                         f"{', '.join(sorted(_SUMMARY_TOKEN))}, mean", ("summary_type",))
        return []
    first = f.probability("summary_first_dropout")
    if first > 0:
        layers.append({"type": "Dropout", "p": first, "name": "mc_first_dropout"})
    if f.flag("summary_use_proj"):
        out = 1 if f.flag("summary_proj_to_labels") else hidden
        layers.append({"type": "Linear", "out_features": out, "name": "mc_summary"})
    if f.raw("summary_activation") is not None:
        act = {"type": "Tanh"} if f.raw("summary_activation") == "tanh" else activation(f, "summary_activation")
        layers.append(dict(act, name="mc_activation"))
    last = f.probability("summary_last_dropout") if f.given("summary_last_dropout") else 0.0
    if last > 0:
        layers.append({"type": "Dropout", "p": last, "name": "mc_last_dropout"})
    layers[-1]["name"] = "mc_logits"
    return layers


# The top-level layer the graph leaves unread on purpose (the second output of GPT2DoubleHeadsModel).
UNREAD = ("mc_logits",)
