"""Engine registry: name → adapter class, imported lazily so the CLI starts fast."""

from __future__ import annotations

import importlib
from typing import Any

from tusk.engines.abilities import ABILITIES
from tusk.engines.base import Connection, Engine
from tusk.engines.spec import ENGINE_NAMES, ConnectionSpec
from tusk.errors import BadInput, ConnectionFailed

_ADAPTERS = {
    "postgres": ("tusk.engines.postgres", "PostgresEngine"),
    "sqlite": ("tusk.engines.sqlite", "SQLiteEngine"),
    "duckdb": ("tusk.engines.duckdb", "DuckDBEngine"),
    "datafusion": ("tusk.engines.datafusion", "DataFusionEngine"),
    "cluster": ("tusk.engines.cluster", "ClusterEngine"),
}

LABELS = {name: row.label for name, row in ABILITIES.items()}
ICON_NAMES = {name: row.icon for name, row in ABILITIES.items()}  # tusk.ui.icons maps them


def engine_class(name: str) -> type[Any]:
    """The adapter class for an engine name."""
    if name not in _ADAPTERS:
        raise BadInput(f"Unknown engine {name!r}: use one of {', '.join(ENGINE_NAMES)}.")
    module, cls = _ADAPTERS[name]
    try:
        return getattr(importlib.import_module(module), cls)
    except ImportError as exc:
        extra = {"postgres": "postgres", "cluster": "cluster"}.get(name, "all")
        raise ConnectionFailed(
            f"The {LABELS[name]} driver is not installed ({exc.name}): pip install 'tusk[{extra}]'",
            "Driver missing",
        ) from None


def engine_for(spec: ConnectionSpec) -> Engine:
    """An engine configured from a connection spec."""
    return engine_class(spec.engine)(spec)


def connect(spec: ConnectionSpec) -> Connection:
    """Open a connection for a spec (raises ConnectionFailed)."""
    return engine_for(spec).connect()
