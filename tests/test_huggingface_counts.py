"""Parameter and buffer counts of Hugging Face configs, against transformers on the meta device.

The table holds published configs, written as their field values (facts);
every family is checked with each head paramlint builds for it.
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import pytest

from hf_oracle import ours, theirs, with_head

LLAMA_2_7B = {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008, "num_attention_heads": 32,
              "num_hidden_layers": 32, "num_key_value_heads": 32, "vocab_size": 32000,
              "max_position_embeddings": 4096, "rms_norm_eps": 1e-05, "tie_word_embeddings": False,
              "rope_scaling": None}
LLAMA_3_8B = {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
              "num_hidden_layers": 32, "num_key_value_heads": 8, "vocab_size": 128256,
              "max_position_embeddings": 8192, "rope_theta": 500000.0, "rms_norm_eps": 1e-05}
LLAMA_3_70B = {"model_type": "llama", "hidden_size": 8192, "intermediate_size": 28672, "num_attention_heads": 64,
               "num_hidden_layers": 80, "num_key_value_heads": 8, "vocab_size": 128256,
               "max_position_embeddings": 8192, "rope_theta": 500000.0, "rms_norm_eps": 1e-05,
               "attention_bias": False, "tie_word_embeddings": False}
LLAMA_3_1_8B = dict(LLAMA_3_8B, max_position_embeddings=131072, rope_scaling={
    "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192,
    "rope_type": "llama3"})
MISTRAL_7B = {"model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
              "num_hidden_layers": 32, "num_key_value_heads": 8, "vocab_size": 32000,
              "max_position_embeddings": 32768, "sliding_window": 4096, "rope_theta": 10000.0,
              "rms_norm_eps": 1e-05}
MIXTRAL_8X7B = {"model_type": "mixtral", "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
                "num_hidden_layers": 32, "num_key_value_heads": 8, "vocab_size": 32000,
                "max_position_embeddings": 32768, "num_local_experts": 8, "num_experts_per_tok": 2,
                "rope_theta": 1000000.0, "sliding_window": None, "rms_norm_eps": 1e-05}
QWEN2_7B = {"model_type": "qwen2", "hidden_size": 3584, "intermediate_size": 18944, "num_attention_heads": 28,
            "num_hidden_layers": 28, "num_key_value_heads": 4, "vocab_size": 152064,
            "max_position_embeddings": 131072, "rope_theta": 1000000.0, "sliding_window": 131072,
            "use_sliding_window": False, "max_window_layers": 28, "tie_word_embeddings": False,
            "rms_norm_eps": 1e-06}
QWEN3_8B = {"model_type": "qwen3", "hidden_size": 4096, "intermediate_size": 12288, "num_attention_heads": 32,
            "num_hidden_layers": 36, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936,
            "max_position_embeddings": 40960, "rope_theta": 1000000, "tie_word_embeddings": False,
            "attention_bias": False, "rms_norm_eps": 1e-06}
GEMMA_7B = {"model_type": "gemma", "hidden_size": 3072, "intermediate_size": 24576, "num_attention_heads": 16,
            "num_hidden_layers": 28, "num_key_value_heads": 16, "head_dim": 256, "vocab_size": 256000,
            "max_position_embeddings": 8192, "hidden_act": "gelu", "rms_norm_eps": 1e-06}
GEMMA_2_9B = {"model_type": "gemma2", "hidden_size": 3584, "intermediate_size": 14336, "num_attention_heads": 16,
              "num_hidden_layers": 42, "num_key_value_heads": 8, "head_dim": 256, "vocab_size": 256000,
              "max_position_embeddings": 8192, "query_pre_attn_scalar": 256, "sliding_window": 4096,
              "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0, "hidden_activation":
              "gelu_pytorch_tanh", "rms_norm_eps": 1e-06}
PHI_3_MINI = {"model_type": "phi3", "hidden_size": 3072, "intermediate_size": 8192, "num_attention_heads": 32,
              "num_hidden_layers": 32, "num_key_value_heads": 32, "vocab_size": 32064,
              "max_position_embeddings": 4096, "original_max_position_embeddings": 4096, "sliding_window": 2047,
              "pad_token_id": 32000, "rope_theta": 10000.0, "rms_norm_eps": 1e-05, "embd_pdrop": 0.0,
              "resid_pdrop": 0.0, "attention_dropout": 0.0, "tie_word_embeddings": False}
GPT2 = {"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 1024, "n_ctx": 1024,
        "vocab_size": 50257, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-05}
BERT_BASE = {"model_type": "bert", "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
             "num_attention_heads": 12, "vocab_size": 30522, "max_position_embeddings": 512, "type_vocab_size": 2,
             "hidden_act": "gelu", "layer_norm_eps": 1e-12}
VIT_B16 = {"model_type": "vit", "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
           "num_attention_heads": 12, "image_size": 224, "patch_size": 16, "num_channels": 3, "qkv_bias": True,
           "hidden_act": "gelu", "layer_norm_eps": 1e-12,
           "id2label": {str(i): f"class_{i}" for i in range(1000)}}

DECODERS = {"Llama-2-7B": (LLAMA_2_7B, "Llama"), "Llama-3-8B": (LLAMA_3_8B, "Llama"),
            "Llama-3-70B": (LLAMA_3_70B, "Llama"), "Llama-3.1-8B": (LLAMA_3_1_8B, "Llama"),
            "Mistral-7B": (MISTRAL_7B, "Mistral"), "Mixtral-8x7B": (MIXTRAL_8X7B, "Mixtral"),
            "Qwen2-7B": (QWEN2_7B, "Qwen2"), "Qwen3-8B": (QWEN3_8B, "Qwen3"), "Gemma-7B": (GEMMA_7B, "Gemma"),
            "Gemma-2-9B": (GEMMA_2_9B, "Gemma2"), "Phi-3-mini": (PHI_3_MINI, "Phi3")}

# dslim/bert-base-NER (bert-base-cased fine-tuned on CoNLL-2003, 9 labels) and deepset/bert-base-cased-squad2.
BERT_BASE_NER = dict(BERT_BASE, vocab_size=28996, pad_token_id=0, id2label=dict(enumerate(
    ["O", "B-MISC", "I-MISC", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"])),
    architectures=["BertForTokenClassification"])
BERT_BASE_SQUAD2 = dict(BERT_BASE, vocab_size=28996, pad_token_id=0, architectures=["BertForQuestionAnswering"])

# transformers 5.25 has ...ForQuestionAnswering for these decoder families only (not gemma, gemma2, phi3).
WITH_QA = ("Llama", "Mistral", "Mixtral", "Qwen2", "Qwen3")
CASES: List[Tuple[str, Dict[str, Any]]] = []
for label, (config, prefix) in DECODERS.items():
    suffixes = ["ForCausalLM", "Model", "ForSequenceClassification", "ForTokenClassification"]
    suffixes += ["ForQuestionAnswering"] if prefix in WITH_QA else []
    for suffix in suffixes:
        CASES.append((f"{label} {prefix}{suffix}", with_head(config, prefix + suffix)))
CASES += [(f"GPT-2 {cls}", with_head(GPT2, cls)) for cls in (
    "GPT2LMHeadModel", "GPT2Model", "GPT2ForSequenceClassification", "GPT2ForTokenClassification",
    "GPT2ForQuestionAnswering", "GPT2DoubleHeadsModel")]
CASES += [(f"BERT-base {cls}", with_head(BERT_BASE, cls)) for cls in (
    "BertModel", "BertForMaskedLM", "BertForSequenceClassification", "BertForTokenClassification",
    "BertForQuestionAnswering", "BertForPreTraining", "BertForNextSentencePrediction", "BertLMHeadModel")]
CASES += [("bert-base-NER", BERT_BASE_NER), ("bert-base-cased-squad2", BERT_BASE_SQUAD2),
          ("BERT-base untied BertForPreTraining", with_head(dict(BERT_BASE, tie_word_embeddings=False),
                                                            "BertForPreTraining")),
          ("GPT-2 GPT2DoubleHeadsModel, summary to hidden, tanh", with_head(dict(
              GPT2, summary_proj_to_labels=False, summary_activation="tanh"), "GPT2DoubleHeadsModel")),
          ("BERT-base decoder BertLMHeadModel", with_head(dict(BERT_BASE, is_decoder=True), "BertLMHeadModel")),
          ("Qwen2-7B classifier_dropout, no score bias", with_head(dict(QWEN2_7B, classifier_dropout=0.2,
                                                                        token_classification_bias=False),
                                                                   "Qwen2ForTokenClassification"))]
CASES += [(f"ViT-B/16 {cls}", with_head(VIT_B16, cls)) for cls in ("ViTModel", "ViTForImageClassification")]

# More published configs, as their config.json files state them (the fields that shape the model).
MORE = {
    "Mistral-Nemo": {"model_type": "mistral", "architectures": ["MistralForCausalLM"], "hidden_size": 5120,
                     "head_dim": 128, "intermediate_size": 14336, "num_attention_heads": 32, "num_hidden_layers": 40,
                     "num_key_value_heads": 8, "vocab_size": 131072, "max_position_embeddings": 1024000,
                     "rope_theta": 1000000.0, "sliding_window": None, "tie_word_embeddings": False},
    "Llama-3.2-1B": {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 2048,
                     "intermediate_size": 8192, "num_attention_heads": 32, "num_hidden_layers": 16,
                     "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 131072,
                     "head_dim": 64, "tie_word_embeddings": True, "rope_theta": 500000.0,
                     "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                                      "original_max_position_embeddings": 8192, "rope_type": "llama3"}},
    "Qwen2.5-0.5B": {"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "hidden_size": 896,
                     "intermediate_size": 4864, "num_attention_heads": 14, "num_hidden_layers": 24,
                     "num_key_value_heads": 2, "vocab_size": 151936, "max_position_embeddings": 32768,
                     "tie_word_embeddings": True, "use_sliding_window": False, "sliding_window": 32768,
                     "max_window_layers": 24, "rope_theta": 1000000.0},
    "Phi-3.5-mini": {"model_type": "phi3", "architectures": ["Phi3ForCausalLM"], "hidden_size": 3072,
                     "intermediate_size": 8192, "num_attention_heads": 32, "num_hidden_layers": 32,
                     "num_key_value_heads": 32, "vocab_size": 32064, "max_position_embeddings": 131072,
                     "original_max_position_embeddings": 4096, "sliding_window": 262144, "pad_token_id": 32000,
                     "rope_scaling": {"type": "longrope", "long_factor": [1.0] * 48, "short_factor": [1.0] * 48},
                     "tie_word_embeddings": False},
    "Phi-3-medium": {"model_type": "phi3", "architectures": ["Phi3ForCausalLM"], "hidden_size": 5120,
                     "intermediate_size": 17920, "num_attention_heads": 40, "num_hidden_layers": 40,
                     "num_key_value_heads": 10, "vocab_size": 32064, "max_position_embeddings": 4096,
                     "original_max_position_embeddings": 4096, "sliding_window": 2047, "pad_token_id": 32000},
    "Gemma-2-27B": {"model_type": "gemma2", "architectures": ["Gemma2ForCausalLM"], "hidden_size": 4608,
                    "intermediate_size": 36864, "num_attention_heads": 32, "num_hidden_layers": 46,
                    "num_key_value_heads": 16, "head_dim": 128, "vocab_size": 256000,
                    "max_position_embeddings": 8192, "query_pre_attn_scalar": 144, "sliding_window": 4096},
    "Gemma-2B": {"model_type": "gemma", "architectures": ["GemmaForCausalLM"], "hidden_size": 2048,
                 "intermediate_size": 16384, "num_attention_heads": 8, "num_hidden_layers": 18,
                 "num_key_value_heads": 1, "head_dim": 256, "vocab_size": 256000, "max_position_embeddings": 8192},
    "Qwen3-0.6B": {"model_type": "qwen3", "architectures": ["Qwen3ForCausalLM"], "hidden_size": 1024,
                   "intermediate_size": 3072, "num_attention_heads": 16, "num_hidden_layers": 28,
                   "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936, "max_position_embeddings": 40960,
                   "tie_word_embeddings": True, "attention_bias": False, "rope_scaling": None},
    "Mixtral-8x22B": {"model_type": "mixtral", "architectures": ["MixtralForCausalLM"], "hidden_size": 6144,
                      "intermediate_size": 16384, "num_attention_heads": 48, "num_hidden_layers": 56,
                      "num_key_value_heads": 8, "vocab_size": 32768, "max_position_embeddings": 65536,
                      "num_local_experts": 8, "num_experts_per_tok": 2},
    "TinyLlama-1.1B": {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 2048,
                       "intermediate_size": 5632, "num_attention_heads": 32, "num_hidden_layers": 22,
                       "num_key_value_heads": 4, "vocab_size": 32000, "max_position_embeddings": 2048},
    "gpt2-xl": {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_embd": 1600, "n_layer": 48,
                "n_head": 25, "n_positions": 1024, "n_ctx": 1024, "vocab_size": 50257},
    "bert-large-uncased": {"model_type": "bert", "architectures": ["BertForMaskedLM"], "hidden_size": 1024,
                           "intermediate_size": 4096, "num_attention_heads": 16, "num_hidden_layers": 24,
                           "vocab_size": 30522, "max_position_embeddings": 512, "type_vocab_size": 2},
    "vit-large-patch16-224": {"model_type": "vit", "architectures": ["ViTForImageClassification"],
                              "hidden_size": 1024, "intermediate_size": 4096, "num_attention_heads": 16,
                              "num_hidden_layers": 24, "image_size": 224, "patch_size": 16,
                              "id2label": {str(i): str(i) for i in range(1000)}},
    "vit-huge-patch14-224-in21k": {"model_type": "vit", "architectures": ["ViTModel"], "hidden_size": 1280,
                                   "intermediate_size": 5120, "num_attention_heads": 16, "num_hidden_layers": 32,
                                   "image_size": 224, "patch_size": 14},
}
CASES += sorted(MORE.items())


def test_llama_2_7b_is_the_published_count():
    assert ours(with_head(LLAMA_2_7B, "LlamaForCausalLM")) == (6_738_415_616, 128)


@pytest.mark.parametrize("config", [c for _, c in CASES], ids=[label for label, _ in CASES])
def test_counts_equal_transformers(config):
    assert ours(config) == theirs(config)


@pytest.mark.parametrize("config,expected", [
    (BERT_BASE_NER, 107_726_601), (BERT_BASE_SQUAD2, 107_721_218),
    (with_head(BERT_BASE, "BertForPreTraining"), 110_106_428),
    (with_head(LLAMA_3_70B, "LlamaForCausalLM"), 70_553_706_496),
    (with_head(MISTRAL_7B, "MistralForCausalLM"), 7_241_732_096),
    (with_head(MIXTRAL_8X7B, "MixtralForCausalLM"), 46_702_792_704),
    (with_head(GPT2, "GPT2LMHeadModel"), 124_439_808),
], ids=["bert-base-NER", "bert-base-cased-squad2", "bert-base-uncased BertForPreTraining", "Llama-3-70B",
        "Mistral-7B", "Mixtral-8x7B", "GPT-2"])
def test_published_totals(config, expected):
    assert ours(config)[0] == expected


def test_untied_and_tied_heads():
    untied = with_head(dict(GEMMA_7B, tie_word_embeddings=False), "GemmaForCausalLM")
    tied = with_head(dict(LLAMA_2_7B, tie_word_embeddings=True), "LlamaForCausalLM")
    assert ours(untied) == theirs(untied)
    assert ours(tied) == theirs(tied)
    assert ours(untied)[0] - ours(with_head(GEMMA_7B, "GemmaForCausalLM"))[0] == 256000 * 3072


@pytest.mark.parametrize("family,cls,heads", [
    ("gemma", "GemmaForCausalLM", 16), ("qwen2", "Qwen2Model", 64), ("qwen3", "Qwen3Model", 32),
    ("mistral", "MistralModel", 16), ("mixtral", "MixtralModel", 8), ("gemma2", "Gemma2Model", 8),
    ("llama", "LlamaModel", 6), ("phi3", "Phi3Model", 6),
])
def test_default_key_value_heads(family, cls, heads):
    """num_key_value_heads left out: a fixed default (gemma 16, qwen 32, mistral 8...) or one per head."""
    config = {"model_type": family, "architectures": [cls], "hidden_size": 8 * heads, "intermediate_size": 16,
              "num_hidden_layers": 1, "num_attention_heads": heads, "vocab_size": 10, "pad_token_id": 0}
    assert ours(config) == theirs(config)


def test_mixtral_active_params_per_token():
    """Each token uses 2 of 8 experts: 12.9B of Mixtral-8x7B's 46.7B parameters."""
    import json

    from paramlint.api import lint_text

    report = lint_text(json.dumps(with_head(MIXTRAL_8X7B, "MixtralForCausalLM")), path="config.json")
    from paramlint.report.json_format import model_dict

    model = model_dict(report.analysis)
    assert model["params"] == 46_702_792_704
    assert model["active_params"] == 46_702_792_704 - 32 * 6 * 3 * 4096 * 14336 == 12_879_925_248
