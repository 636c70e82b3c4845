"""The Studio page in AppTest: tabs, runs through the editor's value, results, connections,
history, saved queries and parameters. Custom components (editor, grid) are driven through
session state, as AppTest shows them as UnknownElement."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.ui.conftest import STUDIO, open_app, open_page, open_tables, settle, studio_side
from tusk import config, connections
from tusk.engines.spec import ConnectionSpec
from tusk.store import history, saved
from tusk.ui.editor import editor_key
from tusk.ui.shell import md_escape
from tusk.ui.studio import tabs as qtabs

_ids = itertools.count()


def studio() -> AppTest:
    """The Studio page, opened from Home like a user would."""
    return open_page(STUDIO)


def tabs(at: AppTest) -> list:
    """The session's query tabs."""
    return at.session_state["studio_tabs"]


def active(at: AppTest):  # noqa: ANN201 - a QueryTab
    """The active query tab."""
    wanted = at.session_state["studio_active_tab"]
    return next(t for t in tabs(at) if t.id == wanted)


def type_and_submit(at: AppTest, sql: str, *, kind: str = "submit", selected: str = "") -> None:
    """What the Ace editor sends on Ctrl+Enter: a new event id with the text."""
    tab = active(at)
    at.session_state[editor_key(tab.id, tab.editor_version)] = {
        "id": f"ev{next(_ids)}",
        "type": kind,
        "lang": "sql",
        "text": sql,
        "selected": selected,
        "cursor": {"row": 0, "column": 0},
    }
    settle(at.run())
    assert not at.exception


def outcomes(at: AppTest) -> list:
    """The active tab's statement outcomes."""
    return active(at).outcomes


def test_run_through_the_editor() -> None:
    """Ctrl+Enter in the editor runs its SQL and the result lands in the tab."""
    at = studio()
    type_and_submit(at, "select count(*) as n from orders")
    (o,) = outcomes(at)
    assert o.result.table.to_pylist() == [{"n": 5000}]
    assert any(c.value.startswith("1 row ·") for c in at.caption)
    assert history.search()[0].statement == "select count(*) as n from orders"


def test_run_button_runs_the_tab_sql() -> None:
    """The Run button runs the tab's current SQL (the default query at first)."""
    at = studio()
    settle(at.button(key="studio_run").click().run())
    assert outcomes(at)[0].result.table.num_rows == 100


def test_selection_runs_alone() -> None:
    """With a selection, only the selected SQL runs."""
    at = studio()
    type_and_submit(at, "select 1 as a;\nselect 2 as b", selected="select 2 as b")
    (o,) = outcomes(at)
    assert o.result.table.to_pylist() == [{"b": 2}]


def test_statements_run_in_order_each_with_its_result() -> None:
    """A script runs statement by statement; every SELECT gets its own result tab."""
    at = studio()
    type_and_submit(
        at,
        "create table t (x int);\ninsert into t values (1), (2);\nselect * from t;\nselect 9 as y",
    )
    found = outcomes(at)
    assert len(found) == 4
    assert found[1].result.affected_rows == 2
    assert found[2].result.table.column("x").to_pylist() == [1, 2]
    assert found[3].result.table.to_pylist() == [{"y": 9}]
    assert len(at.tabs) >= 4 + 3  # four result tabs (plus the side panel's three)


def test_error_shows_position_and_keeps_sql() -> None:
    """Wrong SQL: the error names line and column; the SQL is still in the tab."""
    at = studio()
    sql = "select 1;\nselect 1 frm x"
    type_and_submit(at, sql)
    errors = [e.value for e in at.error]
    assert any("line 2, column 14" in e and "syntax error" in e for e in errors), errors
    assert active(at).sql == sql
    type_and_submit(at, "select 7 as ok")  # the connection still works
    assert outcomes(at)[0].result.table.to_pylist() == [{"ok": 7}]


@pytest.mark.parametrize(
    "sql, words",
    [
        ("select * from no_such_table", "no_such_table"),
        ("select 1 / 0", None),
        ("", "no SQL"),
    ],
)
def test_bad_input_is_an_error_not_a_crash(sql: str, words: str | None) -> None:
    """Unknown tables, division by zero and empty SQL never raise out of the page."""
    at = studio()
    type_and_submit(at, sql)
    shown = [e.value for e in at.error] + [w.value for w in at.warning]
    if words:  # messages are shown Markdown-escaped (no_such_table as no\_such\_table)
        assert any(md_escape(words) in s for s in shown), shown
    assert active(at).sql == sql


def test_truncation_notice() -> None:
    """More rows than the preview limit: the grid gets the limit and the notice says so."""
    config.set_value("default_limit", "50")
    at = studio()
    type_and_submit(at, "select * from range(2000000)")
    (o,) = outcomes(at)
    assert o.result.table.num_rows == 50 and o.result.truncated
    assert any("truncated" in c.value for c in at.caption)


