"""Tool configuration: which rules are reported, how severe they are, project defaults.

Read from ``[tool.paramlint]`` in a pyproject.toml or from the top level of a
``.paramlint.toml``, found by walking up from each linted file as ruff does:
the nearest folder that has either wins (``.paramlint.toml`` first; a
pyproject.toml without a ``[tool.paramlint...]`` table is passed over), or
given once for all files with ``--config``.  The table is validated against
``schemas/tool-config.json``; its problems are diagnostics of the
configuration file (PL602 syntax, PL603 schema, PL604 unknown code), and a
configuration with errors governs nothing: the files under it are not linted.

TOML parsers give no positions, so a key's line is found by scanning the
text for ``key =`` inside the paramlint table, its sub-tables and inline
tables on the key's line.  That is good enough for hand-written files; a
value on a continuation line of a multi-line array is reported at its key.
"""
from __future__ import annotations

import os
import re
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional, Set, Tuple, Union

from .core.diagnostics import ERROR, WARNING, ConfigPath, Diagnostic, format_config_path
from .core.glob import glob_match
from .core.record import Record
from .source.document import Position

CONFIG_FILES = (".paramlint.toml", "pyproject.toml")
MAX_CONFIG_BYTES = 1 << 20  # a tool configuration is a few lines; a bigger file is PL602, unread
TOOL_SCHEMA_FILE = "tool-config.json"
# Codes that decide exit status 2 (a broken configuration, an unreadable file, a crash): never hidden.
ALWAYS_REPORTED = frozenset({"PL602", "PL603", "PL901", "PL902"})

_OUR_TABLE = re.compile(r"^\s*\[\s*tool\s*\.\s*(\"paramlint\"|paramlint)\s*[\].]", re.MULTILINE)


class ToolConfig(Record):
    """One tool configuration; ``ToolConfig()`` is the built-in default (every rule, as documented)."""

    __slots__ = ("path", "select", "ignore", "per_file_ignores", "severity", "strict", "training", "budgets",
                 "diagnostics")

    # diagnostics: problems in the configuration file itself
    def __init__(self, path: Optional[str] = None, select: Tuple[str, ...] = ("PL",), ignore: Tuple[str, ...] = (),
                 per_file_ignores: Tuple[Tuple[str, Tuple[str, ...]], ...] = (),
                 severity: Tuple[Tuple[str, str], ...] = (), strict: bool = False,
                 training: Optional[Mapping[str, Any]] = None, budgets: Optional[Mapping[str, Any]] = None,
                 diagnostics: Tuple[Diagnostic, ...] = ()) -> None:
        self.path = path
        self.select = select
        self.ignore = ignore
        self.per_file_ignores = per_file_ignores
        self.severity = severity
        self.strict = strict
        self.training: Mapping[str, Any] = {} if training is None else training
        self.budgets: Mapping[str, Any] = {} if budgets is None else budgets
        self.diagnostics = diagnostics

    @property
    def broken(self) -> bool:
        """True when the file has errors: it then governs nothing."""
        return any(d.severity == ERROR for d in self.diagnostics)

    @property
    def folder(self) -> Path:
        return Path(self.path).resolve().parent if self.path else Path.cwd()

    def enabled(self, code: str, path: str = "") -> bool:
        """Whether ``code`` is reported in the file at ``path`` (select/ignore/per-file-ignores)."""
        if code in ALWAYS_REPORTED:
            return True
        selected = _longest_prefix(code, self.select)
        if selected < 0 or _longest_prefix(code, self.ignore) >= selected:
            return False
        if path and self.per_file_ignores:
            names = self._relative_names(path)
            for pattern, codes in self.per_file_ignores:
                if _longest_prefix(code, codes) >= 0 and any(_glob_match(pattern, name) for name in names):
                    return False
        return True

    def severity_for(self, code: str, default: str) -> str:
        """The configured severity of ``code`` (the longest matching code or prefix wins)."""
        if code in ALWAYS_REPORTED or not self.severity:
            return default
        best = max(((len(key), value) for key, value in self.severity if code.startswith(key)), default=None)
        return best[1] if best else default

    def apply(self, diagnostics: Iterable[Diagnostic], path: str) -> Tuple[Diagnostic, ...]:
        """Drop what is not selected for ``path`` and apply severity overrides."""
        kept = []
        for diagnostic in diagnostics:
            if not self.enabled(diagnostic.code, path):
                continue
            severity = self.severity_for(diagnostic.code, diagnostic.severity)
            kept.append(diagnostic if severity == diagnostic.severity
                        else diagnostic.replace(severity=severity))
        return tuple(kept)

    def with_defaults(self, data: Mapping[str, Any]) -> Tuple[Mapping[str, Any], Set[ConfigPath]]:
        """The config with the project's ``training`` and ``budgets`` defaults filled in, and the
        paths that came from the defaults (a config's own keys win)."""
        if not self.training and not self.budgets:
            return data, set()
        merged: Dict[str, Any] = dict(data)
        from_defaults: Set[ConfigPath] = set()
        for section, defaults in (("training", self.training), ("budgets", self.budgets)):
            if not defaults or (section in data and not isinstance(data[section], Mapping)):
                continue  # nothing to add, or a wrong type the schema reports
            own = data.get(section) or {}
            merged[section] = {**defaults, **own}
            from_defaults.update((section, key) for key in defaults if key not in own)
        return merged, from_defaults

    def _relative_names(self, path: str) -> Tuple[str, ...]:
        absolute = Path(path).resolve()
        try:
            relative = absolute.relative_to(self.folder).as_posix()
        except ValueError:
            relative = Path(path).as_posix()
        return (relative, absolute.name)


