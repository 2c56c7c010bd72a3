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
from typing import Any, Dict, List, Mapping, Optional, Tuple

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


def longest_sequence(data: Mapping[str, Any], budget: int, device: DeviceModel
                     ) -> Tuple[Optional[int], int, Optional[Any], str]:
    """(longest length that fits or None, its peak, its analysis, a note when no search is possible)."""
    from ..lint import analyze_document
    from ..memory.model import MemoryModel
    from ..validation.validator import SchemaValidator

    names = token_inputs(data)
    if not names:
        return None, 0, None, ("no token input whose length can vary (a 1-d integer input such as "
                               "`tokens: {shape: [L], dtype: int64}`): --sequence-length has nothing to search")
    validator = SchemaValidator()
    analyses: Dict[int, Any] = {}

    def peak_at(length: int) -> int:
        _, analysis = analyze_document(with_length(data, names, length), None, validator)
        if analysis is None:
            return INFEASIBLE
        analyses[length] = analysis
        run = analysis.finetune
        model = MemoryModel(run.shapes if run else analysis.shapes, analysis.training,
                            output=run.output if run else None, device=device, tuning=run.tuning if run else None)
        return model.peak(analysis.training.batch_size)

    length, peak = largest_batch(peak_at, budget, limit=MAX_LENGTH)
    return length, peak, analyses.get(length), ""
