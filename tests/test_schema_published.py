"""The published schemas are current and ship inside the installed package."""
from __future__ import annotations

from pathlib import Path

import paramlint
from paramlint.validation import publish
from paramlint.validation.validator import schema_path


def test_format_schema_is_generated_from_the_catalogue():
    assert publish.main(["--check"]) == 0, "schemas/ is stale: run python -m paramlint.validation"


def test_schemas_ship_with_the_package():
    package = Path(paramlint.__file__).resolve().parent
    for name in ("format-1.json", "tool-config.json"):
        found = schema_path(name)
        if "site-packages" in package.parts:  # an installed paramlint reads its own copy
            assert found.parent == package / "schemas", found
        else:  # a source checkout reads the top-level schemas/
            assert found.parent == package.parent / "schemas", found
