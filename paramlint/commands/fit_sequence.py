"""``paramlint fit --sequence-length``: the longest token sequence whose
training step (at the config's micro-batch) fits a memory budget.

A format-1 config fixes its shapes, so the search rewrites the length of
every token input (a 1-d integer input, ``{shape: [L], dtype: int64}``) and
lints the config again for each length tried; a layer that pins the length
(learned positions ``Parameter: [1024, 768]``) makes longer lengths fail,
and the search stops below them.  A config without such an input cannot be
searched; it gets a clear message instead.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ..memory.precision import DeviceModel
from ..memory.search import largest_batch

INFEASIBLE = 1 << 62
MAX_LENGTH = 1 << 24


def token_inputs(data: Mapping[str, Any]) -> List[str]:
    """The names of the 1-d integer inputs (token ids) whose length can vary."""
    inputs = data.get("inputs") or {}
    names = []
    for name, spec in inputs.items():
        if isinstance(spec, Mapping) and str(spec.get("dtype", "float32")).startswith("int") \
                and len(spec.get("shape", [])) == 1:
            names.append(name)
    return names


def with_length(data: Mapping[str, Any], names: List[str], length: int) -> Dict[str, Any]:
    changed = copy.deepcopy(dict(data))
    for name in names:
        changed["inputs"][name]["shape"] = [length]
    return changed


def longest_sequence(data: Any, budget: int, device: DeviceModel, *, path: str = ""
                     ) -> Tuple[Optional[int], int, Optional[Any], str]:
    """(longest length that fits or None, its peak, its analysis, a note when no search is possible)."""
    from ..lint import analyze_document
    from ..memory.finetune_run import memory_model
    from ..validation.validator import SchemaValidator

    at_length = _length_setter(data, path)
    if at_length is None:
        return None, 0, None, ("no token input whose length can vary (a 1-d integer input such as "
                               "`tokens: {shape: [L], dtype: int64}`, or a Hugging Face model): "
                               "--sequence-length has nothing to search")
    validator = SchemaValidator()
    analyses: Dict[int, Any] = {}

    def peak_at(length: int) -> int:
        changed = at_length(length)
        if changed is None:  # past what the model takes (a Hugging Face model's max_position_embeddings)
            return INFEASIBLE
        _, analysis = analyze_document(changed, None, validator)
        if analysis is None:
            return INFEASIBLE
        analyses[length] = analysis
        model = memory_model(analysis.finetune, analysis.shapes, analysis.output, analysis.training, device=device)
        return model.peak(analysis.training.batch_size)

    length, peak = largest_batch(peak_at, budget, limit=MAX_LENGTH)
    written = _written_length(data)
    if written is not None and (length or 0) < written and peak_at((length or 0) + 1) == INFEASIBLE \
            and peak_at(written) != INFEASIBLE:
        # the search stopped at a length the model cannot take, below one it can: the model pins the length
        return None, 0, None, (f"the model takes {written:,} tokens and not every shorter length (a layer such "
                               f"as learned positions fixes it): --sequence-length cannot vary it")
    return length, peak, analyses.get(length), ""


def _written_length(data: Any) -> Optional[int]:
    """The length a format-1 config writes for its first token input."""
    names = token_inputs(data) if isinstance(data, Mapping) and "huggingface" not in data else []
    if not names:
        return None
    length = data["inputs"][names[0]]["shape"][0]
    return length if isinstance(length, int) and not isinstance(length, bool) and length > 0 else None


def _length_setter(data: Any, path: str) -> Optional[Callable[[int], Optional[Mapping[str, Any]]]]:
    """length -> the format-1 data at that length (None past what the model takes); None: nothing to vary.

    A format-1 config gets its token inputs rewritten; a Hugging Face model (a config.json, or a file with
    ``huggingface:``) its ``training.sequence_length``, expanded again as the linter expands it."""
    from ..importers.huggingface import is_huggingface_config

    if not isinstance(data, Mapping):
        return None
    if is_huggingface_config(data):
        data = {"paramlint": 1, "huggingface": dict(data)}
    if "huggingface" not in data or "paramlint" not in data:
        names = token_inputs(data)
        return (lambda length: with_length(data, names, length)) if names else None
    from ..importers.huggingface.reference import expand
    from ..source.loader import LIMITS
    from ..source.reader import read_guarded

    def at(length: int) -> Optional[Mapping[str, Any]]:
        changed = dict(data)
        changed["training"] = dict(changed.get("training") or {}, sequence_length=length)
        return expand(changed, path=path, read=lambda target: read_guarded(target, LIMITS.max_bytes)).data

    return at
