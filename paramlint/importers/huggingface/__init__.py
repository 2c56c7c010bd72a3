"""The Hugging Face front door: a transformers ``config.json`` becomes format-1 data.

A JSON object whose top level has a ``model_type`` is a Hugging Face config
(:func:`is_huggingface_config`).  For a supported family, :func:`convert`
reads its fields with transformers' defaults (:mod:`.defaults`), reports
mistakes at the field (:mod:`.fields`) and builds the same layer graph
transformers builds, as ordinary format-1 ``inputs``/``blocks``/``layers``:
from there on, nothing knows which format the model came from.  The model
class is ``architectures[0]`` (the base ``...Model`` when absent).
"""
from __future__ import annotations

from typing import Any, Dict, FrozenSet, Mapping, Optional, Tuple

from ...core.diagnostics import ConfigPath, Finding
from ...core.record import Record
from .bert import UNREAD as BERT_UNREAD
from .bert import build_bert
from .decoder import build_decoder
from .defaults import CLASS_PREFIX, HEADS, SUPPORTED
from .fields import Fields
from .gpt2 import UNREAD as GPT2_UNREAD
from .gpt2 import build_gpt2
from .vit import build_vit

__all__ = ["SUPPORTED", "Conversion", "convert", "is_huggingface_config", "unsupported_note"]

# The longest context paramlint assumes when no `training.sequence_length` says otherwise.
DEFAULT_SEQUENCE_CAP = 4096


def is_huggingface_config(data: Any) -> bool:
    """The marker: a mapping with a string ``model_type`` at the top level and no ``paramlint`` key."""
    return isinstance(data, Mapping) and "paramlint" not in data and isinstance(data.get("model_type"), str)


def unsupported_note(model_type: str) -> str:
    shown = repr(model_type) if len(model_type) <= 60 else repr(model_type[:57]) + "..."
    return (f"model_type {shown} is not a Hugging Face family paramlint reads; skipped "
            f"(supported: {', '.join(SUPPORTED)})")


class Conversion(Record):
    """The outcome of :func:`convert`: format-1 ``data`` (None when the config has errors), the
    ``findings`` about the config itself (paths into it), and facts the caller checks against.
    ``unread``: the paths (``("layers", i)``) of layers that transformers has but whose output the
    graph does not read (registered buffers, the second output of a two-output class), for which
    the pipeline drops PL455."""

    __slots__ = ("data", "findings", "name", "max_positions", "positions_field", "unread")

    def __init__(self, data: Optional[Dict[str, Any]], findings: Tuple[Finding, ...], name: str = "",
                 max_positions: int = 0, positions_field: str = "",
                 unread: FrozenSet[ConfigPath] = frozenset()) -> None:
        self.data = data
        self.findings = findings
        self.name = name
        self.max_positions = max_positions
        self.positions_field = positions_field
        self.unread = unread


def _head(config: Mapping[str, Any], family: str, fields: Fields) -> str:
    """The class suffix of ``architectures[0]`` (``ForCausalLM``...), checked against the family."""
    architectures = config.get("architectures")
    if architectures is None:
        return "Model"
    if not isinstance(architectures, list) or not architectures or not isinstance(architectures[0], str):
        fields.error("PL202", f"`architectures` must be a list of class names, got {architectures!r}",
                     ("architectures",))
        return "Model"
    name, prefix = architectures[0], CLASS_PREFIX[family]
    suffix = name[len(prefix):] if name.startswith(prefix) else ""
    if suffix not in HEADS[family]:
        known = ", ".join(prefix + head for head in HEADS[family])
        fields.error("PL205", f"class {name!r} is not one paramlint builds for model_type {family!r} "
                              f"(supported classes: {known})",
                     ("architectures", 0))
        return "Model"
    return suffix


def _positions(family: str, fields: Fields) -> Tuple[int, str]:
    field = {"gpt2": "n_positions", "vit": ""}.get(family, "max_position_embeddings")
    return (fields.size(field), field) if field else (0, "")


def convert(config: Mapping[str, Any], *, prefix: ConfigPath = (), sequence_length: Optional[int] = None,
            gradient_checkpointing: bool = False) -> Conversion:
    """Format-1 data for a Hugging Face config of a supported family (see :data:`SUPPORTED`).

    ``prefix``: where the config sits in its document (findings point there).
    ``sequence_length``: tokens per sample (default: ``max_position_embeddings``, at most 4096).
    ``gradient_checkpointing``: as transformers applies it, on every decoder/encoder layer.
    """
    family = config["model_type"]
    fields = Fields(config, family, prefix)
    head = _head(config, family, fields)
    max_positions, positions_field = _positions(family, fields)
    if fields.findings:
        return Conversion(None, tuple(fields.findings))
    seq = sequence_length if sequence_length is not None else min(max_positions, DEFAULT_SEQUENCE_CAP)
    if family == "vit":
        data = build_vit(fields, head, gradient_checkpointing)
    elif family == "gpt2":
        data = build_gpt2(fields, head, seq, gradient_checkpointing)
    elif family == "bert":
        data = build_bert(fields, head, seq, gradient_checkpointing)
    else:
        data = build_decoder(fields, head, seq, gradient_checkpointing)
    if fields.findings:
        return Conversion(None, tuple(fields.findings))
    name = config.get("_name_or_path") or (config.get("architectures") or [family])[0]
    quiet = {"bert": BERT_UNREAD, "gpt2": GPT2_UNREAD}.get(family, ())
    unread = frozenset(("layers", i) for i, entry in enumerate(data["layers"]) if entry["name"] in quiet)
    data["transformers"] = {"model_type": family, "output_embeddings": _output_embeddings(data, head)}
    return Conversion(dict({"paramlint": 1, "name": str(name)}, **data), (), str(name), max_positions,
                      positions_field, unread)


# The layer transformers' get_output_embeddings() returns, by head: peft's "all-linear" skips it,
# and so does bitsandbytes quantization by default (GPT-2's lm_head; BERT's MLM decoder).
_OUTPUT_EMBEDDINGS = {"ForCausalLM": ("lm_head",), "LMHeadModel": ("lm_head", "decoder"),
                      "ForMaskedLM": ("decoder",), "ForPreTraining": ("decoder",), "DoubleHeadsModel": ("lm_head",)}


def _output_embeddings(data: Mapping[str, Any], head: str) -> Optional[str]:
    names = {entry.get("name") for entry in data.get("layers", ())}
    return next((name for name in _OUTPUT_EMBEDDINGS.get(head, ()) if name in names), None)