def test_tabs_new_rename_close_keep_their_sql() -> None:
    """Each tab keeps its own SQL; tabs can be added, renamed and closed."""
    at = studio()
    type_and_submit(at, "select 1 as first_tab")
    first = active(at).id
    at.button(key="studio_new_tab").click().run()
    assert len(tabs(at)) == 2 and active(at).id != first
    assert active(at).title == "Query 2"
    type_and_submit(at, "select 2 as second_tab")
    second = active(at)
    assert not [w for w in at.text_input if w.key == f"studio_rename_{second.id}"]  # lazy
    at.session_state[f"studio_rename_open_{second.id}"] = True  # open the Rename popover
    at.run()
    at.text_input(key=f"studio_rename_{second.id}").set_value("Revenue")
    at.button(key=f"studio_rename_go_{second.id}").click().run()
    assert second.title == "Revenue"
    at.session_state["studio_active_tab"] = first
    at.run()
    assert active(at).sql == "select 1 as first_tab"
    assert outcomes(at)[0].result.table.column_names == ["first_tab"]
    at.button(key="studio_close_tab").click().run()
    assert [t.title for t in tabs(at)] == ["Revenue"]
    assert active(at).sql == "select 2 as second_tab"


def test_tabs_survive_a_page_switch() -> None:
    """Leaving the Studio and coming back keeps tabs and SQL."""
    at = studio()
    type_and_submit(at, "select 3 as kept")
    at.switch_page("app.py").run()
    at.switch_page("pages/1_Studio.py").run()
    assert active(at).sql == "select 3 as kept"


def _fill_form(at: AppTest, **fields: object) -> None:
    for name, value in fields.items():
        key = f"connform_{name}"
        widget = at.selectbox(key=key) if name == "engine" else None
        if widget is not None:
            widget.set_value(value)
        elif name == "port":
            at.number_input(key=key).set_value(value)
        else:
            at.text_input(key=key).set_value(value)
    at.run()


def test_add_test_and_delete_a_connection(tmp_path: Path) -> None:
    """Add a SQLite connection from the dialog, use it, then delete it with confirmation."""
    at = studio()
    at.button(key="studio_conn_add").click().run()
    at.selectbox(key="connform_engine").set_value("sqlite").run()
    _fill_form(at, name="local file", path=str(tmp_path / "app.sqlite"))
    at.button(key="connform_test").click().run()
    assert any("Connected" in s.value for s in at.success)
    at.button(key="connform_save").click().run()
    assert not at.exception
    assert "local file" in connections.names()
    assert active(at).connection == "local file"
    assert at.selectbox(key=f"studio_conn_{active(at).id}").value == "local file"
    type_and_submit(at, "select sqlite_version() is not null as ok")
    assert outcomes(at)[0].result.table.to_pylist() == [{"ok": 1}]
    at.button(key="studio_conn_delete").click().run()
    assert any("local file" in m.value for m in at.markdown)
    at.button(key="connform_delete").click().run()
    assert "local file" not in connections.names()
    # The tab keeps its deleted connection and asks for another (issue 13, case 11).
    assert active(at).connection == "local file"
    assert at.selectbox(key=f"studio_conn_{active(at).id}").value is None


@pytest.mark.postgres
def test_bad_password_keeps_the_form(pg: ConnectionSpec) -> None:
    """A wrong password shows the server's message; what was typed stays in the form."""
    at = studio()
    at.button(key="studio_conn_add").click().run()
    _fill_form(
        at,
        name="prod",
        host=pg.host,
        port=pg.port,
        database=pg.database,
        user="postgres",
        password="wrong-password",
    )
    at.button(key="connform_save").click().run()  # saving does not test: it saves
    assert "prod" in connections.names()
    at.button(key="studio_conn_edit").click().run()
    at.text_input(key="connform_password").set_value("still-wrong").run()
    at.button(key="connform_test").click().run()
    assert any("password authentication failed" in e.value for e in at.error)
    assert at.text_input(key="connform_host").value == pg.host
    assert at.text_input(key="connform_password").value == "still-wrong"
    assert not at.exception


def test_history_entry_opens_in_a_new_tab() -> None:
    """A history entry can be opened in a new tab."""
    at = studio()
    type_and_submit(at, "select 11 as from_history")
    entry = history.search()[0]
    studio_side(at, "History")
    at.button(key=f"hist_tab_{entry.id}").click().run()
    assert len(tabs(at)) == 2
    assert active(at).sql == "select 11 as from_history"


def test_saved_query_round_trip_across_sessions() -> None:
    """Ctrl+S saves the tab's SQL; a fresh session finds it and opens it into a tab."""
    at = studio()
    type_and_submit(at, "select 5 as saved_one")
    type_and_submit(at, "select 5 as saved_one", kind="save")
    at.text_input(key="save_name").set_value("Five").run()
    at.button(key="save_go").click().run()
    assert not at.exception
    (query,) = saved.list_queries()
    assert (query.name, query.sql) == ("Five", "select 5 as saved_one")

    fresh = studio_side(studio(), "Saved")  # a new browser session: nothing in its state
    fresh.button(key=f"saved_open_{query.id}").click().run()
    assert active(fresh).sql == "select 5 as saved_one"
    assert active(fresh).title == "Five"


