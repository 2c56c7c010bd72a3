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
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple

from ..core.diagnostics import Finding
from .analysis import ShapeAnalysis

Tensor = Any  # model.finetune.Tensor (which imports this module)

EMBEDDING_LAYER_NAMES = ("embed_tokens", "lm_head")  # peft.utils.constants


class Tying:
    """What peft's weight tying makes of a LoraConfig: the rewritten
    ``target_modules`` and ``modules_to_save``, the tied modules whose
    trained copy is the embedding's (``copies``) and those adapted whatever
    the targets say (``targets``)."""

    __slots__ = ("target_modules", "modules_to_save", "copies", "targets", "embedding", "shared_storage")

    def __init__(self, target_modules: Any, modules_to_save: Sequence[str], copies: FrozenSet[str] = frozenset(),
                 targets: FrozenSet[str] = frozenset(), embedding: Optional[int] = None,
                 shared_storage: FrozenSet[int] = frozenset()) -> None:
        self.target_modules = target_modules
        self.modules_to_save = tuple(modules_to_save)
        self.copies = copies
        self.targets = targets
        self.embedding = embedding  # the input embedding's layer
        self.shared_storage = shared_storage  # tied heads whose adapters are views of the embedding's


def is_tied_name(path: str, tied: FrozenSet[str]) -> bool:
    """peft's ``_check_tied_module_exists``: the name itself or a suffix after a dot."""
    return path in tied or any(path.endswith("." + key) for key in tied)


def _matches(pattern: str, name: str) -> bool:
    """A whole-name match; a pattern that is no regular expression matches nothing (PL202 says why)."""
    try:
        return re.fullmatch(pattern, name) is not None
    except re.error:
        return False


def _names_embedding(target_modules: Any, modules_to_save: Sequence[str]) -> Tuple[bool, bool]:
    to_save = any(m.split(".")[-1] in EMBEDDING_LAYER_NAMES for m in modules_to_save)
    if isinstance(target_modules, str):
        in_target = any(_matches(target_modules, m) for m in EMBEDDING_LAYER_NAMES)
    else:
        in_target = any(m.split(".")[-1] in EMBEDDING_LAYER_NAMES for m in target_modules or ())
    return to_save, in_target


def _drop_tied(entries: List[str], tied: Sequence[str]) -> List[str]:
    for key in tied:
        for entry in entries:
            if _matches(rf"(^|.*\.){entry}($|\..*)", key):
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
        # peft ties the adapters of a tied key that is also the module's own name (its last part): a
        # top-level head; BERT's MLM decoder (cls.predictions.decoder) gets adapters of its own
        top_level = frozenset(head for head, source in shared if source == owner and model_type != "bert"
                              and "." not in paths[head])
        return Tying(target, saved, targets=frozenset(tied), embedding=owner, shared_storage=top_level), []
    return untouched, []  # peft warns that neither names a tied module


def tie_adapters(tying: Tying, paths: Sequence[str], adapted: Dict[int, List[Tensor]],
                 where: Tuple[str, ...]) -> List[Finding]:
    """A tied head's lora_A and lora_B: Parameters of their own on the transposed storage of the
    embedding's lora_embedding_B and lora_embedding_A (``view_of``); PL521 where peft fails."""
    findings = []
    for index in sorted(i for i in adapted if i in tying.shared_storage):
        embedding = {t.name: t for t in adapted.get(tying.embedding, ())}  # type: ignore[arg-type]
        if "lora_embedding_A" not in embedding:
            owner = paths[tying.embedding]  # type: ignore[index]
            findings.append(Finding("PL521", f"ensure_weight_tying ties the adapters of `{paths[index]}` to those "
                                             f"of the embedding `{owner}`, which is not adapted: peft fails",
                                    where + ("target_modules",)))
            continue
        for tensor in adapted[index]:
            source = {"lora_A": "lora_embedding_B", "lora_B": "lora_embedding_A"}.get(tensor.name)
            if source is not None:
                tensor.view_of = embedding[source]
    return findings


def tie_copies(tying: Tying, paths: Sequence[str], layer_tensors: Dict[int, List[Tensor]],
               adapted: Mapping[int, Any], copies: Dict[int, List[Tensor]], where: Tuple[str, ...]) -> List[Finding]:
    """Each module a tied key names (a plain suffix, as modules_to_save) is frozen, and its copy is a
    bias-free Linear whose weight is the embedding copy's own tensor; PL521 where peft raises."""
    embedding_copy = next((t for t in copies.get(tying.embedding, ()) if t.name == "weight"),  # type: ignore[arg-type]
                          None) if tying.copies else None
    if embedding_copy is None:  # no tied copies (or the embedding inside a wrapped module: peft finds no copy)
        return []
    findings = []
    for index, path in enumerate(paths):
        if not any(path.endswith(key) for key in tying.copies):
            continue
        for tensor in layer_tensors[index]:
            tensor.trainable = False
        copies[index] = [embedding_copy]
        if index in adapted:
            findings.append(Finding("PL521", f"`{path}` is both a LoRA target and, tied to the embedding by "
                                             f"ensure_weight_tying, a modules_to_save copy: peft raises "
                                             f"(modules_to_save cannot be applied to a LoRA layer)",
                                    where + ("target_modules",)))
    return findings
