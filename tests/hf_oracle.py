"""transformers as the oracle for the Hugging Face importer: the same config built on the meta device."""
from __future__ import annotations

import json
from typing import Any, Dict, Mapping, Tuple

import pytest

from paramlint.api import lint_text
from paramlint.lint import FileReport

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")
transformers.logging.set_verbosity_error()

_BASE = {"llama": "LlamaModel", "mistral": "MistralModel", "mixtral": "MixtralModel", "qwen2": "Qwen2Model",
         "qwen3": "Qwen3Model", "gemma": "GemmaModel", "gemma2": "Gemma2Model", "phi3": "Phi3Model",
         "gpt2": "GPT2Model", "bert": "BertModel", "vit": "ViTModel"}


def build_meta(config: Mapping[str, Any], **kwargs: Any) -> Any:
    """The class of ``architectures[0]`` (the base model when absent), built from ``config`` on meta."""
    fields = dict(config)
    model_type = fields.pop("model_type")
    architectures = fields.pop("architectures", None)
    hf_config = transformers.AutoConfig.for_model(model_type, **fields, **kwargs)
    cls = getattr(transformers, architectures[0] if architectures else _BASE[model_type])
    with torch.device("meta"):
        return cls(hf_config)


def theirs(config: Mapping[str, Any]) -> Tuple[int, int]:
    model = build_meta(config)
    return sum(p.numel() for p in model.parameters()), sum(b.numel() for b in model.buffers())


def lint_config(config: Mapping[str, Any], path: str = "config.json") -> FileReport:
    return lint_text(json.dumps(config, indent=2), path=path)


def ours(config: Mapping[str, Any]) -> Tuple[int, int]:
    report = lint_config(config)
    assert report.analysis is not None, [f"{d.line}:{d.column} {d.code} {d.message}" for d in report.diagnostics]
    return report.analysis.params, report.analysis.shapes.buffers


def with_head(config: Dict[str, Any], cls: str) -> Dict[str, Any]:
    return dict(config, architectures=[cls])


def training_model(config: Mapping[str, Any], checkpointing: bool = False) -> Any:
    """The class of ``architectures[0]`` built from ``config`` with sdpa attention (Mixtral's experts as their
    eager loop), seeded, in training mode, with transformers' gradient checkpointing when asked."""
    fields = dict(config)
    model_type, (cls,) = fields.pop("model_type"), fields.pop("architectures")
    options = {"experts_implementation": "eager"} if model_type == "mixtral" else {}
    hf_config = transformers.AutoConfig.for_model(model_type, **fields, attn_implementation="sdpa", **options)
    torch.manual_seed(0)
    model = getattr(transformers, cls)(hf_config)
    model.train()
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model
