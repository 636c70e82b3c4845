"""House rules a grep can check: engine differences are data (no `engine == "…"` outside
tusk/engines) and tusk's modules import each other without a loop (imports inside functions too)."""

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
#
# The graph: module → the tusk modules it imports anywhere (module level and inside functions,
# where loops hide), except under `if TYPE_CHECKING:`. `from pkg import name` is an edge to the
# submodule `pkg.name` when there is one, else to `pkg` (its __init__). Importing a submodule
# also runs its package's __init__, but that is not counted as an edge: a package's __init__
# importing its own submodules while they import their siblings is the normal layout. A loop is
# modules that need each other, directly or through others.


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    """`TYPE_CHECKING` or `typing.TYPE_CHECKING` (imports for annotations only)."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(name: str, is_package: bool, tree: ast.Module, modules: set[str]) -> set[str]:
    """Tusk modules a module imports anywhere (functions too), but not under TYPE_CHECKING."""
    out: set[str] = set()
    # What a relative import's dots count from: the package itself for its __init__.
    here = name.split(".") if is_package else name.split(".")[:-1]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                out.add(sub if sub in modules else module)
        elif (  # importlib.import_module("tusk.x") with a literal name is an import too
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (getattr(node.func, "attr", None) or getattr(node.func, "id", None))
            == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            out.add(node.args[0].value)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out & modules


def import_graph(package: str = "tusk") -> dict[str, set[str]]:
    """Module → the package's modules it imports (its own name left out)."""
    paths = {_module_name(p): p for p in (ROOT / package).rglob("*.py")}
    modules = set(paths)
    return {
        name: _imports(
            name,
            path.name == "__init__.py",
            ast.parse(path.read_text(encoding="utf-8")),
            modules,
        )
        - {name}
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


def shortest_loop(graph: dict[str, set[str]], group: list[str]) -> list[str]:
    """One shortest import path from the group's first module back to itself (for messages)."""
    start, members = group[0], set(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & members):
            if w == start:
                return [*paths[v], start]
            if w not in paths:
                paths[w] = [*paths[v], w]
                queue.append(w)
    return group  # not reached for a strongly connected group


def describe(graph: dict[str, set[str]], group: list[str]) -> str:
    """A loop as `a → b → a`, then every import edge inside the group."""
    edges = "\n".join(
        f"      {m} imports {', '.join(sorted(graph[m] & set(group)))}" for m in group
    )
    return " → ".join(shortest_loop(graph, group)) + "\n" + edges


def test_tusk_imports_without_a_loop() -> None:
    graph = import_graph()
    cycles = import_cycles(graph)
    found = "\n".join(f"  {describe(graph, g)}" for g in cycles)
    assert not cycles, (
        f"Import loops in tusk (imports inside functions count):\n{found}\n"
        "Move what both sides need to the module that owns it (or a small new one)."
    )


def test_the_cycle_finder_finds_a_loop() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_cycles(graph) == [["a", "b", "c"]]
    assert shortest_loop(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]


def test_the_graph_sees_every_kind_of_import() -> None:
    modules = {"p", "p.a", "p.b", "p.e", "p.f", "p.g", "p.sub", "p.sub.c", "p.sub.d", "p.sub.x"}
    source = """
import p.a
from p import b, thing
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from p import e
else:
    from p import g
def later():
    from .c import y
    from . import d
    from .. import f
    importlib.import_module("p.sub.x")
"""
    found = _imports("p.sub.m", False, ast.parse(source), modules)
    # `thing` is no module, so `from p import thing` needs p's __init__; `e` is for types only.
    assert found == {"p.a", "p.b", "p", "p.g", "p.sub.c", "p.sub.d", "p.f", "p.sub.x"}
    # In a package's __init__ one dot is the package itself.
    assert _imports("p.sub", True, ast.parse("from . import x"), modules) == {"p.sub.x"}
