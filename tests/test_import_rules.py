"""The import rules of claude_sync, checked on the import graph read from the source (AST).

* `format/` is what both ends build on: it imports nothing else of claude_sync, and
  `format/layout.py` only the standard library (the SessionEnd hook's fast path imports it).
* `server/` imports `format/` and itself, nothing of the client; only the CLI starts it.
* No import circle anywhere in the package, not even through an import inside a function
  (server/ had one, kept alive by an unused factory).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "claude_sync"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """The absolute names an `from X import a, b` brings in (X itself, and X.a where a is a module)."""
    if node.level:
        base = module.split(".")
        if not is_package:
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    return [target] + [f"{target}.{a.name}" for a in node.names]


def import_graph() -> dict[str, tuple[set[str], set[str]]]:
    """module -> (names imported at module level, names imported anywhere), absolute, claude_sync or not."""
    graph: dict[str, tuple[set[str], set[str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        tree = ast.parse(path.read_text("utf-8"), str(path))
        top: set[str] = set()
        anywhere: set[str] = set()
        top_level = set(map(id, tree.body))
        for stmt in ast.walk(tree):
            names: list[str] = []
            if isinstance(stmt, ast.Import):
                names = [a.name for a in stmt.names]
            elif isinstance(stmt, ast.ImportFrom):
                names = _resolve(module, path.name == "__init__.py", stmt)
            else:
                continue
            anywhere.update(names)
            if id(stmt) in top_level:
                top.update(names)
        graph[module] = (top, anywhere)
    return graph


GRAPH = import_graph()
MODULES = set(GRAPH)


def _ours(names: set[str]) -> set[str]:
    """The claude_sync modules among imported names (X.a counts only when a is a module)."""
    return {n for n in names if n in MODULES}


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_graph_sees_every_module_and_its_imports():
    assert {"claude_sync.format.layout", "claude_sync.server.app", "claude_sync.engine"} <= MODULES
    assert "claude_sync.format.wire" in _ours(GRAPH["claude_sync.server.app"][1])


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _in(m, "claude_sync.format")))
def test_format_imports_nothing_else_of_claude_sync(module: str):
    outside = {n for n in _ours(GRAPH[module][1]) if not _in(n, "claude_sync.format")}
    assert not outside, f"{module} imports {sorted(outside)}"


def test_layout_needs_only_the_standard_library():
    """The SessionEnd hook runs with `python -S`: its fast path has no third-party packages."""
    seen, todo = set(), ["claude_sync.format.layout"]
    while todo:
        module = todo.pop()
        seen.add(module)
        for name in GRAPH[module][0]:
            if name in MODULES:
                if name not in seen:
                    todo.append(name)
            elif not name.startswith("claude_sync"):
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top == "__future__", f"{module} imports {name}"
    assert "claude_sync.format.errors" in seen


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _in(m, "claude_sync.server")))
def test_server_imports_only_format_and_itself(module: str):
    allowed = ("claude_sync.format", "claude_sync.server")
    outside = {n for n in _ours(GRAPH[module][1]) if n != "claude_sync" and not any(_in(n, p) for p in allowed)}
    assert not outside, f"{module} imports {sorted(outside)}"


def test_only_the_cli_starts_the_server():
    users = {
        m
        for m in MODULES
        if not _in(m, "claude_sync.server") and any(_in(n, "claude_sync.server") for n in _ours(GRAPH[m][1]))
    }
    assert users == {"claude_sync.cli"}


def test_no_import_circle():
    edges = {m: {n for n in _ours(GRAPH[m][1]) if n != m} for m in MODULES}
    # Importing a.b imports package a first: the package's own __init__ is not an edge back.
    edges = {m: {n for n in ns if not m.startswith(n + ".")} for m, ns in edges.items()}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for n in sorted(edges[m]):
            if state.get(n) == 1:
                raise AssertionError("import circle: " + " -> ".join(path[path.index(n) :] + [n]))
            if n not in state:
                visit(n)
        path.pop()
        state[m] = 2

    for m in sorted(MODULES):
        if m not in state:
            visit(m)
