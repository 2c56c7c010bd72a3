"""The Python API; the ``paramlint`` command is built on it.

    import paramlint

    reports = paramlint.lint_paths(["models/"])          # what the command does
    report = paramlint.lint_text(yaml_text)              # one config held in memory
    analysis = paramlint.analyze({"input": [3, 32, 32], "layers": [...]})
    analysis.params, analysis.flops, analysis.memory.peak, analysis.budgets

Everything returned is an immutable value: ``FileReport`` (``diagnostics``,
``analysis``, ``errors``, ``warnings``), ``Diagnostic`` (``path``, ``line``,
``column``, ``code``, ``message``, ``severity``, ``config_path``) and
``Analysis`` (``params``, ``trainable_params``, ``flops``,
``optimizer_state``, ``memory``, ``budgets``, ``shapes.layers``, ...).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence, Tuple, Union

from .core.diagnostics import ERROR, Diagnostic
from .lint import Analysis, FileReport, Linter
from .lint import lint_paths as _lint_paths
from .tool_config import DEFAULT_CONFIG, ToolConfig, load_config

ConfigSource = Union[Mapping[str, Any], str, bytes, "os.PathLike[str]"]
ToolConfigSource = Union[ToolConfig, str, "os.PathLike[str]", None]

_LINTER: Optional[Linter] = None


class ConfigError(ValueError):
    """A model config that cannot be analysed; ``diagnostics`` says why."""

    def __init__(self, diagnostics: Sequence[Diagnostic], message: str = "") -> None:
        self.diagnostics: Tuple[Diagnostic, ...] = tuple(diagnostics)
        errors = [d for d in self.diagnostics if d.severity == ERROR] or list(self.diagnostics)
        shown = "; ".join(f"{d.code} {d.config_path + ': ' if d.config_path else ''}{d.message}" for d in errors[:3])
        super().__init__(message or f"the config cannot be analysed: {shown}")


def _linter() -> Linter:
    global _LINTER
    if _LINTER is None:
        _LINTER = Linter()  # compiles the schema once per process
    return _LINTER


def _tool_config(tool_config: ToolConfigSource) -> ToolConfig:
    if tool_config is None:
        return DEFAULT_CONFIG
    return tool_config if isinstance(tool_config, ToolConfig) else load_config(tool_config)


def lint_paths(paths: Sequence[Union[str, "os.PathLike[str]"]], *, config: ToolConfigSource = None,
               isolated: bool = False, debug: bool = False, scale: Optional[str] = None) -> List[FileReport]:
    """Lint files and folders (folders: every *.yaml, *.yml, *.json; files without ``paramlint: 1``
    are skipped, except Ultralytics YOLO model YAMLs), as the command does.  ``scale``: the scale of
    Ultralytics model YAMLs (``--scale``).

    ``config``: a tool configuration (a ``ToolConfig`` or the path of a pyproject.toml /
    .paramlint.toml) for all files; by default each file's is found by walking up from it.
    ``isolated``: ignore configuration files.  A broken configuration is reported as a
    FileReport of its own.  Raises ``OSError`` when ``config`` names an unreadable file.
    """
    return _lint_paths([os.fspath(p) for p in paths], debug=debug, config=config, isolated=isolated, scale=scale)


def lint_text(text: Union[str, bytes], *, path: str = "<string>.yaml", config: ToolConfigSource = None) -> FileReport:
    """Lint one config held in memory; ``path`` names it in diagnostics (``.json`` selects JSON)."""
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    return _linter().lint_bytes(data, path=path, config=_tool_config(config))


def analyze(config: ConfigSource, *, tool_config: ToolConfigSource = None) -> Analysis:
    """Analyse one model config: a mapping (``paramlint: 1`` may be left out), YAML/JSON text
    (``str`` or ``bytes``), or a path (``pathlib.Path`` or another ``os.PathLike``).

    Returns the ``Analysis`` (exceeded budgets are in ``analysis.budgets``); raises
    ``ConfigError`` with the diagnostics when the model cannot be analysed (schema, graph or
    shape errors), ``OSError`` when a path cannot be read.
    """
    settings = _tool_config(tool_config)
    if isinstance(config, Mapping):
        import json

        from .importers.ultralytics import looks_like_ultralytics

        marked = "paramlint" in config or looks_like_ultralytics(config)
        data = dict(config) if marked else {"paramlint": 1, **config}
        report = lint_text(json.dumps(data, default=str), path="<config>.json", config=settings)
    elif isinstance(config, (str, bytes)):
        report = lint_text(config, config=settings)
    else:
        path = Path(os.fspath(config))
        report = _linter().lint_bytes(path.read_bytes(), path=str(path), config=settings)
    if report.skipped:
        raise ConfigError((), "not a model config: a config needs a top-level `paramlint: 1`")
    if report.analysis is None:
        raise ConfigError(report.diagnostics)
    return report.analysis
