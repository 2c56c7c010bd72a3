"""Random small Hugging Face configs: paramlint's parameter and buffer counts equal transformers'
on the meta device (hypothesis: sizes, heads, key/value heads, head_dim, ties, biases, experts,
sliding windows, heads of every class, the token classifier's bias and dropout, GPT-2's multiple-choice
summary; fields left out to take transformers' defaults)."""
from __future__ import annotations

from typing import Any, Dict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hf_oracle import ours, theirs

WITH_QA = ("llama", "mistral", "mixtral", "qwen2", "qwen3")  # transformers has no QA head for the others
DECODER_CLASSES = {"llama": "Llama", "mistral": "Mistral", "mixtral": "Mixtral", "qwen2": "Qwen2", "qwen3": "Qwen3",
                   "gemma": "Gemma", "gemma2": "Gemma2", "phi3": "Phi3"}


def _maybe(draw: Any, config: Dict[str, Any], name: str, strategy: Any) -> None:
    """Sometimes leave a field out, so that transformers' default applies."""
    if draw(st.booleans()):
        config[name] = draw(strategy)


@st.composite
def decoder_configs(draw: Any) -> Dict[str, Any]:
    family = draw(st.sampled_from(sorted(DECODER_CLASSES)))
    kv = draw(st.integers(1, 4))
    heads = kv * draw(st.integers(1, 3))
    head_dim = 2 * draw(st.integers(1, 8))
    config: Dict[str, Any] = {
        "model_type": family, "vocab_size": draw(st.integers(1, 300)), "num_hidden_layers": draw(st.integers(1, 3)),
        "num_attention_heads": heads, "intermediate_size": draw(st.integers(1, 80)),
        "architectures": [DECODER_CLASSES[family] + draw(st.sampled_from(
            ["ForCausalLM", "Model", "ForSequenceClassification", "ForTokenClassification"]
            + (["ForQuestionAnswering"] if family in WITH_QA else [])))],
    }
    if family in ("qwen3", "gemma", "gemma2") or draw(st.booleans()):
        config["head_dim"] = head_dim
        # llama's and gemma2's config classes want hidden_size % heads == 0 even then
        config["hidden_size"] = heads * draw(st.integers(1, 16)) if family in ("llama", "gemma2") \
            else draw(st.integers(1, 64))
    else:
        config["hidden_size"] = heads * head_dim
    # Families whose default is a fixed number of key/value heads (8, 32, 16, 4) get one that divides
    # the heads; their defaults are checked in test_huggingface_counts.
    if family in ("mistral", "mixtral", "gemma2", "qwen2", "qwen3", "gemma") or draw(st.booleans()):
        config["num_key_value_heads"] = kv
    _maybe(draw, config, "tie_word_embeddings", st.booleans())
    _maybe(draw, config, "attention_bias", st.booleans())
    _maybe(draw, config, "mlp_bias", st.booleans())
    _maybe(draw, config, "max_position_embeddings", st.integers(8, 64))
    _maybe(draw, config, "num_labels", st.integers(1, 5))
    _maybe(draw, config, "sliding_window", st.one_of(st.none(), st.integers(1, 16)))
    _maybe(draw, config, "token_classification_bias", st.booleans())
    _maybe(draw, config, "classifier_dropout", st.one_of(st.none(), st.floats(0, 1)))
    if family == "mixtral":
        config["num_local_experts"] = draw(st.integers(1, 4))
        config["num_experts_per_tok"] = draw(st.integers(1, config["num_local_experts"]))
    if family in ("qwen2", "qwen3"):
        _maybe(draw, config, "use_sliding_window", st.booleans())
    if family == "phi3":
        config["pad_token_id"] = 0
        rotary = draw(st.sampled_from([1.0, 0.5]))
        if rotary != 1.0 and (head_dim * rotary) % 2 == 0:
            config["partial_rotary_factor"] = rotary
    if family in ("gemma", "gemma2"):
        config["pad_token_id"] = 0
    return config


@st.composite
def other_configs(draw: Any) -> Dict[str, Any]:
    family = draw(st.sampled_from(["gpt2", "bert", "vit"]))
    heads = draw(st.integers(1, 4))
    hidden = heads * draw(st.integers(1, 8))
    if family == "gpt2":
        config: Dict[str, Any] = {"model_type": "gpt2", "n_embd": hidden, "n_head": heads,
                                  "n_layer": draw(st.integers(1, 3)), "vocab_size": draw(st.integers(1, 300)),
                                  "architectures": [draw(st.sampled_from(
                                      ["GPT2Model", "GPT2LMHeadModel", "GPT2ForSequenceClassification",
                                       "GPT2ForTokenClassification", "GPT2ForQuestionAnswering",
                                       "GPT2DoubleHeadsModel"]))]}
        _maybe(draw, config, "n_inner", st.integers(1, 64))
        _maybe(draw, config, "n_positions", st.integers(8, 64))
        _maybe(draw, config, "tie_word_embeddings", st.booleans())
        _maybe(draw, config, "summary_use_proj", st.booleans())
        _maybe(draw, config, "summary_proj_to_labels", st.booleans())
    else:
        config = {"model_type": family, "hidden_size": hidden, "num_attention_heads": heads,
                  "num_hidden_layers": draw(st.integers(1, 3)), "intermediate_size": draw(st.integers(1, 64))}
        if family == "bert":
            config["architectures"] = [draw(st.sampled_from(
                ["BertModel", "BertForMaskedLM", "BertForSequenceClassification", "BertForTokenClassification",
                 "BertForQuestionAnswering", "BertForPreTraining", "BertForNextSentencePrediction",
                 "BertLMHeadModel"]))]
            _maybe(draw, config, "is_decoder", st.booleans())
            _maybe(draw, config, "classifier_dropout", st.one_of(st.none(), st.floats(0, 1)))
            config["vocab_size"] = draw(st.integers(2, 300))
            config["pad_token_id"] = 0
            _maybe(draw, config, "max_position_embeddings", st.integers(8, 64))
            _maybe(draw, config, "type_vocab_size", st.integers(1, 4))
            _maybe(draw, config, "tie_word_embeddings", st.booleans())
        else:
            config["architectures"] = [draw(st.sampled_from(["ViTModel", "ViTForImageClassification"]))]
            patch = draw(st.integers(1, 8))
            config.update(patch_size=patch, image_size=patch * draw(st.integers(1, 4)),
                          num_channels=draw(st.integers(1, 3)))
            _maybe(draw, config, "qkv_bias", st.booleans())
    _maybe(draw, config, "num_labels", st.integers(1, 5))
    return config


@settings(max_examples=240, deadline=None, derandomize=False,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(decoder_configs())
def test_random_decoders_count_as_transformers(config):
    assert ours(config) == theirs(config), config


@settings(max_examples=90, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(other_configs())
def test_random_gpt2_bert_vit_count_as_transformers(config):
    assert ours(config) == theirs(config), config