DEFAULT_CONFIG = ToolConfig()


def _longest_prefix(code: str, selectors: Iterable[str]) -> int:
    return max((len(s) for s in selectors if code.startswith(s)), default=-1)


def _glob_match(pattern: str, name: str) -> bool:
    """gitignore-like globs: ``*`` and ``?`` stay within a folder, ``**`` crosses folders; a pattern
    without ``/`` matches the file name in any folder (``name`` is then the bare file name).  Matched
    without backtracking (``core.glob``): any pattern costs at most its length times the name's."""
    return glob_match(pattern, name)


# --- loading ---------------------------------------------------------------------------------------------

def _toml() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.9/3.10
        import tomli as tomllib
    return tomllib


def is_paramlint_config(path: Path) -> bool:
    """A .paramlint.toml, or a pyproject.toml with a ``[tool.paramlint...]`` table."""
    from .source.reader import TooLarge, read_guarded

    if path.name != "pyproject.toml":  # any kind of file: a special one is reported (PL901), not passed over
        return os.path.lexists(path) and not path.is_dir()
    try:
        return bool(_OUR_TABLE.search(read_guarded(str(path), MAX_CONFIG_BYTES).decode("utf-8", "replace")))
    except FileNotFoundError:
        return False
    except (OSError, TooLarge):  # there but unreadable: reported when it is loaded
        return os.path.lexists(path) and not path.is_dir()


def load_config(path: Union[str, Path]) -> ToolConfig:
    """Read a tool configuration file (``[tool.paramlint]`` of a pyproject.toml, else the whole file).

    Raises ``OSError`` when the file cannot be read; every other problem
    becomes one of the returned configuration's ``diagnostics``.
    """
    from .source.reader import TooLarge, read_guarded

    path = Path(path)
    shown = str(path)
    try:
        text = read_guarded(str(path), MAX_CONFIG_BYTES).decode("utf-8")
    except (TooLarge, UnicodeDecodeError) as error:
        reason = "not UTF-8" if isinstance(error, UnicodeDecodeError) else str(error)
        return ToolConfig(shown, diagnostics=(Diagnostic(shown, 1, 1, "PL602", reason, ERROR),))
    prefix: ConfigPath = ("tool", "paramlint") if path.name == "pyproject.toml" else ()
    toml = _toml()
    try:
        document = toml.loads(text)
    except RecursionError:  # tomllib recurses per nesting level
        return ToolConfig(shown, diagnostics=(Diagnostic(shown, 1, 1, "PL602", "not valid TOML: nested too deeply",
                                                         ERROR),))
    except toml.TOMLDecodeError as error:
        line, column = _error_position(str(error), text)
        message = f"not valid TOML: {re.sub(r' [(]at .*[)]$', '', str(error))}"
        return ToolConfig(shown, diagnostics=(Diagnostic(shown, line, column, "PL602", message, ERROR),))
    table: Any = document
    for key in prefix:
        table = table.get(key, {}) if isinstance(table, Mapping) else {}
    problems = check_table(table, prefix)
    positions = key_positions(text, prefix) if problems else {}
    diagnostics = tuple(sorted(
        Diagnostic(shown, *_position_of(positions, problem.path), problem.code, problem.message,
                   problem.severity, format_config_path(prefix + problem.path))
        for problem in problems))
    if any(d.severity == ERROR for d in diagnostics):
        return ToolConfig(shown, diagnostics=diagnostics)
    return ToolConfig(
        path=shown,
        select=tuple(table.get("select", ("PL",))),
        ignore=tuple(table.get("ignore", ())),
        per_file_ignores=tuple((glob, tuple(codes)) for glob, codes in table.get("per-file-ignores", {}).items()),
        severity=tuple(table.get("severity", {}).items()),
        strict=bool(table.get("strict", False)),
        training=dict(table.get("training", {})),
        budgets=dict(table.get("budgets", {})),
        diagnostics=diagnostics,
    )


