"""The layout rules, checked on the source with `ast` (nothing is imported):

- SQL lives in `core/store/` only: no SQL text and no execute() calls anywhere else in the product (core, app, bench).
  Tests are exempt: they look at the database directly as an independent witness of what was written.
- `core/` never imports Qt.
- No import cycle between the project's modules (imports inside functions count too).
- No reaching into another module's private names (`from x import _name`, `other._attr`).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import ROOT

PRODUCT = ("core", "app", "bench")
SQL = re.compile(r"^\s*(SELECT\s.+\sFROM\s|INSERT\s+(OR\s+\w+\s+)?INTO\s|UPDATE\s+(OR\s+\w+\s+)?\w+\s+SET\s|"
                 r"DELETE\s+FROM\s|CREATE\s+(UNIQUE\s+)?(TABLE|INDEX)\s|ALTER\s+TABLE\s|DROP\s+(TABLE|INDEX)\s|"
                 r"PRAGMA\s|BEGIN\b|COMMIT\b|ROLLBACK\b)", re.S)
EXECUTE = {"execute", "executemany", "executescript"}
QT = ("PySide6", "PyQt5", "PyQt6", "shiboken6")


def sources(*tops: str) -> dict[str, Path]:
    """module name -> file, for every Python file under the given top-level folders."""
    out = {}
    for top in tops:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def tree(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def test_sql_lives_only_in_the_store():
    offences = []
    for module, path in sources(*PRODUCT).items():
        if module.startswith("core.store"):
            continue
        for node in ast.walk(tree(path)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.match(node.value):
                offences.append(f"{path.relative_to(ROOT)}:{node.lineno}: SQL text {node.value[:40]!r}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in EXECUTE:
                offences.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{node.func.attr}() call")
    assert not offences, "SQL outside core/store/:\n" + "\n".join(offences)


def test_the_store_check_would_catch_sql():
    """The check itself: the patterns match what the store writes, and not ordinary prose."""
    assert SQL.match("SELECT id FROM media WHERE path = ?")
    assert SQL.match("INSERT OR IGNORE INTO rejections(face_id, person_id) VALUES (?, ?)")
    assert SQL.match("UPDATE faces SET person_id = NULL")
    assert SQL.match("PRAGMA user_version=3")
    assert not SQL.match("Select a folder to index")
    assert not SQL.match("update Idlens to open it")
    stored = [n.value for p in sources("core").values() if "store" in p.parts
              for n in ast.walk(tree(p)) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert sum(bool(SQL.match(s)) for s in stored) > 50


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The project modules `module` imports, wherever the import statement is."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in known:
                    out.add(sub)          # `from core import services`: the submodule
                elif target in known:
                    out.add(target)       # `from core.store import Catalog`: the module (or package)
    out.discard(module)
    return out


def test_no_import_cycles():
    mods = sources(*PRODUCT, "tests")
    known = set(mods)
    graph = {m: _imports(m, p, known) for m, p in mods.items()}
    # Tarjan's strongly connected components: any component of two or more modules is a cycle.
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"
    assert "app.cli" not in graph["app.cli_people"] and "app.cli" not in graph["app.cli_idclip"]


def test_core_never_imports_qt():
    offences = []
    for module, path in sources("core").items():
        for node in ast.walk(tree(path)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offences += [f"{module}: {n}" for n in names if n.split(".")[0] in QT]
    assert not offences


def test_no_reaching_into_private_names():
    offences = []
    for module, path in sources(*PRODUCT).items():
        for node in ast.walk(tree(path)):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] in PRODUCT:
                offences += [f"{module}: from {node.module} import {a.name}" for a in node.names
                             if a.name.startswith("_") and not a.name.startswith("__")]
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__") \
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                offences.append(f"{module}:{node.lineno}: ._{node.attr[1:]}")
    assert not offences, "\n".join(offences)
