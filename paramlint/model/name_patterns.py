"""Regular expressions from a config, checked before they run.

peft matches a string ``target_modules`` (or ``exclude_modules``) with
``re.fullmatch`` against every module name, and ``modules_to_save`` entries
inside a pattern of its own.  A config comes from an untrusted pull request,
and Python's backtracking matcher takes exponential time on a repetition of
something that can itself match in more than one way (``(a+)+b`` against
fifty ``a``: hours), and time of the name's length to the power of the
number of unbounded repetitions (``.*.*.*.*x``).  So a pattern is parsed
first and refused (with why) when it is not a valid expression, when it
repeats a repetition or an alternation, or when its unbounded repetitions
could cost more than :data:`MAX_STEPS` on the longest module name.
"""
from __future__ import annotations

import re
from typing import Any, Iterator

try:  # the parser behind re.compile: re._parser from Python 3.11, sre_parse before
    from re import _parser as _sre  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python 3.9 and 3.10
    import sre_parse as _sre  # type: ignore[no-redef]

MAX_STEPS = 10 ** 7  # the most backtracking steps a pattern may cost on one name (well under 0.1 s)

_REPEATS = {_sre.MAX_REPEAT, _sre.MIN_REPEAT} | ({_sre.POSSESSIVE_REPEAT} if hasattr(_sre, "POSSESSIVE_REPEAT")
                                                else set())
_UNBOUNDED = 1 << 16  # a repetition with more possible counts than this counts as unbounded


def pattern_problem(pattern: str, longest_name: int, surrounding: int = 0) -> str:
    """Why this pattern is not run against names of up to ``longest_name`` characters ("" when it is run).
    ``surrounding``: unbounded repetitions of a pattern it is put inside (they count when it has any)."""
    try:
        parsed = _sre.parse(pattern)
    except (re.error, RecursionError, OverflowError) as error:
        return f"is not a valid regular expression ({error})"
    except Exception as error:  # the parser is CPython's own; anything else it raises is still a bad pattern
        return f"is not a valid regular expression ({type(error).__name__}: {error})"
    try:
        nested = _nested_repeat(parsed, inside=False)
        unbounded = sum(1 for _ in _unbounded(parsed))
        unbounded += surrounding if unbounded else 0
    except RecursionError:
        return "is nested too deeply to check"
    if nested:
        return ("repeats a repetition or an alternation (like `(a+)+` or `(a|ab)*`), which Python's matcher can "
                "take exponential time on: paramlint does not run it (write the alternatives out, or list the "
                "module names)")
    if unbounded > 1 and max(longest_name, 1) ** unbounded > MAX_STEPS:
        return (f"has {unbounded} unbounded repetitions: matched against a {longest_name:,}-character module "
                f"name that can take about {longest_name:,}^{unbounded} steps; paramlint does not run it "
                "(use fewer `.*`, or list the module names)")
    return ""


def _children(value: Any) -> Iterator[Any]:
    """The sub-patterns inside one parsed item's argument, wherever the parser put them."""
    if isinstance(value, _sre.SubPattern):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _children(item)


def _nested_repeat(parsed: Any, inside: bool) -> bool:
    for op, argument in parsed:
        if op in _REPEATS:
            low, high, body = argument
            many = high > 1
            if inside and (many or _has_branch(body)):
                return True
            if _nested_repeat(body, inside or many) or (many and _has_branch(body)):
                return True
            continue
        if any(_nested_repeat(child, inside) for child in _children(argument)):
            return True
    return False


def _has_branch(parsed: Any) -> bool:
    for op, argument in parsed:
        if op == _sre.BRANCH:
            return True
        if any(_has_branch(child) for child in _children(argument)):
            return True
    return False


def _unbounded(parsed: Any) -> Iterator[None]:
    for op, argument in parsed:
        if op in _REPEATS:
            low, high, body = argument
            if high - low > _UNBOUNDED:
                yield None
            yield from _unbounded(body)
            continue
        for child in _children(argument):
            yield from _unbounded(child)
