"""Small helpers for tests that lint inline configs."""
from __future__ import annotations

import textwrap
from typing import Any, List, Optional, Tuple

from paramlint.lint import FileReport, Linter

_LINTER = Linter(debug=True)


def lint_yaml(text: str, path: str = "model.yaml") -> FileReport:
    return _LINTER.lint_bytes(textwrap.dedent(text).encode("utf-8"), path=path)


def codes(text: str, path: str = "model.yaml") -> List[Tuple[int, int, str]]:
    """(line, column, code) of every diagnostic, the way tests assert them."""
    return [(d.line, d.column, d.code) for d in lint_yaml(text, path).diagnostics]


def at(text: str, line: int, token: str, code: str) -> Tuple[int, int, str]:
    """(line, column, code) of the first ``token`` on ``line`` (1-based) of ``text``."""
    source = textwrap.dedent(text).splitlines()[line - 1]
    assert token in source, (token, source)
    return line, source.index(token) + 1, code


def torchvision_make_divisible(v: float, divisor: int, min_value: Optional[int] = None) -> int:
    """torchvision.models._utils._make_divisible, as torchvision writes it (the oracle of ``make_divisible``)."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def saved_bytes(timeline: Any, batch: int) -> int:
    """What paramlint's training timeline keeps saved for backward after the forward pass, at ``batch``
    (unrounded: what saved_tensors_hooks sees)."""
    from paramlint.memory.simulation import sizes

    size = sizes(timeline, batch, 1)
    return sum(size[s] for storages in timeline.layer_saved.values() for s in storages)
