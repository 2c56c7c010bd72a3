"""Generate the tool configuration's JSON Schema (schemas/tool-config.json).

The schema of ``[tool.paramlint]`` in pyproject.toml (or of a whole
``.paramlint.toml``).  Its ``training`` and ``budgets`` tables are the model
format's own definitions, copied in so that the file stands alone in editors
(Even Better TOML / taplo read it).  Run

    python -m paramlint.validation          # rewrite schemas/*.json
    python -m paramlint.validation --check  # exit 1 if a file is stale
"""
from __future__ import annotations

import json
from typing import Any, Dict

from .generate import budgets_schema, training_schema
from .validator import schemas_dir

SCHEMA_ID = "https://github.com/paramlint/paramlint/schemas/tool-config.json"
SCHEMA_PATH = schemas_dir() / "tool-config.json"
SELECTOR_PATTERN = r"^PL[0-9]{0,3}$"


def build_schema() -> Dict[str, Any]:
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
            "training": dict(training_schema(), description="project defaults for every config's `training`; "
                                                      "a config's own keys win"),
            "budgets": dict(budgets_schema(), description="project defaults for every config's `budgets`; "
                                                    "a config's own keys win"),
        },
        "$defs": {"selector": selector, "selectors": selectors},
    }


def render() -> str:
    return json.dumps(build_schema(), indent=1) + "\n"
