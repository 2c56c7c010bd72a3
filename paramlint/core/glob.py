"""gitignore-like globs matched without backtracking.

``*`` and ``?`` stay within a folder, ``**`` crosses folders and ``**/``
matches zero or more whole folders.  A regex translation backtracks: sixteen
``*`` in a committed pyproject.toml would hang the run.  Here the pattern is a
list of steps and the match runs them as a set of states, one pass over the
name: at most ``len(pattern) x len(name)`` steps for any pattern.
"""
from __future__ import annotations

from functools import lru_cache
from typing import List, Set, Tuple

# Step kinds: a literal character, "?" (one character but "/"), "*" (any run without "/"), "**" (any run),
# "**/" (nothing, or any run that ends with "/").
Step = Tuple[str, str]


@lru_cache(maxsize=256)
def compile_glob(pattern: str) -> Tuple[Step, ...]:
    steps: List[Step] = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            step: Step = ("**/", "")
            index += 3
        elif pattern.startswith("**", index):
            step = ("**", "")
            index += 2
        elif pattern[index] in "*?":
            step = (pattern[index], "")
            index += 1
        else:
            step = ("char", pattern[index])
            index += 1
        if step[0] in ("*", "**", "**/") and steps and steps[-1] == step:
            continue  # "* *" in a row match what one does
        steps.append(step)
    return tuple(steps)


def glob_match(pattern: str, name: str) -> bool:
    """Whether ``name`` (a POSIX path) matches ``pattern`` as a whole."""
    steps = compile_glob(pattern)
    # a state is (step index, inside): inside a "**/" step that has consumed characters but not yet its "/"
    states = _closure({(0, False)}, steps)
    for char in name:
        following: Set[Tuple[int, bool]] = set()
        for index, inside in states:
            if index == len(steps):
                continue
            kind, literal = steps[index]
            if kind == "char":
                if char == literal:
                    following.add((index + 1, False))
            elif kind == "?":
                if char != "/":
                    following.add((index + 1, False))
            elif kind == "*":
                if char != "/":
                    following.add((index, False))
            elif kind == "**":
                following.add((index, False))
            else:  # "**/": keep consuming; a "/" may also end it
                following.add((index, True))
                if char == "/":
                    following.add((index + 1, False))
        if not following:
            return False
        states = _closure(following, steps)
    return any(index == len(steps) for index, _ in states)


def _closure(states: Set[Tuple[int, bool]], steps: Tuple[Step, ...]) -> Set[Tuple[int, bool]]:
    """Add the states reached without a character: past a "*", "**" or "**/" that matches nothing."""
    result = set(states)
    pending = [state for state in states if not state[1]]
    while pending:
        index, _ = pending.pop()
        if index < len(steps) and steps[index][0] in ("*", "**", "**/"):
            state = (index + 1, False)
            if state not in result:
                result.add(state)
                pending.append(state)
    return result
