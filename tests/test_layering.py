"""The package's layers (DESIGN §3): a module imports only from its own layer or below, a few pairs never,
and no import circles, not even through imports inside functions."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from an2dl._utils.layers import LAYERS, NEVER_IMPORTS, layer_of

SRC = Path(__file__).resolve().parents[1] / "src" / "an2dl"


@dataclass(frozen=True)
class Import:
    target: str  # the an2dl module reached
    line: int
    lazy: bool  # inside a function: runs on the first call, not when the module is imported
    typing_only: bool  # under `if TYPE_CHECKING:`: never runs

    def where(self) -> str:
        how = ", type checking only" if self.typing_only else ", inside a function" if self.lazy else ""
        return f"line {self.line}{how}"


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(module: str, is_pkg: bool, node: ast.ImportFrom) -> list[str]:
    """Absolute an2dl module names an ``import from`` statement reaches."""
    if node.level:
        base = module.split(".") if is_pkg else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if not target.startswith("an2dl"):
        return []
    # `from pkg import sub` reaches the submodule; `from pkg.mod import name` reaches pkg.mod
    subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES]
    return subs or [target]


class _ImportCollector(ast.NodeVisitor):
    def __init__(self, module: str, is_pkg: bool) -> None:
        self.module, self.is_pkg = module, is_pkg
        self.function_depth = 0
        self.typing_depth = 0
        self.found: list[Import] = []

    def _function(self, node: ast.AST) -> None:
        self.function_depth += 1
        self.generic_visit(node)
        self.function_depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_If(self, node: ast.If) -> None:
        if "TYPE_CHECKING" in ast.unparse(node.test):
            self.typing_depth += 1
            for sub in node.body:
                self.visit(sub)
            self.typing_depth -= 1
            for sub in node.orelse:
                self.visit(sub)
        else:
            self.generic_visit(node)

    def _add(self, names: list[str], node: ast.stmt) -> None:
        for name in names:
            self.found.append(Import(name, node.lineno, self.function_depth > 0, self.typing_depth > 0))

    def visit_Import(self, node: ast.Import) -> None:
        self._add([a.name for a in node.names if a.name.startswith("an2dl")], node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self._add(_resolve(self.module, self.is_pkg, node), node)


def _imports(path: Path) -> list[Import]:
    """Every import of an an2dl module in the file at ``path``."""
    collector = _ImportCollector(_module_name(path), path.name == "__init__.py")
    collector.visit(ast.parse(path.read_text(), filename=str(path)))
    return collector.found


FILES = sorted(SRC.rglob("*.py"))
MODULES = {_module_name(p): p for p in FILES}
IMPORTS = {module: _imports(path) for module, path in MODULES.items()}


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_top_level_module_has_a_layer():
    unknown = sorted({_top(m) for m in MODULES if layer_of(m) is None})
    assert not unknown, f"modules without a layer in an2dl._utils.layers.LAYERS: {unknown}"
    names = [name for layer in LAYERS for name in layer]
    assert len(names) == len(set(names)), "a name appears in two layers"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_upward_import(path):
    module = _module_name(path)
    own = layer_of(module)
    bad = []
    for imp in IMPORTS[module]:
        layer = layer_of(imp.target)
        if not imp.typing_only and layer is not None and own is not None and layer > own:
            bad.append(f"{imp.where()}: {imp.target} (layer {layer} > {own})")
    assert not bad, f"{module} imports upward: {bad}"


def test_never_imported_pairs():
    """The pairs of ``NEVER_IMPORTS`` do not occur anywhere: module level, inside functions, type checking."""
    bad = []
    for module, imports in IMPORTS.items():
        forbidden = NEVER_IMPORTS.get(_top(module), frozenset())
        for imp in imports:
            if _top(imp.target) in forbidden:
                bad.append(f"{module} {imp.where()}: {imp.target}")
    assert not bad, "imports that the layers rule out (an2dl._utils.layers.NEVER_IMPORTS):\n" + "\n".join(bad)


def _find_circle(graph: dict[str, dict[str, Import]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state and (found := visit(d)) is not None:
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)) is not None:
            return found
    return None


def test_no_import_circles():
    """No circle among the imports that run, those inside functions included (type-checking ones excepted)."""
    graph: dict[str, dict[str, Import]] = {}
    for module, imports in IMPORTS.items():
        edges: dict[str, Import] = {}
        for imp in imports:
            if imp.typing_only or imp.target not in MODULES or imp.target == module:
                continue
            if imp.target not in edges or (edges[imp.target].lazy and not imp.lazy):
                edges[imp.target] = imp  # name the module-level import when there is one
        graph[module] = edges
    circle = _find_circle(graph)
    if circle is not None:
        steps = [f"{a} -> {b} ({graph[a][b].where()})" for a, b in zip(circle, circle[1:])]
        raise AssertionError("import circle:\n" + "\n".join(steps))


def test_the_checks_see_lazy_and_type_checking_imports():
    source = (
        "from typing import TYPE_CHECKING\n"
        "from an2dl import errors\n"
        "if TYPE_CHECKING:\n"
        "    from an2dl.engine import trainer\n"
        "def f():\n"
        "    from an2dl.models import _registry\n"
    )
    collector = _ImportCollector("an2dl.nn.example", False)
    collector.visit(ast.parse(source))
    assert collector.found == [
        Import("an2dl.errors", 2, lazy=False, typing_only=False),
        Import("an2dl.engine.trainer", 4, lazy=False, typing_only=True),
        Import("an2dl.models._registry", 6, lazy=True, typing_only=False),
    ]
