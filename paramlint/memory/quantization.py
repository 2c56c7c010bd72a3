"""bitsandbytes weight quantization (``training.quantization``, the fields of
transformers' ``BitsAndBytesConfig``): which layers are quantized and the
bytes of every tensor bitsandbytes 0.50.2 keeps for one quantized weight.

4-bit (``load_in_4bit``; ``bitsandbytes.functional.quantize_4bit``, block
size 64): the packed values, two per byte of ``bnb_4bit_quant_storage``
(``(n + 1) // (2 * itemsize)`` items, as its ``quantize_4bit`` allocates); one float32 absmax per block of 64;
the 16-entry float32 code of nf4/fp4.  With ``bnb_4bit_use_double_quant``
the absmax is itself quantized blockwise (block 256, ``quantize_blockwise``):
one uint8 per block of 64, a float32 offset (their mean), a float32 absmax
per 256 of those, and the 256-entry float32 dynamic code.

8-bit (``load_in_8bit``; ``Int8Params``, ``int8_vectorwise_quant``): an int8
weight and one float32 scale per output row (``SCB``).

Quantized: every ``Linear``, as transformers replaces ``nn.Linear``, except
``llm_int8_skip_modules`` (matched as transformers' ``should_convert_module``:
a prefix up to a module boundary, a regular expression with that boundary, or
a suffix) or, when none are given, transformers' defaults: tied layers, the
module of the last parameter and the output embeddings.
"""
from __future__ import annotations

import math
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ..core.record import Record

BLOCK_4BIT = 64
BLOCK_NESTED = 256
STORAGE_BYTES = {"uint8": 1, "int8": 1, "float16": 2, "bfloat16": 2, "float32": 4}
QUANT_TYPES = ("nf4", "fp4")


class Quantization(Record):
    """``training.quantization``."""

    __slots__ = ("bits", "quant_type", "double_quant", "compute_dtype", "quant_storage", "skip_modules")

    def __init__(self, bits: int, quant_type: str = "fp4", double_quant: bool = False,
                 compute_dtype: str = "float32", quant_storage: str = "uint8",
                 skip_modules: Optional[Sequence[str]] = None) -> None:
        self.bits = bits
        self.quant_type = quant_type
        self.double_quant = double_quant
        self.compute_dtype = compute_dtype
        self.quant_storage = quant_storage
        self.skip_modules = None if skip_modules is None else tuple(skip_modules)

    def describe(self) -> str:
        if self.bits == 8:
            return "8-bit (LLM.int8)"
        double = " + double quant" if self.double_quant else ""
        return f"4-bit {self.quant_type}{double}, compute {self.compute_dtype}"


def read_quantization(section: Optional[Mapping[str, Any]]) -> Optional[Quantization]:
    """None when nothing is quantized (the schema has checked the types)."""
    if not section:
        return None
    skip = section.get("llm_int8_skip_modules")
    if section.get("load_in_4bit"):
        return Quantization(4, section.get("bnb_4bit_quant_type", "fp4"),
                            bool(section.get("bnb_4bit_use_double_quant", False)),
                            section.get("bnb_4bit_compute_dtype", "float32"),
                            section.get("bnb_4bit_quant_storage", "uint8"), skip)
    if section.get("load_in_8bit"):
        return Quantization(8, skip_modules=skip)
    return None


def weight_4bit_bytes(numel: int, *, double_quant: bool, quant_storage: str = "uint8") -> Dict[str, int]:
    """The tensors of one 4-bit weight of ``numel`` values, in bytes."""
    item = STORAGE_BYTES[quant_storage]
    blocks = -(-numel // BLOCK_4BIT)
    parts = {"packed": (numel + 1) // (2 * item) * item, "code": 16 * 4}  # bitsandbytes' own rounding
    if double_quant:
        parts.update(absmax=blocks, offset=4, nested_absmax=4 * -(-blocks // BLOCK_NESTED), nested_code=256 * 4)
    else:
        parts["absmax"] = 4 * blocks
    return parts


def weight_8bit_bytes(shape: Sequence[int]) -> Dict[str, int]:
    """``Int8Params``: the int8 weight and a float32 scale per output row."""
    return {"packed": math.prod(shape), "absmax": 4 * shape[0]}


def weight_bytes(quantization: Quantization, shape: Sequence[int]) -> Dict[str, int]:
    if quantization.bits == 8:
        return weight_8bit_bytes(shape)
    return weight_4bit_bytes(math.prod(shape), double_quant=quantization.double_quant,
                             quant_storage=quantization.quant_storage)


def _skipped(path: str, patterns: Sequence[str]) -> bool:
    boundary = r"(?:(?<=\.)|(?=\.|$))"
    return any(re.match(rf"(?:{key}){boundary}", path) or path.endswith(key) for key in patterns)


def default_skips(paths: Sequence[str], types: Sequence[str], param_owners: Sequence[int],
                  tied: Sequence[int], output_embeddings: Optional[str]) -> List[str]:
    """transformers' get_keys_to_not_convert: tied layers, the last parameter's module, the output embeddings."""
    skips = [paths[i] for i in tied]
    if param_owners:
        skips.append(paths[param_owners[-1]])
    if output_embeddings:
        skips.append(output_embeddings)
    return skips


def quantized_layers(quantization: Quantization, paths: Sequence[str], types: Sequence[str],
                     param_owners: Sequence[int], tied: Sequence[int],
                     output_embeddings: Optional[str] = None) -> List[int]:
    """The indices of the layers bitsandbytes quantizes."""
    patterns = list(quantization.skip_modules) if quantization.skip_modules is not None else \
        default_skips(paths, types, param_owners, tied, output_embeddings)
    return [i for i, (path, kind) in enumerate(zip(paths, types)) if kind == "Linear" and not _skipped(path, patterns)]
