"""Icons: the library names an engine's icon (a Material Symbols name); the UI writes it as
Streamlit does."""

from __future__ import annotations

from tusk.engines.registry import ICON_NAMES


def engine_icon(engine: str) -> str:
    """Streamlit's icon string (`:material/name:`) for an engine name."""
    return f":material/{ICON_NAMES[engine]}:"
