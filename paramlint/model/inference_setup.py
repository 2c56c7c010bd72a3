"""The ``inference:`` section: how the model is served.

Read after the schema has checked the types; everything not declared gets
its default here.  The figures it drives (weights, KV cache, prefill and
decode peaks, FLOPs) are computed in :mod:`paramlint.memory.inference`.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from ..core.record import Record

# transformers' names (``attn_implementation=``)
ATTN_IMPLEMENTATIONS = ("sdpa", "eager", "flash_attention_2")
INFERENCE_DTYPES = ("fp32", "bf16", "fp16")
KV_CACHE_DTYPES = INFERENCE_DTYPES + ("fp8",)
LOGITS = ("last", "all")
DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1}


class InferenceSetup(Record):
    """One serving setup.

    ``prompt_tokens`` None: the sequence length the graph declares.
    ``context_length``: the tokens the cache holds at the end; without it,
    ``prompt_tokens + new_tokens - 1`` (``generate`` never feeds back the
    last token it makes).
    """

    __slots__ = ("batch_size", "prompt_tokens", "new_tokens", "context_length", "dtype", "kv_cache_dtype",
                 "attn_implementation", "logits")

    def __init__(self, batch_size: int = 1, prompt_tokens: Optional[int] = None, new_tokens: int = 1,
                 context_length: Optional[int] = None, dtype: str = "bf16", kv_cache_dtype: Optional[str] = None,
                 attn_implementation: str = "sdpa", logits: str = "last") -> None:
        self.batch_size = batch_size
        self.prompt_tokens = prompt_tokens
        self.new_tokens = new_tokens
        self.context_length = context_length
        self.dtype = dtype
        self.kv_cache_dtype = kv_cache_dtype or dtype
        self.attn_implementation = attn_implementation
        self.logits = logits

    def cached_tokens(self, prompt_tokens: int) -> int:
        """Positions in the cache when the last token is made."""
        if self.context_length is not None:
            return self.context_length
        return prompt_tokens + self.new_tokens - 1

    @property
    def weight_bytes(self) -> int:
        return DTYPE_BYTES[self.dtype]

    @property
    def kv_bytes(self) -> int:
        return DTYPE_BYTES[self.kv_cache_dtype]


def read_inference(section: Optional[Mapping[str, Any]]) -> Optional[InferenceSetup]:
    """None when the config has no ``inference:`` section."""
    if section is None:
        return None
    return InferenceSetup(
        batch_size=section.get("batch_size", 1),
        prompt_tokens=section.get("prompt_tokens"),
        new_tokens=section.get("new_tokens", 1),
        context_length=section.get("context_length"),
        dtype=section.get("dtype", "bf16"),
        kv_cache_dtype=section.get("kv_cache_dtype"),
        attn_implementation=section.get("attn_implementation", "sdpa"),
        logits=section.get("logits", "last"),
    )


def inference_schema() -> Mapping[str, Any]:
    """The JSON Schema of the section (published in schemas/format-1.json)."""
    positive = {"type": "integer", "minimum": 1}
    return {
        "type": "object", "additionalProperties": False,
        "description": "how the model is served: for the KV cache, prefill and decode memory and FLOPs",
        "properties": {
            "batch_size": dict(positive, description="concurrent sequences", examples=[8]),
            "prompt_tokens": dict(positive, description="prompt length (default: the graph's sequence length)",
                                  examples=[8192]),
            "new_tokens": dict(positive, default=1, description="tokens generated after the prompt",
                               examples=[256]),
            "context_length": dict(positive, description="tokens in the KV cache at the end (instead of "
                                                         "prompt_tokens + new_tokens - 1)", examples=[8192]),
            "dtype": {"enum": list(INFERENCE_DTYPES), "default": "bf16", "description": "dtype of the weights",
                      "examples": ["bf16"]},
            "kv_cache_dtype": {"enum": list(KV_CACHE_DTYPES), "description": "dtype of the KV cache "
                               "(default: dtype)", "examples": ["bf16"]},
            "attn_implementation": {"enum": list(ATTN_IMPLEMENTATIONS), "default": "sdpa",
                                    "description": "as transformers names it", "examples": ["sdpa"]},
            "logits": {"enum": list(LOGITS), "default": "last",
                       "description": "prefill computes the logits of the last position only (generate) or of "
                                      "every prompt position", "examples": ["last"]},
        },
        "examples": [{"batch_size": 8, "prompt_tokens": 8192, "new_tokens": 256, "dtype": "bf16"}],
    }