def _error_position(message: str, text: str) -> Position:
    found = re.search(r"at line (\d+), column (\d+)", message)
    if found:
        return int(found.group(1)), int(found.group(2))
    return max(1, text.count("\n") + (0 if text.endswith("\n") else 1)), 1


def _position_of(positions: Mapping[ConfigPath, Position], path: ConfigPath) -> Position:
    while path:
        if path in positions:
            return positions[path]
        path = path[:-1]
    return positions.get((), (1, 1))


# --- checking the table ---------------------------------------------------------------------------------

class Problem(NamedTuple):
    path: ConfigPath
    code: str
    message: str
    severity: str = ERROR


def check_table(table: Any, prefix: ConfigPath = (), *, fast: bool = True) -> List[Problem]:
    """Validate the paramlint table against schemas/tool-config.json, then its units and codes.

    A table paramlint's schema interpreter finds certainly valid skips jsonschema (and its import);
    ``fast=False`` (for tests) sends every table through jsonschema."""
    problems: List[Problem] = []
    if not (fast and _tool_schema().is_valid(table) is True):
        from jsonschema import Draft202012Validator

        where = "[" + ".".join(prefix) + "]" if prefix else "the configuration"
        problems = [_humanize(error, where) for error in Draft202012Validator(_tool_schema().root).iter_errors(table)]
        if problems or not isinstance(table, Mapping):
            return problems
    problems.extend(_budget_units(table.get("budgets", {})))
    problems.extend(_unknown_codes(table))
    return problems


_TOOL_SCHEMA: List[Any] = []


def _tool_schema() -> Any:
    """The tool schema's interpreter, made once per process (jsonschema's own "integer", which takes 3.0)."""
    if not _TOOL_SCHEMA:
        import json

        from .validation.interpreter import Interpreter
        from .validation.validator import schema_path

        schema = json.loads(schema_path(TOOL_SCHEMA_FILE).read_text(encoding="utf-8"))
        _TOOL_SCHEMA.append(Interpreter(schema, strict_integer=False))
    return _TOOL_SCHEMA[0]


def _humanize(error: Any, where: str) -> Problem:
    path: ConfigPath = tuple(error.absolute_path)
    shown = format_config_path(path) or where
    if error.validator == "additionalProperties":
        from .core.suggest import did_you_mean

        allowed = list(error.schema.get("properties", {}))
        extra = [key for key in error.instance if key not in allowed] or ["?"]
        return Problem(path + (extra[0],), "PL603", f"unknown key `{extra[0]}` in "
                       f"{'`' + shown + '`' if path else where}{did_you_mean(extra[0], allowed)}")
    expected = error.schema.get("x-expected") if isinstance(error.schema, Mapping) else None
    if error.validator == "enum":
        expected = "one of " + ", ".join(json_text(v) for v in error.validator_value)
    if expected:
        return Problem(path, "PL603", f"`{shown}` must be {expected}; got {json_text(error.instance)}")
    return Problem(path, "PL603", f"`{shown}`: {error.message}")


def json_text(value: Any) -> str:
    import json

    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _budget_units(budgets: Mapping[str, Any]) -> List[Problem]:
    from .core.units import BYTE_BUDGETS, UnitError, parse_bytes, parse_count

    problems = []
    for name, value in budgets.items():
        try:
            (parse_bytes if name in BYTE_BUDGETS else parse_count)(value)
        except UnitError as error:
            problems.append(Problem(("budgets", name), "PL603", f"budget `{name}`: {error}"))
    return problems


