"""House rules a grep can check: engine differences are data (no `engine == "…"` outside
tusk/engines) and the engines import each other without a loop (imports inside functions too)."""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

from tusk.engines.abilities import ABILITIES
from tusk.engines.base import Abilities
from tusk.engines.spec import ENGINE_NAMES

ROOT = Path(__file__).resolve().parents[1]
_NAMES = "|".join(ENGINE_NAMES)
# `spec.engine == "duckdb"`, `engine in ("postgres", …)`, `engines.get(x) != "sqlite"`,
# and the same the other way round ("cluster" == c.engine).
ENGINE_COMPARISON = re.compile(
    rf"""\bengines?\b[\w.]*(?:\([^()]*\))?\s*(?:==|!=|\bnot\s+in\b|\bin\b)\s*\(?\s*["'](?:{_NAMES})["']"""
    rf"""|["'](?:{_NAMES})["']\s*(?:==|!=)\s*[\w.]*\bengine\b"""
)

# The comparisons the UI step of issue 16 removes: file → count. Empty it, never grow it.
ALLOWED: dict[str, int] = {}  # none left: every page asks the engine's abilities


def engine_comparisons() -> Counter[str]:
    """Lines comparing an engine's name, per file, outside tusk/engines."""
    files = [ROOT / "app.py", *(ROOT / "pages").rglob("*.py"), *(ROOT / "tusk").rglob("*.py")]
    found: Counter[str] = Counter()
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("tusk/engines/"):
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if ENGINE_COMPARISON.search(line):
                found[rel] += 1
    return found


def test_no_engine_name_comparisons_outside_engines() -> None:
    assert dict(engine_comparisons()) == ALLOWED, (
        "Ask the engine's abilities (tusk.engines.abilities, e.g. conn.abilities.can_attach "
        "or engine_abilities(spec.engine).default_schema) instead of comparing its name; "
        "when a line in ALLOWED goes, lower its count."
    )


def test_the_pattern_sees_every_spelling() -> None:
    seen = [
        'if spec.engine == "postgres":',
        'if engine in ("postgres", "datafusion") else "main"',
        'c.engine not in ("duckdb",)',
        'if engines.get(tab.connection) == "duckdb":',
        '"cluster" == conn.engine',
    ]
    unseen = ['if kind == "sqlite":', 'engine = "duckdb"', "ENGINE_NAMES"]
    assert all(ENGINE_COMPARISON.search(x) for x in seen)
    assert not any(ENGINE_COMPARISON.search(x) for x in unseen)


def test_every_engine_has_a_full_row_of_abilities() -> None:
    declared = [n for n in Abilities.__annotations__ if not n.startswith("_")]
    assert tuple(ABILITIES) == ENGINE_NAMES
    for name, row in ABILITIES.items():
        assert row.name == name
        missing = [a for a in declared if a not in vars(row)]
        assert not missing, f"{row.__name__} does not set {missing}"


# --- import loops ---------------------------------------------------------------------------


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.Module, modules: set[str]) -> set[str]:
    """Tusk modules a module imports anywhere (functions too), but not under TYPE_CHECKING."""
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.add(sub if sub in modules else node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out & modules


def import_graph(package: str = "tusk") -> dict[str, set[str]]:
    """Module → the package's modules it imports (a package's own __init__ is not an edge)."""
    paths = {_module_name(p): p for p in (ROOT / package).rglob("*.py")}
    modules = set(paths)
    return {
        name: _imports(ast.parse(path.read_text(encoding="utf-8")), modules) - {name}
        for name, path in paths.items()
    }


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return groups


def test_engines_import_without_a_loop() -> None:
    cycles = [g for g in import_cycles(import_graph()) if any("tusk.engines" in m for m in g)]
    assert cycles == []


def test_the_cycle_finder_finds_a_loop() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_cycles(graph) == [["a", "b", "c"]]
