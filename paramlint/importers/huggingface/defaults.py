"""transformers' defaults (5.25), per ``model_type``, for the fields that change counts or shapes.

A config.json states only what differs from its config class's defaults
(``to_diff_dict``), so a missing field means transformers' default, read
here.  ``None`` marks a default that transformers derives from other fields
(``num_key_value_heads`` = ``num_attention_heads``, ``head_dim`` =
``hidden_size // num_attention_heads``); :mod:`.fields` derives it the same way.
Some families default to a fixed number instead (qwen2: 32 key/value heads
whatever ``num_attention_heads`` is; an explicit ``null`` means one per query
head there).
The sizes every published config states are required instead of defaulted
(``REQUIRED``): a config that forgets ``hidden_size`` would otherwise be
silently read as the 7B model transformers' defaults describe.
"""
from __future__ import annotations

from typing import Any, Dict, Tuple

_DECODER: Dict[str, Any] = {
    "num_key_value_heads": None, "head_dim": None, "tie_word_embeddings": False, "attention_bias": False,
    "mlp_bias": False, "hidden_act": "silu", "rms_norm_eps": 1e-6, "max_position_embeddings": 2048,
    "rope_theta": 10000.0, "attention_dropout": 0.0, "sliding_window": None, "pad_token_id": None,
    "use_cache": True,
}

DEFAULTS: Dict[str, Dict[str, Any]] = {
    "llama": dict(_DECODER),
    "mistral": dict(_DECODER, num_key_value_heads=8, max_position_embeddings=131072, sliding_window=4096),
    "mixtral": dict(_DECODER, num_key_value_heads=8, max_position_embeddings=131072, rms_norm_eps=1e-5,
                    rope_theta=1e6, num_local_experts=8, num_experts_per_tok=2),
    "qwen2": dict(_DECODER, num_key_value_heads=32, max_position_embeddings=32768, use_sliding_window=False, max_window_layers=28),
    "qwen3": dict(_DECODER, num_key_value_heads=32, head_dim=128, max_position_embeddings=32768, use_sliding_window=False,
                  max_window_layers=28),
    "gemma": dict(_DECODER, num_key_value_heads=16, head_dim=256, tie_word_embeddings=True, hidden_act="gelu_pytorch_tanh",
                  max_position_embeddings=8192, pad_token_id=0),
    "gemma2": dict(_DECODER, head_dim=256, num_key_value_heads=4, tie_word_embeddings=True,
                   hidden_act="gelu_pytorch_tanh", max_position_embeddings=8192, sliding_window=4096,
                   query_pre_attn_scalar=256, pad_token_id=0),
    "phi3": dict(_DECODER, max_position_embeddings=4096, rms_norm_eps=1e-5, sliding_window=None,
                 resid_pdrop=0.0, embd_pdrop=0.0, partial_rotary_factor=1.0, pad_token_id=32000),
    "gpt2": {"n_inner": None, "n_positions": 1024, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
             "resid_pdrop": 0.1, "embd_pdrop": 0.1, "attn_pdrop": 0.1, "tie_word_embeddings": True,
             "vocab_size": 50257, "summary_type": "cls_index", "summary_use_proj": True, "summary_activation": None,
             "summary_proj_to_labels": True, "summary_first_dropout": 0.1},
    "bert": {"max_position_embeddings": 512, "type_vocab_size": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-12,
             "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "tie_word_embeddings": True,
             "vocab_size": 30522, "pad_token_id": 0},
    "vit": {"image_size": 224, "patch_size": 16, "num_channels": 3, "qkv_bias": True, "hidden_act": "gelu",
            "layer_norm_eps": 1e-12, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0},
}

_DECODER_REQUIRED = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads")
REQUIRED: Dict[str, Tuple[str, ...]] = {
    **{family: _DECODER_REQUIRED for family in ("llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma", "gemma2",
                                                "phi3")},
    "gpt2": ("n_embd", "n_layer", "n_head"),
    "bert": ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads"),
    "vit": ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads"),
}

# The class prefix of each family in transformers, and the heads paramlint builds.
CLASS_PREFIX = {"llama": "Llama", "mistral": "Mistral", "mixtral": "Mixtral", "qwen2": "Qwen2", "qwen3": "Qwen3",
                "gemma": "Gemma", "gemma2": "Gemma2", "phi3": "Phi3", "gpt2": "GPT2", "bert": "Bert", "vit": "ViT"}
# transformers 5.25 has no ...ForQuestionAnswering for gemma, gemma2 and phi3.
_DECODER_HEADS = ("Model", "ForCausalLM", "ForSequenceClassification", "ForTokenClassification")
_WITH_QA = ("llama", "mistral", "mixtral", "qwen2", "qwen3")
HEADS = {**{family: _DECODER_HEADS + (("ForQuestionAnswering",) if family in _WITH_QA else ())
            for family in REQUIRED},
         "gpt2": ("Model", "LMHeadModel", "ForSequenceClassification", "ForTokenClassification",
                  "ForQuestionAnswering", "DoubleHeadsModel"),
         "bert": ("Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification",
                  "ForQuestionAnswering", "ForPreTraining", "ForNextSentencePrediction", "LMHeadModel"),
         "vit": ("Model", "ForImageClassification")}
SUPPORTED = tuple(DEFAULTS)
