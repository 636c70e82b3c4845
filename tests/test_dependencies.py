"""Every third-party package Tusk imports is declared in pyproject.toml: a package that only
arrives as another one's dependency (bcrypt through streamlit-authenticator, SQLAlchemy through
sqlmodel) may vanish or change major version under a fresh install."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCES = [
    *sorted((REPO / "tusk").rglob("*.py")),
    REPO / "app.py",
    *sorted((REPO / "pages").glob("*.py")),
]

# Parts of the library that belong to an extra: a module-level import there may come from that
# extra. Everything else (the app, the pages, the CLI, the UI) runs with the core dependencies.
OWNERS = {
    "tusk/admin/": "postgres",  # PostgreSQL administration
    "tusk/engines/postgres.py": "postgres",
    "tusk/engines/pg_": "postgres",  # pg_bulk, pg_conninfo, pg_errors, pg_types
    "tusk/geo/": "geo",
    "tusk/etl/": "etl",
    "tusk/cluster/": "cluster",
}


def _normal(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> dict[str, set[str]]:
    """The distributions each group declares: "core" and every extra (self-references out)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    groups = {"core": project["dependencies"], **project["optional-dependencies"]}
    found: dict[str, set[str]] = {}
    for group, requirements in groups.items():
        names = {_normal(re.match(r"[A-Za-z0-9_.-]+", r).group()) for r in requirements}
        found[group] = names - {"tusk"}
    return found


def _imports(path: Path) -> list[tuple[str, bool]]:
    """The top-level package of every absolute import in a file, and whether the import runs
    when the module loads (True) or only inside a function (False: an optional path)."""
    tree = ast.parse(path.read_text(), str(path))
    eager = {id(node) for node in ast.walk(tree)}
    for func in ast.walk(tree):
        if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            eager -= {id(node) for node in ast.walk(func)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(name.partition(".")[0], id(node) in eager) for name in names]
    return found


def _owner(path: Path) -> str | None:
    rel = path.relative_to(REPO).as_posix()
    return next((extra for prefix, extra in OWNERS.items() if rel.startswith(prefix)), None)


def test_every_third_party_import_is_declared() -> None:
    """A module-level import is in the core dependencies or the extra owning the module; an
    import inside a function (a path taken only with an extra installed) is in some extra."""
    declared = _declared()
    anywhere = set().union(*declared.values()) - declared["test"]
    distributions = importlib.metadata.packages_distributions()
    missing = []
    for path in SOURCES:
        owner = _owner(path)
        for package, eager in _imports(path):
            if package in sys.stdlib_module_names or package == "tusk":
                continue
            dists = {_normal(d) for d in distributions.get(package, [])}
            if not dists:
                missing.append(f"{path.relative_to(REPO)}: {package} is not installed")
                continue
            allowed = declared["core"] | (declared[owner] if owner else set())
            if not eager:
                allowed = anywhere
            if not dists & allowed:
                where = (
                    "core" + (f" or [{owner}]" if owner else "") if eager else "core or an extra"
                )
                missing.append(
                    f"{path.relative_to(REPO)}: {package} ({', '.join(dists)}) not in {where}"
                )
    assert not missing, "\n".join(sorted(set(missing)))


def test_the_check_sees_what_it_checks() -> None:
    """The scan finds the imports it must judge (a scan that sees nothing passes anything)."""
    assert ("bcrypt", True) in _imports(REPO / "tusk" / "auth" / "passwords.py")
    assert ("sqlalchemy", True) in _imports(REPO / "tusk" / "auth" / "database.py")
    assert ("polars", False) in _imports(REPO / "tusk" / "cli.py")
    assert _owner(REPO / "tusk" / "geo" / "deck.py") == "geo"
    assert {"streamlit", "duckdb", "pyarrow"} <= _declared()["core"]
