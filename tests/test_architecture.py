"""The package's shape: no import cycles, and docs/architecture.md names only modules that exist."""
from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Dict, List, Set

PACKAGE = Path(__file__).resolve().parent.parent / "paramlint"
ARCHITECTURE = PACKAGE.parent / "docs" / "architecture.md"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: Set[str]) -> Set[str]:
    """Every paramlint module ``path`` imports, at the top or inside a function, resolved to a module."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            targets = [origin] + [f"{origin}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # a name inside a module: the module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> Dict[str, Set[str]]:
    files = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    modules = set(files)
    graph = {name: imported_modules(path, modules) for name, path in files.items()}
    # importing a.b.c runs a/__init__ and a/b/__init__ first: those are not edges of the design
    return {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in graph.items()}


def find_cycle(graph: Dict[str, Set[str]]) -> List[str]:
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(node: str) -> List[str]:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        state[node] = 2
        stack.pop()
        return []

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return []


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_lazy_imports_count_as_edges():
    graph = import_graph()
    # commands.fit imports the linter inside a function: still an edge
    assert "paramlint.lint" in graph["paramlint.commands.fit"]


def test_architecture_names_only_modules_that_exist():
    text = ARCHITECTURE.read_text(encoding="utf-8")
    paths = set(re.findall(r"`(paramlint/[a-z0-9_/]+(?:\.py|/))`", text))  # NAME: a placeholder
    assert len(paths) >= 20, "docs/architecture.md should name the modules it describes"
    missing = sorted(p for p in paths if not (PACKAGE.parent / p).exists())
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"


def test_every_package_is_described():
    text = ARCHITECTURE.read_text(encoding="utf-8")
    packages = sorted(p.parent.relative_to(PACKAGE.parent).as_posix() + "/" for p in PACKAGE.rglob("__init__.py")
                      if p.parent != PACKAGE)
    undocumented = [p for p in packages if f"`{p}`" not in text]
    assert not undocumented, f"docs/architecture.md does not describe: {undocumented}"


def test_every_package_ships():
    """A package missing from pyproject.toml's list imports from a checkout but not from an installed wheel."""
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    listed = set(tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))
                 ["tool"]["setuptools"]["packages"])
    found = {module_name(p) for p in PACKAGE.rglob("__init__.py")}
    assert found - listed == set(), "add these packages to pyproject.toml's [tool.setuptools] packages"
