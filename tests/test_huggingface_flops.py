"""Forward FLOPs of Hugging Face configs at a declared sequence_length, against FlopCounterMode on the
transformers model (attn_implementation="sdpa", training mode, batch 1).

paramlint counts FLOPs as FlopCounterMode does on the meta device (its
convention: docs/format.md), where SDPA runs as the attention matmuls that
the CPU's fused kernel hides (2 x seq^2 x (head_dim + head_dim) per query
head and layer).  Mixtral runs its experts with experts_implementation="eager"
(transformers' default grouped_mm kernel is invisible to FlopCounterMode), and
its routing (nonzero) cannot run on meta: it is counted on the CPU, plus the
attention matmuls the CPU hides, checked exactly.  Gemma-2 has no SDPA path in
transformers (logit softcapping): its eager attention is counted everywhere.
"""
from __future__ import annotations

import json
from typing import Any, Dict

import pytest

from hf_oracle import torch, transformers
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402
from paramlint.api import lint_text

SEQ = 12
SMALL = {"hidden_size": 48, "intermediate_size": 40, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 2, "vocab_size": 50}
CONFIGS: Dict[str, Dict[str, Any]] = {
    "llama": dict(SMALL, model_type="llama", architectures=["LlamaForCausalLM"], attention_bias=True),
    "mistral": dict(SMALL, model_type="mistral", architectures=["MistralForCausalLM"], sliding_window=5),
    "mixtral": dict(SMALL, model_type="mixtral", architectures=["MixtralForCausalLM"], num_local_experts=4),
    "qwen2": dict(SMALL, model_type="qwen2", architectures=["Qwen2ForSequenceClassification"], pad_token_id=0),
    "qwen3": dict(SMALL, model_type="qwen3", architectures=["Qwen3ForCausalLM"], head_dim=16),
    "gemma": dict(SMALL, model_type="gemma", architectures=["GemmaForCausalLM"], head_dim=8),
    "gemma2": dict(SMALL, model_type="gemma2", architectures=["Gemma2ForCausalLM"], head_dim=8, sliding_window=5),
    "phi3": dict(SMALL, model_type="phi3", architectures=["Phi3ForCausalLM"], pad_token_id=0),
    "gpt2": {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_embd": 48, "n_layer": 2, "n_head": 4,
             "vocab_size": 50, "n_positions": 32},
    "bert": {"model_type": "bert", "architectures": ["BertForSequenceClassification"], "hidden_size": 48,
             "intermediate_size": 40, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 50},
    "vit": {"model_type": "vit", "architectures": ["ViTForImageClassification"], "hidden_size": 48,
            "intermediate_size": 40, "num_hidden_layers": 2, "num_attention_heads": 4, "image_size": 32,
            "patch_size": 8},
}


# Every head besides the one CONFIGS names, on the same small model (ViT has only the two of CONFIGS).
WITH_QA = ("llama", "mistral", "mixtral", "qwen2", "qwen3", "gpt2")
HEADS = {family: ["Model", "ForCausalLM", "ForSequenceClassification", "ForTokenClassification"]
         + (["ForQuestionAnswering"] if family in WITH_QA else []) for family in CONFIGS if family != "vit"}
HEADS["gpt2"] = ["Model", "LMHeadModel", "ForSequenceClassification", "ForTokenClassification",
                 "ForQuestionAnswering", "DoubleHeadsModel"]
HEADS["bert"] = ["Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification",
                 "ForQuestionAnswering", "ForPreTraining", "ForNextSentencePrediction", "LMHeadModel"]
PREFIX = {"llama": "Llama", "mistral": "Mistral", "mixtral": "Mixtral", "qwen2": "Qwen2", "qwen3": "Qwen3",
          "gemma": "Gemma", "gemma2": "Gemma2", "phi3": "Phi3", "gpt2": "GPT2", "bert": "Bert"}
HEAD_CASES = [(family, PREFIX[family] + head) for family, heads in HEADS.items() for head in heads
              if PREFIX[family] + head != CONFIGS[family]["architectures"][0]]


def _ours(config: Dict[str, Any]) -> int:
    text = json.dumps({"paramlint": 1, "huggingface": config, "training": {"sequence_length": SEQ}})
    report = lint_text(text, path="model.json")
    assert report.analysis is not None, [d.message for d in report.diagnostics]
    return report.analysis.flops


def _theirs(config: Dict[str, Any], device: str) -> int:
    fields = dict(config)
    model_type, (cls,) = fields.pop("model_type"), fields.pop("architectures")
    options = {"experts_implementation": "eager"} if model_type == "mixtral" else {}
    attention = "eager" if model_type == "gemma2" else "sdpa"
    hf_config = transformers.AutoConfig.for_model(model_type, **fields, attn_implementation=attention, **options)
    with torch.device(device):
        model = getattr(transformers, cls)(hf_config)
        model.train()
        if model_type == "vit":
            inputs = {"pixel_values": torch.zeros(1, 3, config["image_size"], config["image_size"])}
        else:
            inputs = {"input_ids": torch.ones(1, SEQ, dtype=torch.long)}
    with FlopCounterMode(display=False) as counter:
        model(**inputs)
    return counter.get_total_flops()


def _attention_core(config: Dict[str, Any]) -> int:
    """The attention matmuls (q k^T and weights v) of the whole model, one sample."""
    if config["model_type"] == "gpt2":
        heads, layers, width = config["n_head"], config["n_layer"], config["n_embd"] // config["n_head"]
    else:
        heads, layers = config["num_attention_heads"], config["num_hidden_layers"]
        width = config.get("head_dim", config["hidden_size"] // heads)
    seq = (config["image_size"] // config["patch_size"]) ** 2 + 1 if config["model_type"] == "vit" else SEQ
    return layers * heads * 2 * seq * seq * 2 * width


@pytest.mark.parametrize("family", [f for f in CONFIGS if f != "mixtral"])
def test_flops_equal_flop_counter_on_meta(family):
    assert _ours(CONFIGS[family]) == _theirs(CONFIGS[family], "meta")


def test_mixtral_is_the_cpu_count_plus_the_attention_it_hides():
    config = CONFIGS["mixtral"]
    assert _ours(config) == _theirs(config, "cpu") + _attention_core(config)


@pytest.mark.parametrize("family", ["llama", "qwen3", "vit"])
def test_the_cpu_counter_hides_exactly_the_attention_matmuls(family):
    """Why the convention is meta: on the CPU, SDPA's fused kernel counts 0."""
    config = CONFIGS[family]
    assert _theirs(config, "meta") - _theirs(config, "cpu") == _attention_core(config)


@pytest.mark.parametrize("family,cls", HEAD_CASES, ids=[cls for _, cls in HEAD_CASES])
def test_every_head_flops_equal_flop_counter(family, cls):
    config = dict(CONFIGS[family], architectures=[cls])
    if family == "bert":  # a dropout of the classifier's own and a causal decoder do not change FLOPs
        config.update(classifier_dropout=0.3, is_decoder=cls == "BertLMHeadModel")
    if cls == "GPT2DoubleHeadsModel":  # the multiple-choice summary to hidden_size: its Linear is larger
        config.update(summary_proj_to_labels=False, summary_type="mean", summary_activation="tanh")
    if family == "mixtral":
        assert _ours(config) == _theirs(config, "cpu") + _attention_core(config)
    else:
        assert _ours(config) == _theirs(config, "meta")
