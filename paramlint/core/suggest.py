"""``did you mean`` hints for misspelt keys, layer types and names."""
from __future__ import annotations

from itertools import islice
from typing import Iterable


# torch names that paramlint spells differently or does not have, and the layer that does the job.  A hint
# applies only while the name is not a registered type (a test checks that no alias names one).
TYPE_ALIASES = {
    "SyncBatchNorm": "BatchNorm2d",  # the same parameters and statistics on one device
}
MAX_WORD = 64  # a longer word gets no suggestion (difflib is quadratic in the lengths)
MAX_SCANNED = 2000  # candidates looked at, in their order: a network of 100,000 names is not scanned per typo
MAX_CANDIDATES = 100  # compared per word at most: thousands of typos against thousands of names stay cheap


def closest(word: str, candidates: Iterable[str]) -> str:
    """The candidate a person most likely meant, or ``""``.

    Bounded work: the first ``MAX_SCANNED`` candidates are looked at; only
    those of a similar length are compared, at most ``MAX_CANDIDATES`` of
    them (those sharing the first letter first).
    """
    candidates = [str(c) for c in islice(candidates, MAX_SCANNED)]
    lowered = {c.lower(): c for c in candidates}
    if word.lower() in lowered:  # Conv2D -> Conv2d
        return lowered[word.lower()]
    if len(word) > MAX_WORD:
        return ""
    slack = max(3, len(word) // 2)
    candidates = [c for c in candidates if abs(len(c) - len(word)) <= slack]
    if len(candidates) > MAX_CANDIDATES:
        initial = word[:1].lower()
        candidates = sorted(candidates, key=lambda c: c[:1].lower() != initial)[:MAX_CANDIDATES]
        lowered = {c.lower(): c for c in candidates}
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


def did_you_mean_type(word: str, candidates: Iterable[str]) -> str:
    """Like :func:`did_you_mean` for a layer type, knowing the aliases of :data:`TYPE_ALIASES`."""
    candidates = list(candidates)
    alias = TYPE_ALIASES.get(str(word))
    if alias and alias in candidates and word not in candidates:
        return f"; did you mean `{alias}`?"
    return did_you_mean(word, candidates)