def _unknown_codes(table: Mapping[str, Any]) -> List[Problem]:
    from .rules import RULES

    places: List[Tuple[ConfigPath, str]] = []
    places += [(("select", i), code) for i, code in enumerate(table.get("select", ()))]
    places += [(("ignore", i), code) for i, code in enumerate(table.get("ignore", ()))]
    for glob, codes in table.get("per-file-ignores", {}).items():
        places += [(("per-file-ignores", glob, i), code) for i, code in enumerate(codes)]
    places += [(("severity", code), code) for code in table.get("severity", {})]
    return [Problem(path, "PL604", f"`{code}` matches no rule (see `paramlint rules`)", WARNING)
            for path, code in places if not any(known.startswith(code) for known in RULES)]


# --- key positions by scanning the text ------------------------------------------------------------------

_BARE = r"[A-Za-z0-9_-]+"
_PART = rf"(?:\"(?:[^\"\\]|\\.)*\"|'[^']*'|{_BARE})"
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"


@lru_cache(maxsize=None)
def _pattern(name: str) -> "re.Pattern[str]":
    """Compiled on first use: only a configuration with findings needs them."""
    return re.compile({
        "table_line": rf"^\s*\[\s*({_DOTTED})\s*\]\s*(?:#.*)?$",
        "key_line": rf"^(\s*)({_DOTTED})\s*=",
        "inline_key": rf"[{{,]\s*({_PART})\s*=",
        "part": _PART,
    }[name])


def _dotted(text: str) -> Tuple[str, ...]:
    parts = []
    for part in _pattern("part").findall(text):
        if part[:1] in "\"'":
            part = part[1:-1]
        parts.append(part)
    return tuple(parts)


def key_positions(text: str, prefix: ConfigPath = ()) -> Dict[ConfigPath, Position]:
    """(line, column) of every ``key =`` in the table ``prefix`` and below, keyed by path inside it."""
    positions: Dict[ConfigPath, Position] = {}
    table: Optional[ConfigPath] = () if not prefix else None
    if not prefix:
        positions[()] = (1, 1)
    for number, line in enumerate(text.splitlines(), 1):
        header = _pattern("table_line").match(line)
        if header:
            path = _dotted(header.group(1))
            table = path[len(prefix):] if path[:len(prefix)] == tuple(prefix) else None
            if table is not None:
                positions.setdefault(table, (number, line.index("[") + 1))
            continue
        if line.lstrip().startswith("[["):
            table = None
            continue
        key = _pattern("key_line").match(line) if table is not None else None
        if key is None or table is None:
            continue
        path = table + _dotted(key.group(2))
        positions.setdefault(path, (number, len(key.group(1)) + 1))
        rest = line[key.end():]
        if rest.lstrip().startswith("{"):
            offset = key.end()
            for inner in _pattern("inline_key").finditer(rest):
                positions.setdefault(path + _dotted(inner.group(1)), (number, offset + inner.start(1) + 1))
    return positions


# --- finding the configuration of a file -----------------------------------------------------------------

class ConfigResolver:
    """The tool configuration of each linted file; each configuration file is read once."""

    def __init__(self, *, explicit: Optional[ToolConfig] = None, isolated: bool = False) -> None:
        self.explicit = explicit
        self.isolated = isolated
        self._by_folder: Dict[Path, ToolConfig] = {}
        self._by_file: Dict[Path, ToolConfig] = {}

    def for_file(self, path: str) -> ToolConfig:
        if self.explicit is not None:
            return self.explicit
        if self.isolated:
            return DEFAULT_CONFIG
        start = Path(path).resolve().parent
        visited: List[Path] = []
        found = DEFAULT_CONFIG
        for folder in (start, *start.parents):
            if folder in self._by_folder:
                found = self._by_folder[folder]
                break
            visited.append(folder)
            candidate = next((folder / n for n in CONFIG_FILES if is_paramlint_config(folder / n)), None)
            if candidate is not None:
                found = self._load(candidate)
                break
        for folder in visited:
            self._by_folder[folder] = found
        return found

    def _load(self, path: Path) -> ToolConfig:
        if path not in self._by_file:
            try:
                self._by_file[path] = load_config(path)
            except (OSError, UnicodeDecodeError) as error:
                shown = str(path)
                message = f"cannot read the tool configuration: {error}"
                self._by_file[path] = ToolConfig(shown, diagnostics=(Diagnostic(shown, 1, 1, "PL901", message),))
        return self._by_file[path]
