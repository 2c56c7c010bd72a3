"""Write (or check) the published schemas, generated from the code:

    python -m paramlint.validation          # rewrite schemas/format-1.json and schemas/tool-config.json
    python -m paramlint.validation --check  # exit 1 if either file is stale

The linter itself never runs this module; it reads the generated files.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, Sequence

from . import generate, tool_schema


def write_or_check(path: Path, text: str, *, check: bool) -> int:
    """Write a generated file, or with ``check`` exit 1 when it differs from ``text``."""
    if check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            print(f"{path} is stale: run python -m paramlint.validation", file=sys.stderr)
            return 1
        return 0
    path.write_text(text, encoding="utf-8")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    check = "--check" in list(sys.argv[1:] if argv is None else argv)
    status = write_or_check(generate.SCHEMA_PATH, generate.render(), check=check)
    return write_or_check(tool_schema.SCHEMA_PATH, tool_schema.render(), check=check) or status