def test_parameters_become_inputs_and_bind() -> None:
    """`:name` parameters get inputs; values are bound, hostile text included."""
    at = studio()
    type_and_submit(at, "select :n + 1 as v, :s as s")
    assert any("Fill in the parameters" in w.value for w in at.warning)
    tab = active(at)
    at.text_input(key=f"param_{tab.id}_n").set_value("41")
    at.text_input(key=f"param_{tab.id}_s").set_value("x'; drop table y; --")
    at.run()
    settle(at.button(key="studio_run").click().run())
    assert outcomes(at)[0].result.table.to_pylist() == [{"v": 42, "s": "x'; drop table y; --"}]


def test_shared_link_opens_a_tab() -> None:
    """?connection=…&sql=… opens the query in a new tab."""
    at = open_app()
    at.query_params["connection"] = "demo"
    at.query_params["sql"] = "select 'shared' as how"
    at.switch_page("pages/1_Studio.py").run()
    assert not at.exception
    assert active(at).sql == "select 'shared' as how"
    assert active(at).title == "Shared"
    assert "sql" not in at.query_params  # a reload must not open it a second time


def test_schema_browser_inserts_a_select() -> None:
    """Clicking Query on a table puts SELECT * FROM it into the editor."""
    at = studio()
    assert not [b for b in at.button if b.key and b.key.endswith("_pick")]  # drawn when opened
    open_tables(at)
    buttons = [b for b in at.button if b.key and b.key.startswith("browser_demo_table_")]
    assert len(buttons) == 5  # the five demo tables
    buttons[0].click().run()
    assert active(at).sql == "SELECT * FROM cities LIMIT 100"
    assert any("🔑" in m.value for m in at.markdown)
    assert any("↗" in m.value and "cities(id)" in m.value for m in at.markdown)


def test_drafts_survive_a_new_session() -> None:
    """A reload (a new Streamlit session) restores every tab's title, SQL and connection."""
    at = studio()
    type_and_submit(at, "select 'draft one' as d")
    at.button(key="studio_new_tab").click().run()
    type_and_submit(at, "select 'draft two' as d")
    fresh = studio()
    assert [t.sql for t in tabs(fresh)] == ["select 'draft one' as d", "select 'draft two' as d"]
    assert active(fresh).title == "Query 2"


def test_a_new_session_does_not_rewrite_the_drafts() -> None:
    """A reload reads the drafts and writes them only after a change (no fsync per reload)."""
    at = studio()
    type_and_submit(at, "select 'kept' as d")
    path = config.home() / qtabs.DRAFTS_FILE
    path.write_text(path.read_text())  # same text, its own inode and mtime
    before = path.stat().st_mtime_ns, path.stat().st_ino
    fresh = studio()
    assert [t.sql for t in tabs(fresh)] == ["select 'kept' as d"]
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == before
    type_and_submit(fresh, "select 'changed' as d")
    assert "changed" in path.read_text()


def test_theme_toggle_is_saved() -> None:
    """The dark theme switch is stored in config (and the editor follows it)."""
    at = studio()
    at.toggle(key="tusk_dark_theme").set_value(True).run()
    assert not at.exception
    assert config.load()["theme"] == "dark"


def test_run_statement_at_cursor() -> None:
    """Ctrl+Shift+Enter runs only the statement under the cursor."""
    at = studio()
    tab = active(at)
    at.session_state[editor_key(tab.id, tab.editor_version)] = {
        "id": "cursor1",
        "type": "run_current",
        "text": "select 1 as a;\nselect 2 as b;\nselect 3 as c",
        "selected": "",
        "cursor": {"row": 1, "column": 4},
    }
    at.run()
    (o,) = outcomes(at)
    assert o.result.table.to_pylist() == [{"b": 2}]


def test_saved_query_rename_and_delete() -> None:
    """Saved queries can be renamed and deleted from the panel."""
    query = saved.save_query("Old name", "select 1")
    at = studio_side(studio(), "Saved")
    at.text_input(key=f"saved_rename_{query.id}").set_value("New name")
    at.button(key=f"saved_rename_go_{query.id}").click().run()
    assert saved.get_query(query.id).name == "New name"
    at.button(key=f"saved_del_{query.id}").click().run()
    assert saved.list_queries() == []


def test_share_link_carries_connection_and_sql() -> None:
    """The Share popover shows a link with the tab's connection and SQL."""
    at = studio()
    type_and_submit(at, "select 'a&b' as x")
    assert not [c for c in at.code if "connection=demo" in c.value]  # drawn when opened
    at.session_state["studio_share_open"] = True
    at.run()
    links = [c.value for c in at.code if "connection=demo" in c.value]
    assert links and "sql=select+%27a%26b%27+as+x" in links[0]
