"""Every sample output in README.md is what its command prints today.

A sample is a ```text block whose first line is ``$ paramlint ...``: the
command is run from the repository root and its output (stdout, then
stderr) must equal the rest of the block.  A line ``...`` alone elides
lines of a long output: the lines before the first ``...`` must begin the
output, those after the last end it, and each run between two of them must
follow in that order.  When an intended change alters
the output, refresh every sample at once with

    PARAMLINT_REFRESH_README=1 python -m pytest -q tests/test_readme_samples.py

and review the README's diff before committing it.
"""
from __future__ import annotations

import difflib
import os
import re
import shlex
from pathlib import Path
from typing import List, Tuple

from paramlint.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SAMPLE = re.compile(r"^```text\n\$ (paramlint[^\n]*)\n(.*?)^```$", re.S | re.M)
REFRESH = os.environ.get("PARAMLINT_REFRESH_README") == "1"


def samples(text: str) -> List[Tuple[str, str]]:
    return [(match.group(1), match.group(2)) for match in SAMPLE.finditer(text)]


ELISION = "..."


def matches(shown: str, printed: str) -> bool:
    lines, out = shown.splitlines(), printed.splitlines()
    if ELISION not in lines:
        return shown == printed
    runs: List[List[str]] = [[]]
    for line in lines:
        if line == ELISION:
            runs.append([])
        else:
            runs[-1].append(line)
    head, middle, tail = runs[0], runs[1:-1], runs[-1]
    if len(out) < len(head) + len(tail) or out[:len(head)] != head or out[len(out) - len(tail):] != tail:
        return False
    position, end = len(head), len(out) - len(tail)
    for run in middle:  # each run found after the previous one
        while position + len(run) <= end and out[position:position + len(run)] != run:
            position += 1
        if position + len(run) > end:
            return False
        position += len(run)
    return True


def refreshed_sample(shown: str, printed: str) -> str:
    """``printed``, elided where the sample was, keeping as many lines above and below as it had."""
    lines, out = shown.splitlines(), printed.splitlines()
    if ELISION not in lines:
        return printed
    if matches(shown, printed):
        return shown
    cut = lines.index(ELISION)
    below = len(lines) - cut - 1
    return "\n".join(out[:cut] + [ELISION] + out[len(out) - below:]) + "\n"


def test_elision_matches_head_and_tail_only():
    assert matches("a\n...\nz\n", "a\nb\nc\nz\n") and not matches("a\n...\nz\n", "a\nb\ny\n")
    assert not matches("a\n...\nz\n", "z\n") and matches("a\n", "a\n") and not matches("a\n", "b\n")
    assert refreshed_sample("a\n...\nz\n", "a\nb\nc\ny\n") == "a\n...\ny\n"
    assert matches("a\n...\nc\n...\nz\n", "a\nb\nc\nd\nz\n") and not matches("a\n...\nq\n...\nz\n", "a\nb\nz\n")


def run(command: str, capsys, monkeypatch) -> str:
    """What ``command`` prints, run in-process from the repository root (no colour, no CI format)."""
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    capsys.readouterr()
    main(shlex.split(command)[1:])
    captured = capsys.readouterr()
    return captured.out + captured.err


def test_the_readme_has_samples_of_each_command():
    commands = [command for command, _ in samples(README.read_text(encoding="utf-8"))]
    assert len(commands) >= 4, commands
    for word in ("--summary", "diff", "fit", "broken.yaml"):
        assert any(word in command for command in commands), (word, commands)


def test_readme_samples_match_their_commands(capsys, monkeypatch):
    text = README.read_text(encoding="utf-8")
    problems = []

    def replace(match: "re.Match[str]") -> str:
        command, shown = match.group(1), match.group(2)
        printed = run(command, capsys, monkeypatch)
        if not matches(shown, printed):
            diff = difflib.unified_diff(shown.splitlines(), printed.splitlines(), "README", "printed", lineterm="")
            problems.append(f"$ {command}\n" + "\n".join(diff))
        return f"```text\n$ {command}\n{refreshed_sample(shown, printed)}```"

    refreshed = SAMPLE.sub(replace, text)
    if REFRESH:
        README.write_text(refreshed, encoding="utf-8")
        return
    assert not problems, ("README samples are stale; refresh them with PARAMLINT_REFRESH_README=1 (see this "
                          "module's docstring):\n\n" + "\n\n".join(problems))
