"""LoRA on Hugging Face models (``huggingface:`` + ``training.lora``) against
peft 0.21 on the same transformers model built on the meta device: all and
trainable parameters, shared tensors once, and whether peft refuses the
config where paramlint reports PL521.

What is specific to transformers models: ``"all-linear"`` leaves out the
output embeddings (``get_output_embeddings()``: ``lm_head``, BERT's MLM
``decoder``); ``modules_to_save`` of a tied head copies the shared weight
(the embedding stays frozen and tied to the original); and a Mixtral's
experts and router are targeted as parameters (peft's MoE conversion: see
paramlint/model/finetune_moe.py); ``ensure_weight_tying`` on a model with
tied embeddings (Llama tied, Gemma, GPT-2, BERT MLM) makes one trained copy
of the embedding and the head, or adapts the head with the embedding (see
paramlint/model/finetune_tying.py), and changes nothing on untied models.
"""
from __future__ import annotations

import copy
import json
import warnings
from typing import Any, Dict, Optional, Tuple

import pytest

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")

from hf_oracle import build_meta  # noqa: E402

from paramlint.api import lint_text  # noqa: E402

SMALL = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, vocab_size=100, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=64)
FAMILIES = {
    "llama": dict(SMALL, model_type="llama", architectures=["LlamaForCausalLM"]),
    "llama-tied": dict(SMALL, model_type="llama", architectures=["LlamaForCausalLM"], tie_word_embeddings=True),
    "qwen2": dict(SMALL, model_type="qwen2", architectures=["Qwen2ForCausalLM"]),
    "qwen2-tied": dict(SMALL, model_type="qwen2", architectures=["Qwen2ForCausalLM"], tie_word_embeddings=True),
    "gemma": dict(SMALL, model_type="gemma", architectures=["GemmaForCausalLM"], head_dim=16),
    "mixtral": dict(SMALL, model_type="mixtral", architectures=["MixtralForCausalLM"], num_local_experts=4,
                    num_experts_per_tok=2),
    "llama-base": dict(SMALL, model_type="llama"),
    "gpt2": dict(model_type="gpt2", architectures=["GPT2LMHeadModel"], n_embd=64, n_layer=2, n_head=4,
                 vocab_size=100, n_positions=64),
    "bert-mlm": dict(model_type="bert", architectures=["BertForMaskedLM"], hidden_size=64, num_hidden_layers=2,
                     num_attention_heads=4, intermediate_size=96, vocab_size=100, max_position_embeddings=64),
}

LORAS = [
    dict(r=4, target_modules="all-linear"),
    dict(r=8, target_modules="all-linear", modules_to_save=["lm_head"]),
    dict(r=4, target_modules=["q_proj", "v_proj"], modules_to_save=["lm_head"]),
    dict(r=4, target_modules=["q_proj"], modules_to_save=["embed_tokens"]),
    dict(r=4, target_modules=["q_proj"], modules_to_save=["lm_head", "embed_tokens"]),
    dict(r=2, target_modules=["q_proj", "lm_head"]),
    dict(r=2, target_modules=["o_proj", "embed_tokens"], bias="all"),
    dict(r=4, target_modules="all-linear", use_dora=True),
    dict(r=4, target_modules="all-linear", lora_dropout=0.1),
    dict(r=4, target_modules=["w1", "w3", "w2"]),
    dict(r=4, target_modules=["gate", "q_proj"]),
    dict(r=4, target_modules=["w1", "w2"]),
    dict(r=4, target_modules=".*experts.*"),
    dict(r=4, target_modules=["c_attn", "c_proj"], modules_to_save=["lm_head"]),
    dict(r=4, target_modules=["query", "value"], modules_to_save=["decoder"]),
    # ensure_weight_tying (peft ties what is trained of a tied head to the embedding's: finetune_tying.py)
    dict(r=4, target_modules=["q_proj", "c_attn", "query"], modules_to_save=["lm_head"], ensure_weight_tying=True),
    dict(r=4, target_modules=["q_proj"], modules_to_save=["embed_tokens", "lm_head"], ensure_weight_tying=True,
         bias="all"),
    dict(r=2, target_modules=["q_proj", "lm_head"], ensure_weight_tying=True),
    dict(r=2, target_modules=["query", "c_attn", "embed_tokens"], ensure_weight_tying=True, use_dora=True),
    dict(r=2, target_modules=r".*\.(q_proj|c_attn|query)|lm_head", ensure_weight_tying=True, bias="lora_only"),
    dict(r=2, target_modules=["q_proj", "embed_tokens"], modules_to_save=["lm_head"], ensure_weight_tying=True),
    dict(r=2, target_modules=["q_proj", "lm_head"], modules_to_save=["lm_head"], ensure_weight_tying=True),
    dict(r=2, target_modules="all-linear", ensure_weight_tying=True),
    dict(r=2, target_modules=["q_proj", "c_attn", "query", "lm_head"], ensure_weight_tying=True,
         exclude_modules=["embed_tokens", "wte", "word_embeddings"]),
]


