"""``did you mean`` hints for misspelt keys, layer types and names."""
from __future__ import annotations

from typing import Iterable


def closest(word: str, candidates: Iterable[str]) -> str:
    """The candidate a person most likely meant, or ``""``."""
    candidates = [str(c) for c in candidates]
    lowered = {c.lower(): c for c in candidates}
    if word.lower() in lowered:  # Conv2D -> Conv2d
        return lowered[word.lower()]
    import difflib  # only on the error path: keeps start-up fast

    matches = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    if not matches:
        matches = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
        matches = [lowered[m] for m in matches]
    return matches[0] if matches else ""


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """``"; did you mean `kernel_size`?"`` or ``""``."""
    match = closest(str(word), candidates)
    return f"; did you mean `{match}`?" if match else ""
