"""peft's ``ensure_weight_tying`` (LoraConfig, peft 0.21): what it changes in
a model whose output embeddings are tied to its input embeddings.

peft looks for tied modules only in a transformers model (its
``_tied_weights_keys``, unless ``tie_word_embeddings`` is false): in
paramlint, a model the Hugging Face front end wrote (``model_type`` known)
whose layer ``shares:`` an Embedding.  It then checks whether an embedding
is named by the config: a ``modules_to_save`` entry or a ``target_modules``
entry whose last dotted part is ``embed_tokens`` or ``lm_head`` (a string
``target_modules``: a regular expression matching either whole word).

With the flag and tied modules (``modules_to_save`` first, else targets):

- ``modules_to_save``: the input embedding's name is added, the first entry
  naming each tied module is removed; the embedding gets its trained copy
  and each tied module a copy that is a bias-free Linear on the embedding
  copy's own weight (one trained tensor, one gradient, one optimizer state).
- ``target_modules``: the embedding's name is added (a string becomes
  ``(?:old|^embedding$)``), the first entry naming each tied module is
  removed, and every tied module is adapted whatever the targets say.  Its
  ``lora_A`` and ``lora_B`` are new Parameters on the embedding adapters'
  transposed storage: torch counts them as parameters of their own (their
  own gradients and optimizer state), with the shapes a Linear's adapters
  have anyway.

Without the flag peft only warns; the copies and adapters stay separate.
"""
from __future__ import annotations

import re
from typing import Any, FrozenSet, List, Optional, Sequence, Tuple

from ..core.diagnostics import Finding
from .analysis import ShapeAnalysis

EMBEDDING_LAYER_NAMES = ("embed_tokens", "lm_head")  # peft.utils.constants


class Tying:
    """What peft's weight tying makes of a LoraConfig: the rewritten
    ``target_modules`` and ``modules_to_save``, the tied modules whose
    trained copy is the embedding's (``copies``) and those adapted whatever
    the targets say (``targets``)."""

    __slots__ = ("target_modules", "modules_to_save", "copies", "targets", "embedding")

    def __init__(self, target_modules: Any, modules_to_save: Sequence[str], copies: FrozenSet[str] = frozenset(),
                 targets: FrozenSet[str] = frozenset(), embedding: Optional[int] = None) -> None:
        self.target_modules = target_modules
        self.modules_to_save = tuple(modules_to_save)
        self.copies = copies
        self.targets = targets
        self.embedding = embedding  # the input embedding's layer


def is_tied_name(path: str, tied: FrozenSet[str]) -> bool:
    """peft's ``_check_tied_module_exists``: the name itself or a suffix after a dot."""
    return path in tied or any(path.endswith("." + key) for key in tied)


def _names_embedding(target_modules: Any, modules_to_save: Sequence[str]) -> Tuple[bool, bool]:
    to_save = any(m.split(".")[-1] in EMBEDDING_LAYER_NAMES for m in modules_to_save)
    if isinstance(target_modules, str):
        in_target = any(re.fullmatch(target_modules, m) for m in EMBEDDING_LAYER_NAMES)
    else:
        in_target = any(m.split(".")[-1] in EMBEDDING_LAYER_NAMES for m in target_modules or ())
    return to_save, in_target


def _drop_tied(entries: List[str], tied: Sequence[str]) -> List[str]:
    for key in tied:
        for entry in entries:
            if re.match(rf"(^|.*\.){entry}($|\..*)", key):
                entries.remove(entry)
                break
    return entries


def tie_weights(settings: Any, shapes: ShapeAnalysis, paths: Sequence[str],
                model_type: Optional[str]) -> Tuple[Tying, List[Finding]]:
    """The LoraConfig peft goes on with (``settings``: model.finetune.LoraSettings); PL522 where the
    flag does nothing that a user would expect it to do."""
    target, saved = settings.target_modules, list(settings.modules_to_save)
    untouched = Tying(target, saved)
    if not settings.ensure_weight_tying:
        return untouched, []
    shared = [(info.node.index, info.node.shares) for info in shapes.layers
              if info.node.shares is not None and shapes.layers[info.node.shares].node.type == "Embedding"]
    if not shared:
        return untouched, []  # peft warns that it found no tied modules
    if model_type is None:
        heads = ", ".join(f"`{paths[head]}`" for head, _ in shared)
        return untouched, [Finding("PL522", f"ensure_weight_tying changes nothing here: {heads} shares the "
                                            f"embedding `{paths[shared[0][1]]}`, but peft reads tied weights only "
                                            f"from a transformers model's _tied_weights_keys (copies and adapters "
                                            f"of the two stay separate)", ("training", "lora", "ensure_weight_tying"))]
    owner = shared[0][1]
    embedding = paths[owner]
    tied = sorted({paths[head] for head, source in shared if source == owner})
    to_save, in_target = _names_embedding(target, saved)
    if to_save:
        if embedding not in saved:
            saved.append(embedding)
        return Tying(target, _drop_tied(saved, tied), copies=frozenset(tied), embedding=owner), []
    if in_target:
        if isinstance(target, str):
            target = rf"(?:{target}|^{re.escape(embedding)}$)"
        else:
            target = _drop_tied(sorted(set(target) | {embedding}), tied)
        return Tying(target, saved, targets=frozenset(tied), embedding=owner), []
    return untouched, []  # peft warns that neither names a tied module
