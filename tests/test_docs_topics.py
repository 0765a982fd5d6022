"""docs/topics.md names only recipes, benchmarks and test files that exist (recipes and benchmarks as their
registries list them)."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TOPICS = REPO / "docs" / "topics.md"
TESTS = REPO / "tests"

_CODE = re.compile(r"`([^`]+)`")
_RECIPE_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
_TEST_FILE = re.compile(r"(?:[\w./-]*/)?test_[\w*?]+\.py")


def _cells(line: str) -> list[str]:
    # a cell may hold an escaped pipe (``\\|``), as Markdown tables allow
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]


def _tables() -> list[tuple[list[str], list[tuple[int, list[str]]]]]:
    """Every table of topics.md: its header cells and its rows (line number, cells)."""
    tables: list[tuple[list[str], list[tuple[int, list[str]]]]] = []
    lines = TOPICS.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and set(lines[i + 1].replace("|", "").strip()) <= {"-", ":"}:
            header, rows = _cells(lines[i]), []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append((i + 1, _cells(lines[i])))
                i += 1
            tables.append((header, rows))
        else:
            i += 1
    return tables


def _rows(column: str) -> list[tuple[int, str]]:
    """(line number, cell) of ``column`` in every row that names something built."""
    out = []
    for header, rows in _tables():
        k = header.index(column)
        for line, cells in rows:
            if cells[k] == "—" or "not built" in " ".join(cells):
                continue
            out.append((line, cells[k]))
    return out


def test_every_table_has_the_columns_and_every_row_their_number():
    tables = _tables()
    assert tables, "no table found in docs/topics.md"
    for header, rows in tables:
        for column in ("topic", "API", "recipe", "tests", "beyond / departs from the notes"):
            assert column in header, f"a table of docs/topics.md lacks the column {column!r}: {header}"
        for line, cells in rows:
            assert len(cells) == len(header), f"docs/topics.md:{line} has {len(cells)} cells, its table {len(header)}"


def test_named_recipes_and_benchmarks_exist():
    import an2dl
    from an2dl.bench import BENCHMARKS

    recipes, benchmarks = set(an2dl.list_recipes()), set(BENCHMARKS.names())
    named_recipes, named_benchmarks = [], []
    for line, cell in _rows("recipe"):
        for code in _CODE.findall(cell):
            if code.startswith("an2dl bench "):
                named_benchmarks.append((line, code.removeprefix("an2dl bench ").strip()))
            elif _RECIPE_NAME.fullmatch(code):
                named_recipes.append((line, code))
    assert len(named_recipes) > 40
    unknown = [(line, "recipe", n) for line, n in named_recipes if n not in recipes]
    unknown += [(line, "benchmark", n) for line, n in named_benchmarks if n not in benchmarks]
    assert not unknown, "docs/topics.md names what is not registered: " + "; ".join(
        f"line {line}: {kind} {n!r}" for line, kind, n in unknown)


def test_named_test_files_exist():
    files = [p.relative_to(TESTS).as_posix() for p in TESTS.rglob("test_*.py")]
    missing = []
    for line, cell in _rows("tests"):
        names = [c for c in _CODE.findall(cell) if _TEST_FILE.fullmatch(c)]
        if not names and cell.strip():
            missing.append(f"line {line}: no test file in {cell!r}")
        for name in names:
            if "/" in name:
                found = any(fnmatch.fnmatch(f, name.removeprefix("tests/")) for f in files)
            else:
                found = any(fnmatch.fnmatch(f.rsplit("/", 1)[-1], name) for f in files)
            if not found:
                missing.append(f"line {line}: {name}")
    assert not missing, "docs/topics.md names test files that do not exist under tests/: " + "; ".join(missing)


@pytest.mark.parametrize("column", ["recipe", "tests"])
def test_the_checks_read_something(column):
    assert len(_rows(column)) > 40
