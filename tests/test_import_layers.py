"""The library's families (`deepsynth/<folder>/` and the ground-floor modules `deepsynth/<name>.py`)
import each other without circles: following imports, function-level ones included, never leads
back to where it started, so each family can be read, tested and moved with what lies below it."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "deepsynth"


def family_of(module: str) -> str | None:
    """`deepsynth.training.loop` -> `training`; `deepsynth.paths` -> `paths`; other packages -> None."""
    parts = module.split(".")
    return parts[1] if parts[0] == "deepsynth" and len(parts) > 1 else None


def imported_modules(tree: ast.AST, package: str) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((name, node.lineno))
    return found


def family_imports(library: Path = LIBRARY) -> dict[str, dict[str, list[str]]]:
    """family -> {imported family: ["file:line", ...]} over every module of the library."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(library.rglob("*.py")):
        module_parts = path.relative_to(library.parent).with_suffix("").parts
        package = ".".join(module_parts if path.name == "__init__.py" else module_parts[:-1])
        source = family_of(".".join(module_parts))
        for name, line in imported_modules(ast.parse(path.read_text(encoding="utf-8")), package):
            target = family_of(name)
            if source and target and target != source:
                graph[source][target].append(f"{path.relative_to(library.parent)}:{line}")
    return graph


def cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """The strongly connected groups of more than one family (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def test_no_family_imports_run_in_a_circle():
    graph = family_imports()
    assert "training" in graph and "estimate" in graph["training"], "the scan found no imports"
    circles = cycles(graph)
    where = [f"{a} -> {b}: {', '.join(graph[a][b])}" for group in circles for a in group for b in group
             if b in graph.get(a, {})]
    assert not circles, "imports run in a circle:\n" + "\n".join(where)


def test_the_scan_sees_a_circle_and_function_level_imports(tmp_path):
    library = tmp_path / "deepsynth"
    (library / "low").mkdir(parents=True)
    (library / "high").mkdir()
    (library / "low" / "a.py").write_text("def f():\n    from deepsynth.high.b import g\n")
    (library / "high" / "b.py").write_text("from ..low import a\n")
    graph = family_imports(library)
    assert cycles(graph) == [["high", "low"]]
    assert graph["low"]["high"] == ["deepsynth/low/a.py:2"] and graph["high"]["low"] == ["deepsynth/high/b.py:1"]
