"""``huggingface:`` in a format-1 file: a config.json (a path relative to the
file, or the fields inline) instead of ``layers``, with ``training`` and
``budgets`` as usual.  :func:`expand` swaps it for the format-1 layers."""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ...core.diagnostics import ConfigPath, Finding
from ...core.record import Record
from ...source.loader import Document, LoadError, load_document
from . import convert, is_huggingface_config, unsupported_note
from .defaults import SUPPORTED

_GRAPH_KEYS = ("layers", "blocks", "input", "inputs")


class Expansion(Record):
    """``data``: the format-1 data to analyse (None when something stops it); ``findings`` are about the
    format-1 file; ``external`` the referenced config.json (path, document or None, findings about it)."""

    __slots__ = ("data", "findings", "external")

    def __init__(self, data: Optional[Dict[str, Any]], findings: List[Finding],
                 external: Optional[Tuple[str, Optional[Document], List[Finding]]] = None) -> None:
        self.data = data
        self.findings = findings
        self.external = external


def _training(data: Mapping[str, Any]) -> Tuple[Optional[int], bool]:
    training = data.get("training")
    if not isinstance(training, Mapping):
        return None, False
    seq = training.get("sequence_length")
    seq = seq if isinstance(seq, int) and not isinstance(seq, bool) and seq > 0 else None
    return seq, training.get("gradient_checkpointing") is True


def expand(data: Mapping[str, Any], *, path: str, read: Callable[[str], bytes]) -> Expansion:
    """The format-1 data of a file with ``huggingface:``; ``read`` reads the referenced file (bounded)."""
    spec = data["huggingface"]
    findings = [Finding("PL201", f"`{key}` cannot be used with `huggingface`, which gives the layers", (key,),
                        at_key=True) for key in _GRAPH_KEYS if key in data]
    external: Optional[Tuple[str, Optional[Document], List[Finding]]] = None
    prefix: ConfigPath = ("huggingface",)
    if isinstance(spec, str):
        target = os.path.normpath(os.path.join(os.path.dirname(path), spec))
        try:
            document = load_document(read(target), path=target)
        except OSError as error:
            reason = getattr(error, "strerror", None) or str(error)
            return Expansion(None, findings + [Finding("PL901", f"cannot read {target}: {reason}", prefix)])
        except LoadError as error:
            return Expansion(None, findings + [Finding(error.code, f"{target}:{error.line}:{error.column}: "
                                                                   f"{error.message}", prefix)])
        config: Any = document.data
        external = (target, document, [])
        prefix = ()
    elif isinstance(spec, Mapping):
        config = spec
    else:
        return Expansion(None, findings)  # the schema reports the wrong type
    if not is_huggingface_config(config):
        return Expansion(None, findings + [Finding("PL203", "the Hugging Face config has no `model_type`",
                                                   ("huggingface",))])
    if config["model_type"] not in SUPPORTED:
        where = prefix + ("model_type",) if external is None else ("huggingface",)
        return Expansion(None, findings + [Finding("PL205", unsupported_note(config["model_type"]), where)])
    seq, checkpointing = _training(data)
    conversion = convert(config, prefix=prefix, sequence_length=seq, gradient_checkpointing=checkpointing)
    if external is not None:
        external[2].extend(conversion.findings)
    else:
        findings.extend(conversion.findings)
    if seq is not None and conversion.max_positions and seq > conversion.max_positions:
        findings.append(Finding("PL402", f"sequence_length {seq} is more than the model's "
                                         f"{conversion.positions_field} {conversion.max_positions}",
                                ("training", "sequence_length")))
    if conversion.data is None or findings or (external is not None and external[2]):
        return Expansion(None, findings, external)
    expanded = {k: v for k, v in data.items() if k != "huggingface"}
    expanded.setdefault("name", conversion.name)
    for key in ("input", "inputs", "blocks", "layers", "transformers"):
        if key in conversion.data:
            expanded[key] = conversion.data[key]
    return Expansion(expanded, findings, external)
