"""paramlint: a static linter for neural-network architecture configs.

The public API (see README.md, "Python API") is imported lazily, so that
``import paramlint`` stays cheap: ``lint_paths``, ``lint_text``, ``analyze``,
``ConfigError``, ``Analysis``, ``FileReport``, ``Diagnostic``, ``ToolConfig``,
``load_config``, ``RULES``.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any, List

__version__ = "0.1.0"

_LAZY = {
    "lint_paths": "api", "lint_text": "api", "analyze": "api", "ConfigError": "api",
    "Analysis": "lint", "FileReport": "lint", "Diagnostic": "core.diagnostics",
    "ToolConfig": "tool_config", "load_config": "tool_config", "RULES": "rules", "Rule": "rules",
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'paramlint' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_LAZY))