def theirs(config: Dict[str, Any], lora: Dict[str, Any]) -> Optional[Tuple[int, int]]:
    model = build_meta(config)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = peft.get_peft_model(model, peft.LoraConfig(**copy.deepcopy(lora)))  # peft edits its lists
    except TypeError as error:  # ensure_weight_tying: a tied head both adapted and copied
        assert "modules_to_save cannot be applied to modules of type" in str(error), error
        return None
    except AttributeError as error:  # ensure_weight_tying: a tied head's adapters, the embedding not adapted
        assert "lora_embedding_A" in str(error), error
        return None
    except ValueError as error:  # nothing matched, ParamWrapper's refusals, a half fused target
        assert any(s in str(error) for s in ("not found", "does not work with", "Cannot convert", "not supported",
                                             "no parameter was matched", "No modules were targeted")), error
        return None
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def ours(config: Dict[str, Any], lora: Dict[str, Any]) -> Optional[Tuple[int, int]]:
    text = json.dumps({"paramlint": 1, "huggingface": config,
                       "training": {"batch_size": 1, "sequence_length": 8, "lora": lora}})
    report = lint_text(text, path="model.json")
    codes = {d.code for d in report.diagnostics if d.severity == "error"}
    if "PL521" in codes:
        return None
    assert report.analysis is not None and report.analysis.finetune is not None, report.diagnostics
    finetune = report.analysis.finetune.finetune
    return finetune.params, finetune.trainable_params


@pytest.mark.parametrize("lora", LORAS, ids=[str(i) for i in range(len(LORAS))])
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_lora_on_transformers_models_equals_peft(family: str, lora: Dict[str, Any]) -> None:
    config = FAMILIES[family]
    assert ours(config, lora) == theirs(config, lora)


def test_mixtral_all_linear_targets_router_and_experts() -> None:
    """peft 0.21 on transformers 5: q/k/v/o as Linears, the router's weight and the fused experts as
    parameters (gate_up_proj at rank 2r, w1 and w3 fused), lm_head left out."""
    lora = dict(r=4, target_modules="all-linear")
    total, trainable = theirs(FAMILIES["mixtral"], lora)  # type: ignore[misc]
    hidden, inner, experts, kv, layers, r = 64, 96, 4, 32, 2, 4
    attention = r * hidden * 2 + (r * hidden + kv * r) * 2 + r * hidden * 2  # q, k, v, o
    router = r * hidden + experts * r
    fused = (2 * r * experts) * hidden + 2 * inner * (2 * r * experts)
    down = (r * experts) * inner + hidden * (r * experts)
    assert trainable == layers * (attention + router + fused + down)
    assert ours(FAMILIES["mixtral"], lora) == (total, trainable)
