"""Training memory of Hugging Face decoders: the tensors autograd saves in one training forward, byte for
byte, against saved_tensors_hooks on the transformers model (attn_implementation="sdpa", CPU, batch 3;
parameters, buffers and the token ids left out), in fp32 and under bf16 autocast, with and without
transformers' gradient checkpointing.

Where paramlint's graph and transformers' code differ, the difference is asserted exactly, so that it
cannot grow unnoticed:
- With gradient checkpointing, the rotary tables: paramlint counts them (two ``[seq, rotary_dim]`` tables)
  among what each checkpointed layer keeps, and they are kept, but not as saved tensors, so the hooks do
  not see them.  transformers checkpoints a decoder layer as ``checkpoint(partial(forward, self,
  **kwargs), hidden_states)``: torch's non-reentrant checkpoint saves its positional inputs through a
  ``save_for_backward`` the hooks see (``hidden_states``), while ``position_embeddings=(cos, sin)`` is a
  keyword bound in the ``partial``, held by the recompute closure until backward.  The memory is the
  same; only this measurement cannot see it (a measurement artifact, not a modelling gap).
"""
from __future__ import annotations

from typing import Any, Dict

import pytest

from helpers import saved_bytes
from hf_oracle import torch, training_model
from paramlint.importers.huggingface import convert
from paramlint.lint import analyze_document
from paramlint.memory.model import MemoryModel
from paramlint.memory.precision import CPU
from paramlint.model.graph import build_graph
from paramlint.model.training import read_training
from paramlint.validation.validator import SchemaValidator

BATCH, SEQ = 3, 8
SMALL = {"hidden_size": 32, "intermediate_size": 40, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 2, "vocab_size": 50}
FAMILIES: Dict[str, Dict[str, Any]] = {
    "llama": dict(SMALL, model_type="llama", architectures=["LlamaForCausalLM"]),
    "mistral": dict(SMALL, model_type="mistral", architectures=["MistralForCausalLM"], sliding_window=None),
    "mixtral": dict(SMALL, model_type="mixtral", architectures=["MixtralForCausalLM"], num_local_experts=3),
    "qwen2": dict(SMALL, model_type="qwen2", architectures=["Qwen2ForCausalLM"]),
    "qwen3": dict(SMALL, model_type="qwen3", architectures=["Qwen3ForCausalLM"], head_dim=8),
    "gemma": dict(SMALL, model_type="gemma", architectures=["GemmaForCausalLM"], head_dim=8),
    "phi3": dict(SMALL, model_type="phi3", architectures=["Phi3ForCausalLM"], pad_token_id=0),
}


def ours(config: Dict[str, Any], precision: str, checkpointing: bool) -> int:
    data = convert(config, sequence_length=SEQ, gradient_checkpointing=checkpointing).data
    findings, analysis = analyze_document(data, None, SchemaValidator())
    assert analysis is not None, findings
    graph, _ = build_graph(data)
    setup = read_training(None).replace(batch_size=BATCH, precision=precision)
    model = MemoryModel(analysis.shapes, setup, output=graph.output, device=CPU)
    return saved_bytes(model.training, BATCH)


def theirs(config: Dict[str, Any], precision: str, checkpointing: bool) -> int:
    model = training_model(config, checkpointing)
    tokens = torch.randint(0, config["vocab_size"], (BATCH, SEQ))
    owned = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers(), tokens]}
    found: Dict[int, int] = {}

    def pack(tensor: Any) -> Any:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in owned and storage.nbytes():
            found.setdefault(storage.data_ptr(), storage.nbytes())
        return tensor

    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16-mixed")
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor), autocast:
        model(input_ids=tokens)
    return sum(found.values())


def unseen_rotary_tables(config: Dict[str, Any]) -> int:
    """The bytes of the two float32 rotary tables a checkpointed model keeps outside saved tensors."""
    rotary = config.get("head_dim", config["hidden_size"] // config["num_attention_heads"])
    return 2 * SEQ * rotary * 4


@pytest.mark.parametrize("precision", ["fp32", "bf16-mixed"])
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_saved_tensors_equal_transformers(family, precision):
    config = FAMILIES[family]
    assert ours(config, precision, False) == theirs(config, precision, False)


@pytest.mark.parametrize("precision", ["fp32", "bf16-mixed"])
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_saved_tensors_with_gradient_checkpointing(family, precision):
    config = FAMILIES[family]
    assert ours(config, precision, True) - theirs(config, precision, True) == unseen_rotary_tables(config)


def test_phi3_without_the_kv_cache_keeps_its_fused_projection():
    """With ``use_cache`` false Phi-3's value is a view of ``qkv_proj``'s output, which attention keeps whole
    (with the cache, ``torch.cat`` copies it): byte-exact both ways, and the difference is that output less
    the copy of v, per layer."""
    config = dict(FAMILIES["phi3"], use_cache=False)
    assert ours(config, "fp32", False) == theirs(config, "fp32", False)
    fused = BATCH * SEQ * (config["hidden_size"] + 2 * 2 * 8) * 4  # q (32) + k and v (2 heads x 8 each)
    value = BATCH * SEQ * 2 * 8 * 4
    layers = config["num_hidden_layers"]
    assert ours(config, "fp32", False) - ours(FAMILIES["phi3"], "fp32", False) == layers * (fused - value)
