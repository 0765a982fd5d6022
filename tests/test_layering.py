"""The package's layers (DESIGN §3): a module imports only from its own layer or below, and no import circles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "an2dl"

#: bottom to top; a module may import from its own layer or any layer below
LAYERS = [
    {"errors", "registry", "_utils", "_version"},
    {"nn", "ops", "losses", "data"},
    {"models"},
    {"engine"},
    {"tasks"},
    {"explain", "evaluation", "report", "export", "tta"},
    {"recipes"},
    {"cli", "bench"},
    {"__init__", "__main__"},
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


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


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                lines.update(range(sub.lineno, (sub.end_lineno or sub.lineno) + 1))
    return lines


def _imports(path: Path) -> tuple[list[tuple[str, int]], list[str]]:
    """(every an2dl import with its line, the module-level ones for the circle check)."""
    module, is_pkg = _module_name(path), _is_package(path)
    tree = ast.parse(path.read_text(), filename=str(path))
    skip = _type_checking_lines(tree)
    top_level = {id(n) for n in tree.body}
    found, eager = [], []
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        names: list[str] = []
        if isinstance(node, ast.ImportFrom):
            names = _resolve(module, is_pkg, node)
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("an2dl")]
        for n in names:
            found.append((n, node.lineno))
            if id(node) in top_level:
                eager.append(n)
    return found, eager


def _layer_of(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) == 1:
        return LAYER["__init__"]
    return LAYER.get(parts[1])


FILES = sorted(SRC.rglob("*.py"))
MODULES = {_module_name(p): p for p in FILES}


def test_every_top_level_module_has_a_layer():
    unknown = sorted({m.split(".")[1] for m in MODULES if "." in m and _layer_of(m) is None})
    assert not unknown, f"modules without a layer in LAYERS: {unknown}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_upward_import(path):
    module = _module_name(path)
    own = _layer_of(module)
    bad = []
    for target, line in _imports(path)[0]:
        layer = _layer_of(target)
        if layer is not None and own is not None and layer > own:
            bad.append(f"line {line}: {target} (layer {layer} > {own})")
    assert not bad, f"{module} imports upward: {bad}"


def test_no_import_circles():
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        deps = set()
        deps.update(_imports(path)[1])
        graph[module] = {d for d in deps if d in MODULES and d != module}

    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycle = stack[stack.index(d):] + [d]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
