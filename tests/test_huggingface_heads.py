"""The task heads against transformers: the model's output is the logits tensor the class returns, of
the same shape (every head of every family), and what each head adds to
the tensors autograd saves equals what it adds in transformers (saved_tensors_hooks, fp32, CPU, batch
3; see test_huggingface_memory.py).

The decoders are byte-exact with every head.  GPT-2's and BERT's bodies differ from transformers by a
fixed amount that does not depend on the head (their eager parts that paramlint does not model yet), so
each head is checked as the difference from its family's base model.  BertForPreTraining has two outputs
and paramlint's graph one (the MLM logits): its next-sentence ``seq_relationship`` gets no gradient in
paramlint, so the input it saves (the pooled ``[batch, hidden]``) is the one known difference; likewise
GPT2DoubleHeadsModel's multiple-choice head beside its LM logits.
"""
from __future__ import annotations

from typing import Any, Dict

import pytest

from hf_oracle import lint_config, torch, transformers
from test_huggingface_flops import CONFIGS, HEAD_CASES, SEQ
from test_huggingface_memory import BATCH, FAMILIES, ours, theirs

GPT2 = {"model_type": "gpt2", "n_embd": 32, "n_layer": 2, "n_head": 4, "vocab_size": 50, "n_positions": 16}
BERT = {"model_type": "bert", "hidden_size": 32, "intermediate_size": 40, "num_hidden_layers": 2,
        "num_attention_heads": 4, "vocab_size": 50, "classifier_dropout": 0.2}


def _their_logits(config: Dict[str, Any]) -> Any:
    """The logits the class returns for one sample of SEQ tokens (QA: start and end stacked
    as the [seq, 2] tensor they were split from; pre-training: the MLM logits)."""
    fields = dict(config)
    model_type, (cls,) = fields.pop("model_type"), fields.pop("architectures")
    options = {"experts_implementation": "eager"} if model_type == "mixtral" else {}
    hf_config = transformers.AutoConfig.for_model(model_type, **fields, **options)
    with torch.device("cpu" if model_type == "mixtral" else "meta"):  # routing (nonzero) cannot run on meta
        out = getattr(transformers, cls)(hf_config)(input_ids=torch.ones(1, SEQ, dtype=torch.long))
    if "start_logits" in out:
        return torch.stack([out.start_logits, out.end_logits], dim=-1)
    for name in ("prediction_logits", "logits", "pooler_output", "last_hidden_state"):
        if name in out:
            return out[name]
    raise AssertionError(list(out))


@pytest.mark.parametrize("family,cls", HEAD_CASES, ids=[cls for _, cls in HEAD_CASES])
def test_the_output_is_the_logits_transformers_returns(family, cls):
    config = dict(CONFIGS[family], architectures=[cls])
    report = lint_config(dict(config, **({"n_positions": SEQ} if family == "gpt2" else
                                         {"max_position_embeddings": SEQ})))
    assert report.analysis is not None, report.diagnostics
    assert report.analysis.shapes.output.shape == tuple(_their_logits(config).shape[1:])


def _gap(config: Dict[str, Any], cls: str) -> int:
    config = dict(config, architectures=[cls])
    return theirs(config, "fp32", False) - ours(config, "fp32", False)


@pytest.mark.parametrize("cls", ["LlamaForTokenClassification", "LlamaForQuestionAnswering"])
def test_decoder_heads_save_what_transformers_saves(cls):
    assert _gap(FAMILIES["llama"], cls) == 0


@pytest.mark.parametrize("cls", ["Qwen3ForTokenClassification", "Qwen3ForQuestionAnswering"])
def test_qwen3_heads(cls):
    assert _gap(FAMILIES["qwen3"], cls) == 0


@pytest.mark.parametrize("config,base,cls,extra", [
    (GPT2, "GPT2Model", "GPT2ForTokenClassification", 0),
    (GPT2, "GPT2Model", "GPT2ForQuestionAnswering", 0),
    (BERT, "BertModel", "BertForTokenClassification", 0),
    (BERT, "BertModel", "BertForQuestionAnswering", 0),
    (BERT, "BertModel", "BertForNextSentencePrediction", 0),
    (BERT, "BertModel", "BertLMHeadModel", 0),
    (BERT, "BertModel", "BertForPreTraining", BATCH * BERT["hidden_size"] * 4),
    # the multiple-choice branch: cls_index's gather index (int64 [batch, 1, hidden]), the dropout's mask and
    # the Linear's input (float32 [batch, hidden] each on the CPU)
    (GPT2, "GPT2LMHeadModel", "GPT2DoubleHeadsModel", BATCH * GPT2["n_embd"] * (8 + 4 + 4)),
])
def test_gpt2_and_bert_heads_add_what_transformers_adds(config, base, cls, extra):
    assert _gap(config, cls) - _gap(config, base) == extra
