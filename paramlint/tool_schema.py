"""Generate the tool configuration's JSON Schema (schemas/tool-config.json).

The schema of ``[tool.paramlint]`` in pyproject.toml (or of a whole
``.paramlint.toml``).  Its ``training`` and ``budgets`` tables are the model
format's own definitions, copied in so that the file stands alone in editors
(Even Better TOML / taplo read it).  Run

    python -m paramlint.tool_schema          # rewrite schemas/tool-config.json
    python -m paramlint.tool_schema --check  # exit 1 if the file is stale

``python -m paramlint.schema_gen`` runs this too, after format-1.json.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from .validate import schemas_dir

SCHEMA_ID = "https://github.com/paramlint/paramlint/schemas/tool-config.json"
SCHEMA_PATH = schemas_dir() / "tool-config.json"
SELECTOR_PATTERN = r"^PL[0-9]{0,3}$"


def build_schema() -> Dict[str, Any]:
    from .schema_gen import _budgets, _training  # the model format's own tables

    selector = {"type": "string", "pattern": SELECTOR_PATTERN,
                "x-expected": "a rule code (PL401) or a code prefix (PL4, PL)",
                "description": "a rule code such as PL401, or a prefix such as PL4 (every PL4xx rule)",
                "examples": ["PL401", "PL45", "PL"]}
    selectors = {"type": "array", "items": {"$ref": "#/$defs/selector"},
                 "x-expected": "a list of rule codes or prefixes"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "paramlint tool configuration",
        "description": "[tool.paramlint] in pyproject.toml, or the top level of .paramlint.toml.",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "select": dict(selectors, default=["PL"], examples=[["PL"], ["PL2", "PL3", "PL4"]],
                           description="rules to report, by code or prefix (default: all)"),
            "ignore": dict(selectors, default=[], examples=[["PL451"], ["PL45"]],
                           description="rules not to report; a longer code or prefix in `select` wins"),
            "per-file-ignores": {
                "type": "object", "additionalProperties": {"$ref": "#/$defs/selectors"},
                "x-expected": "a table of glob = [codes]",
                "description": "glob (relative to this file's folder) -> rules not reported in matching files",
                "examples": [{"experiments/*.yaml": ["PL5"], "legacy/**": ["PL451", "PL453"]}],
            },
            "severity": {
                "type": "object", "propertyNames": {"$ref": "#/$defs/selector"},
                "additionalProperties": {"enum": ["error", "warning"]},
                "x-expected": "a table of code = \"error\" or \"warning\"",
                "description": "override a rule's severity by code or prefix; the longest match wins",
                "examples": [{"PL451": "error", "PL501": "warning"}],
            },
            "strict": {"type": "boolean", "default": False, "examples": [True],
                       "description": "warnings fail the lint too (exit 1), like --strict"},
            "training": dict(_training(), description="project defaults for every config's `training`; "
                                                      "a config's own keys win"),
            "budgets": dict(_budgets(), description="project defaults for every config's `budgets`; "
                                                    "a config's own keys win"),
        },
        "$defs": {"selector": selector, "selectors": selectors},
    }


def render() -> str:
    return json.dumps(build_schema(), indent=1) + "\n"


def write_or_check(path: Path, text: str, *, check: bool) -> int:
    """Write a generated file, or with ``check`` exit 1 when it differs from ``text``."""
    if check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            print(f"{path} is stale: run python -m paramlint.schema_gen", file=sys.stderr)
            return 1
        return 0
    path.write_text(text, encoding="utf-8")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    return write_or_check(SCHEMA_PATH, render(), check="--check" in args)


if __name__ == "__main__":
    raise SystemExit(main())
