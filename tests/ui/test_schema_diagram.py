"""The Schema page's Diagram tab through AppTest: the picture of a real SQLite file, the
focused view, the refusal of a too big whole-schema view, Focus and "Query in new tab", and a
hostile table name that stays text."""

from __future__ import annotations

import base64
import re
import sqlite3
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.test_diagram import HOSTILE, SHOP
from tests.ui.conftest import STUDIO, open_app
from tusk import connections
from tusk import diagram as er
from tusk.engines.spec import ConnectionSpec
from tusk.ui.schema import diagram as view
from tusk.ui.schema.page import PICK_KEY
from tusk.ui.studio import tabs as qtabs

SCHEMA_PAGE = "pages/8_Schema.py"


@pytest.fixture
def shop(tmp_path: Path) -> str:
    """The test shop schema in a SQLite file, saved as the connection "shop"."""
    path = tmp_path / "shop.sqlite"
    db = sqlite3.connect(path)
    db.executescript(SHOP)
    db.close()
    connections.add(ConnectionSpec("shop", "sqlite", path=str(path)))
    return "shop"


def open_diagram(connection: str, **state: object) -> AppTest:
    """The Schema page on `connection`'s diagram, with `state` set first."""
    at = open_app()
    at.session_state[PICK_KEY] = connection
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page(SCHEMA_PAGE).run()
    assert not at.exception
    return at


def picture(at: AppTest) -> str:
    """The SVG of the drawn diagram (an <img> of a data: URL in the page's HTML)."""
    bodies = [h.proto.body for h in at.get("html") if "tusk-er-diagram" in h.proto.body]
    assert len(bodies) == 1, "no diagram drawn"
    found = re.search(
        r'<img alt="ER diagram" [^>]*src="data:image/svg\+xml;base64,([^"]+)"', bodies[0]
    )
    assert found, bodies[0][:300]
    return base64.b64decode(found.group(1)).decode()


def pick(at: AppTest, name: str) -> AppTest:
    """Choose the drawn table `name` (of schema main) in the click-through picker."""
    at.selectbox(key=view.PICK_KEY).set_value((None, "main", name))
    return at


def test_small_schema_opens_on_the_whole_picture(shop: str) -> None:
    at = open_diagram(shop)
    assert at.session_state[view.MODE_KEY] == view.WHOLE
    svg = picture(at)
    assert "main.customers" in svg and "main.shipments" in svg
    assert "8 tables, 8 foreign keys" in [c.value for c in at.caption]
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["SVG", "DOT", "Mermaid"]


def test_focused_view_shows_the_neighbours(shop: str) -> None:
    at = open_diagram(
        shop,
        **{
            view.MODE_KEY: view.FOCUSED,
            view.TABLE_KEY: (None, "main", "shipments"),
            view.HOPS_KEY: 2,
        },
    )
    svg = picture(at)
    assert "main.shipments" in svg and "main.order_lines" in svg and "main.orders" in svg
    assert "main.customers" not in svg  # 3 hops away
    assert "3 tables, 2 foreign keys" in [c.value for c in at.caption]
    at.radio(key=view.HOPS_KEY).set_value(3).run()
    assert "main.customers" in picture(at)


def test_whole_schema_over_the_limit_is_refused_politely(
    shop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(er, "OVERVIEW_LIMIT", 3)
    at = open_diagram(shop)
    assert at.session_state[view.MODE_KEY] == view.FOCUSED  # starts where it can draw
    at.radio(key=view.MODE_KEY).set_value(view.WHOLE).run()
    assert not at.exception and not at.error
    assert any("focused view" in i.value for i in at.info)
    assert not [h for h in at.get("html") if "tusk-er-diagram" in h.proto.body]


def test_focus_recenters_on_the_picked_table(shop: str) -> None:
    at = open_diagram(shop, **{view.NAME_KEY: "order"})
    pick(at, "order_lines")
    at.button(key=f"{view.KEY}_focus").click().run()
    assert not at.exception
    assert at.session_state[view.MODE_KEY] == view.FOCUSED
    assert at.session_state[view.TABLE_KEY] == (None, "main", "order_lines")
    assert at.session_state[view.NAME_KEY] == ""  # the filter no longer hides it
    assert "main.order_lines" in picture(at)


def test_query_in_new_tab_opens_the_select_in_the_studio(shop: str) -> None:
    at = open_diagram(shop)
    pick(at, HOSTILE)
    at.button(key=f"{view.KEY}_query").click().run()
    assert not at.exception
    tabs = at.session_state["studio_tabs"]
    tab = tabs[-1]
    assert tab.sql == 'select * from main."x""; drop table y; --" limit 100'
    assert tab.connection == shop and tab.title == HOSTILE
    assert at.session_state[qtabs.ACTIVE_KEY] == tab.id
    assert any("Studio" in t.value for t in at.title)  # the Studio page is the one shown


def test_hostile_names_stay_text(shop: str) -> None:
    at = open_diagram(shop)
    svg = picture(at)
    assert "x&quot;; drop table y; &#45;&#45;" in svg
    assert "&lt;b&gt;" in svg and "<b>" not in svg
    assert "<script" not in svg
    page = next(h.proto.body for h in at.get("html") if "tusk-er-diagram" in h.proto.body)
    assert "drop table" not in page and "<b>" not in page  # names reach the page only as data
    pick(at, HOSTILE).run()
    assert not at.exception


def test_studio_page_still_opens_after_the_switch(shop: str) -> None:
    at = open_diagram(shop)
    at.switch_page(STUDIO).run()
    assert not at.exception
