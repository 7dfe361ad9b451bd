"""The package's shape: files hold one concept (at most 600 lines), functions stay short (at
most 80 lines, data literals aside), and no modules import each other in a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kore_plaid_nb"
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 80
LITERALS = (ast.Dict, ast.List, ast.Tuple, ast.Set)


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imported_modules(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports anywhere: at the top, inside functions and
    under ``TYPE_CHECKING``."""
    package = name if is_package(path) else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = {f"{base}.{alias.name}" for alias in node.names}
            targets.update(names)
            if not names <= known.keys():  # a name defined in ``base`` itself
                targets.add(base)
    return {target for target in targets if target in known and target != name}


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported_modules(name, path, known) for name, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def literal_lines(function: ast.AST) -> set[int]:
    """Lines taken by multi-line data literals (tables, messages) inside ``function``."""
    lines: set[int] = set()
    for node in ast.walk(function):
        if isinstance(node, LITERALS) and node.end_lineno and node.end_lineno > node.lineno:
            lines.update(range(node.lineno, node.end_lineno + 1))
    return lines


def long_functions() -> list[str]:
    found = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            span = set(range(node.lineno, (node.end_lineno or node.lineno) + 1))
            length = len(span - literal_lines(node))
            if length > MAX_FUNCTION_LINES:
                found.append(f"{name}.{node.name} ({length} lines)")
    return found


def test_no_module_is_over_600_lines() -> None:
    too_long = [
        f"{path.relative_to(PACKAGE.parent)} ({count} lines)"
        for path in sorted(PACKAGE.rglob("*.py"))
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_FILE_LINES
    ]
    assert too_long == []


def test_no_function_is_over_80_lines_data_literals_aside() -> None:
    assert long_functions() == []


def test_no_modules_import_each_other_in_a_circle() -> None:
    assert cycles(import_graph()) == []


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}, "c": set()}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ],
)
def test_the_cycle_finder_finds_circles(graph: dict[str, set[str]], expected: list) -> None:
    assert cycles(graph) == expected


def test_the_import_reader_sees_function_local_and_relative_imports(tmp_path: Path) -> None:
    known = {
        "pkg": tmp_path / "__init__.py",
        "pkg.a": tmp_path / "a.py",
        "pkg.c": tmp_path / "c.py",
        "pkg.sub": tmp_path / "sub" / "__init__.py",
        "pkg.sub.b": tmp_path / "sub" / "b.py",
    }
    source = tmp_path / "a.py"
    source.write_text(
        "from .sub import b\ndef f():\n    from . import c\n    from .sub import NAME\n",
        encoding="utf-8",
    )
    assert imported_modules("pkg.a", source, known) == {"pkg.c", "pkg.sub", "pkg.sub.b"}


# The tests' own house: a test module imports no other test module (shared helpers live in
# support modules such as bridge_support.py, which pytest does not collect).

TESTS = Path(__file__).resolve().parent


def imported_test_modules(source: str) -> set[str]:
    """The ``test_*`` modules (or names) that ``source`` imports, at the top or inside
    functions, whichever part of the dotted name is one: ``tests.test_x`` for
    ``from tests.test_x import y`` and for ``from tests import test_x``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = f"{node.module}." if node.module else ""
            names = [base + alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            tested = [i for i, part in enumerate(parts) if part.startswith("test_")]
            if tested:
                found.add(".".join(parts[: tested[0] + 1]))
    return found


def test_no_test_module_imports_another_test_module() -> None:
    offenders = {
        path.name: sorted(imported)
        for path in sorted(TESTS.glob("*.py"))
        if (imported := imported_test_modules(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from test_bridge_helpers import exchange\n", {"test_bridge_helpers"}),
        ("import os, test_tunnel_helpers\n", {"test_tunnel_helpers"}),
        ("def f():\n    from test_browser_flow import at_callback\n", {"test_browser_flow"}),
        ("from . import test_x\n", {"test_x"}),
        ("from tests.test_x import y\n", {"tests.test_x"}),
        ("from tests import helpers, test_x as x\n", {"tests.test_x"}),
        ("import tests.test_x.inner\n", {"tests.test_x"}),
        ("from .sub.test_y import z\n", {"sub.test_y"}),
        ("from helpers import test_thing\n", {"helpers.test_thing"}),
        ("from unittest import mock\nfrom tests.latest import x\n", set()),
        ("import pytest\nfrom bridge_support import Bridge\nfrom tests import testing\n", set()),
    ],
)
def test_the_test_import_reader_sees_every_form(source: str, expected: set[str]) -> None:
    assert imported_test_modules(source) == expected
