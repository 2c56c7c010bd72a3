"""``huggingface:`` in a format-1 file: a config.json (a path relative to the
file, or the fields inline) instead of ``layers``, with ``training`` and
``budgets`` as usual.  :func:`expand` swaps it for the format-1 layers."""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, FrozenSet, List, Mapping, Optional, Tuple

from ...core.diagnostics import ConfigPath, Finding
from ...core.record import Record
from ...source.loader import Document, LoadError, load_document
from ...source.reader import referenced_path
from . import convert, is_huggingface_config, unsupported_note
from .defaults import SUPPORTED

_GRAPH_KEYS = ("layers", "blocks", "input", "inputs")


class Expansion(Record):
    """``data``: the format-1 data to analyse (None when something stops it); ``findings`` are about the
    format-1 file; ``external`` the referenced config.json (path, document or None, findings about it);
    ``unread`` as :attr:`Conversion.unread`."""

    __slots__ = ("data", "findings", "external", "unread")

    def __init__(self, data: Optional[Dict[str, Any]], findings: List[Finding],
                 external: Optional[Tuple[str, Optional[Document], List[Finding]]] = None,
                 unread: FrozenSet[ConfigPath] = frozenset()) -> None:
        self.data = data
        self.findings = findings
        self.external = external
        self.unread = unread


def _training(data: Mapping[str, Any]) -> Tuple[Optional[int], bool]:
    training = data.get("training")
    if not isinstance(training, Mapping):
        return None, False
    seq = training.get("sequence_length")
    seq = seq if isinstance(seq, int) and not isinstance(seq, bool) and seq > 0 else None
    return seq, training.get("gradient_checkpointing") is True


def _inference_positions(data: Mapping[str, Any]) -> List[Tuple[str, int, str]]:
    """(field, positions, what) the ``inference:`` section asks the model to hold, largest last."""
    section = data.get("inference")
    if not isinstance(section, Mapping):
        return []

    def count(key: str) -> Optional[int]:
        value = section.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None

    prompt, new, context = count("prompt_tokens"), count("new_tokens"), count("context_length")
    asked = [("prompt_tokens", prompt, "prompt_tokens")] if prompt else []
    if context:
        asked.append(("context_length", context, "context_length"))
    elif prompt and new:
        asked.append(("new_tokens", prompt + new - 1, f"prompt_tokens + new_tokens - 1 = {prompt:,} + {new:,} - 1"))
    return asked


def expand(data: Mapping[str, Any], *, path: str, read: Callable[[str], bytes]) -> Expansion:
    """The format-1 data of a file with ``huggingface:``; ``read`` reads the referenced file (bounded)."""
    spec = data["huggingface"]
    findings = [Finding("PL201", f"`{key}` cannot be used with `huggingface`, which gives the layers", (key,),
                        at_key=True) for key in _GRAPH_KEYS if key in data]
    external: Optional[Tuple[str, Optional[Document], List[Finding]]] = None
    prefix: ConfigPath = ("huggingface",)
    if isinstance(spec, str) and spec:
        target = os.path.normpath(os.path.join(os.path.dirname(path), spec))
        try:
            target = referenced_path(path, spec)
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
        shown = {str: "an empty path", type(None): "nothing", bool: f"{spec}".lower(), list: "a list",
                 int: f"the number {spec}", float: f"the number {spec}"}.get(type(spec), type(spec).__name__)
        return Expansion(None, findings + [Finding("PL202", "`huggingface` must be the path of a config.json or "
                                                            f"a mapping of its fields, got {shown}", prefix)])
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
    for field, positions, what in _inference_positions(data):
        if conversion.max_positions and positions > conversion.max_positions:
            findings.append(Finding("PL402", f"{what} = {positions:,} positions is more than the model's "
                                             f"{conversion.positions_field} {conversion.max_positions:,}",
                                    ("inference", field)))
            break
    if conversion.data is None or findings or (external is not None and external[2]):
        return Expansion(None, findings, external)
    expanded = {k: v for k, v in data.items() if k != "huggingface"}
    expanded.setdefault("name", conversion.name)
    for key in ("input", "inputs", "blocks", "layers", "transformers"):
        if key in conversion.data:
            expanded[key] = conversion.data[key]
    return Expansion(expanded, findings, external, conversion.unread)
