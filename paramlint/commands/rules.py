"""``paramlint rules``, ``paramlint --explain CODE`` and ``paramlint schema``: the tool documents itself."""
from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional, Sequence

from ..rules import RULES, Rule

RULE_TABLE_HEADER = ("| Code | Name | Severity | What it checks |", "|---|---|---|---|")


def find_rule(name_or_code: str) -> Optional[Rule]:
    """A rule by code (any case) or by kebab-case name."""
    wanted = name_or_code.strip()
    return RULES.get(wanted.upper()) or next((r for r in RULES.values() if r.name == wanted.lower()), None)


def explain(rule: Rule) -> str:
    """What ``--explain`` prints: what the rule checks, why, a failing example and the fix."""
    example = "\n".join("    " + line for line in rule.example.splitlines())
    return (f"{rule.code} {rule.name} ({rule.severity})\n\n{rule.summary}\n\n"
            f"Why it matters:\n    {rule.why}\n\nExample that fails:\n{example}\n\nFix:\n    {rule.fix}\n")


def rules_markdown() -> str:
    """The rule table of README.md, generated from the catalogue."""
    lines: List[str] = list(RULE_TABLE_HEADER)
    for rule in RULES.values():
        summary = rule.summary.replace("|", "\\|")
        lines.append(f"| {rule.code} | `{rule.name}` | {rule.severity} | {summary} |")
    return "\n".join(lines) + "\n"


def rules_text() -> str:
    width = max(len(rule.name) for rule in RULES.values())
    return "".join(f"{r.code}  {r.name.ljust(width)}  {r.severity.ljust(7)}  {r.summary}\n" for r in RULES.values())


def rules_json() -> str:
    return json.dumps([{"code": r.code, "name": r.name, "severity": r.severity, "summary": r.summary,
                        "why": r.why, "example": r.example, "fix": r.fix} for r in RULES.values()], indent=2) + "\n"


def rules_command(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="paramlint rules", description="List every rule paramlint checks.")
    parser.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as stop:
        return int(stop.code or 0) and 2
    render = {"text": rules_text, "json": rules_json, "markdown": rules_markdown}[args.format]
    sys.stdout.write(render())
    return 0


def explain_command(code: str) -> int:
    rule = find_rule(code)
    if rule is None:
        from ..core.suggest import did_you_mean

        hint = did_you_mean(code, [*RULES, *(r.name for r in RULES.values())])
        print(f"paramlint: error: no rule `{code}`{hint} (`paramlint rules` lists them)", file=sys.stderr)
        return 2
    sys.stdout.write(explain(rule))
    return 0


def schema_command(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="paramlint schema",
                                     description="Print the JSON Schema of the config format, for editors.")
    parser.add_argument("--tool-config", action="store_true",
                        help="the schema of [tool.paramlint] / .paramlint.toml instead")
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as stop:
        return int(stop.code or 0) and 2
    from ..tool_config import TOOL_SCHEMA_FILE
    from ..validation.validator import SCHEMA_FILE, schema_path

    sys.stdout.write(schema_path(TOOL_SCHEMA_FILE if args.tool_config else SCHEMA_FILE).read_text(encoding="utf-8"))
    return 0
