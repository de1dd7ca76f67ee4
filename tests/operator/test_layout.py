"""The operator's layout holds (docs/architecture.md, "The operator"): no import cycle
(type hints and function-level imports included), the walls between its packages, and
short modules and functions (a longer one is listed here with the reason)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "operator" / "ocr_operator"
PACKAGE = "ocr_operator"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
#: Modules allowed over MAX_MODULE_LINES, with why.
LONG_MODULES: dict[str, str] = {}
#: Functions allowed over MAX_FUNCTION_LINES, with why.
LONG_FUNCTIONS = {
    "ocr_operator.batch.jobs.build_job": "one Job manifest, written out as the API shows it",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text()) for p in sorted(ROOT.rglob("*.py"))}


def imports_of(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """The operator modules `name` imports anywhere (module level, functions, TYPE_CHECKING)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:
                base = ".".join([*name.split(".")[: -node.level], node.module])
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in known}
    found.discard(name)
    return found


def graph() -> dict[str, set[str]]:
    trees = modules()
    known = set(trees)
    return {name: imports_of(name, tree, known) for name, tree in trees.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle() -> None:
    edges = graph()
    assert "ocr_operator.handlers" in edges and "ocr_operator.batch.reconcile" in edges
    assert find_cycle(edges) is None


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("ocr_operator.batch", ("ocr_operator.intake", "ocr_operator.handlers")),
        ("ocr_operator.intake", ("ocr_operator.handlers", "ocr_operator.batch.reconcile")),
        ("ocr_operator.kube", ("ocr_operator.",)),
    ],
)
def test_walls_between_packages(package: str, forbidden: tuple[str, ...]) -> None:
    edges = graph()
    broken = {
        (src, dst)
        for src, dsts in edges.items()
        if src == package or src.startswith(package + ".")
        for dst in dsts
        if dst.startswith(forbidden) or dst in forbidden
    }
    assert not broken


def test_only_the_cli_imports_the_handlers() -> None:
    users = {src for src, dsts in graph().items() if "ocr_operator.handlers" in dsts}
    assert users <= {"ocr_operator.cli"}


def test_modules_are_short() -> None:
    long = {
        name: len(path.read_text().splitlines())
        for path in ROOT.rglob("*.py")
        if len(path.read_text().splitlines()) > MAX_MODULE_LINES
        and (name := module_name(path)) not in LONG_MODULES
    }
    assert not long, f"split these modules (or list them with a reason): {long}"


def test_functions_are_short() -> None:
    long: dict[str, int] = {}
    for name, tree in modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                qual = f"{name}.{node.name}"
                if length > MAX_FUNCTION_LINES and qual not in LONG_FUNCTIONS:
                    long[qual] = length
    assert not long, f"split these functions (or list them with a reason): {long}"
