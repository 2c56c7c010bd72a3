"""SARIF 2.1.0: for GitHub code scanning and other SARIF viewers.

One run; the driver lists every rule of the catalogue (id, kebab-case name,
descriptions, help and default level); each diagnostic is a result with its
rule, level, message, region (1-based line and column, counted in Unicode
code points) and the config path as a logical location.  Relative paths are
relative to ``%SRCROOT%``, the folder paramlint ran in.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Sequence
from urllib.parse import quote

from .. import __version__
from ..core.diagnostics import ERROR
from ..lint import FileReport
from ..rules import RULES, Rule

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://github.com/paramlint/paramlint"


def _level(severity: str) -> str:
    return "error" if severity == ERROR else "warning"


def rule_descriptor(rule: Rule) -> Dict[str, Any]:
    help_text = "\n\n".join(part for part in (rule.summary, rule.why, f"Example:\n{rule.example}",
                                              f"Fix: {rule.fix}") if part)
    markdown = (f"{rule.summary}\n\n{rule.why}\n\nExample that fails:\n\n```yaml\n{rule.example}\n```\n\n"
                f"Fix: {rule.fix}")
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": f"{rule.summary} {rule.why}".strip()},
        "help": {"text": help_text, "markdown": markdown},
        "defaultConfiguration": {"level": _level(rule.severity)},
        "properties": {"tags": [rule.name]},
    }


def artifact_location(path: str) -> Dict[str, Any]:
    """A relative path as a URI reference under %SRCROOT%; an absolute one as a file: URI."""
    given = Path(path)
    if given.is_absolute():
        return {"uri": given.as_uri()}
    return {"uri": quote(given.as_posix()), "uriBaseId": "%SRCROOT%"}


def render(reports: Sequence[FileReport], **_: object) -> str:
    rules = list(RULES.values())
    index = {rule.code: i for i, rule in enumerate(rules)}
    results: List[Dict[str, Any]] = []
    for report in reports:
        for d in report.diagnostics:
            location: Dict[str, Any] = {"physicalLocation": {
                "artifactLocation": artifact_location(d.path),
                "region": {"startLine": max(d.line, 1), "startColumn": max(d.column, 1)},
            }}
            if d.config_path:
                location["logicalLocations"] = [{"fullyQualifiedName": d.config_path, "kind": "member"}]
            result: Dict[str, Any] = {"ruleId": d.code, "level": _level(d.severity), "message": {"text": d.message},
                                      "locations": [location]}
            if d.code in index:
                result["ruleIndex"] = index[d.code]
            results.append(result)
    run = {
        "tool": {"driver": {"name": "paramlint", "version": __version__, "semanticVersion": __version__,
                            "informationUri": INFORMATION_URI,
                            "rules": [rule_descriptor(rule) for rule in rules]}},
        "originalUriBaseIds": {"%SRCROOT%": {"uri": Path.cwd().as_uri().rstrip("/") + "/"}},
        "columnKind": "unicodeCodePoints",
        "invocations": [{"executionSuccessful": not any(r.failed_to_read for r in reports)}],
        "results": results,
    }
    document = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(document, indent=2) + "\n"
