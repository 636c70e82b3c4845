"""The Studio's Files panel and "Save to a data root", driven with AppTest on real files."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from streamlit.testing.v1 import AppTest

from tests.ui.conftest import STUDIO, open_page, result_view, settle, studio_side
from tusk import files
from tusk.errors import BadInput
from tusk.ui.studio import files_panel
from tusk.ui.studio import tabs as qtabs
from tusk.ui.studio.files_panel import _key

CSV = 'id,name,city\n1,Ann,Zürich\n2,"Bo, Jr.",Oslo\n3,,Lima\n'


def _popovers(at: AppTest) -> str:
    """The labels of every popover (one per file in the panel)."""
    return " ".join(p.proto.popover.label for p in at.get("popover"))


def _errors(at: AppTest) -> list[str]:
    """Error texts without Markdown escapes."""
    return [e.value.replace("\\", "") for e in at.error]


def _data_root() -> str:
    return files.roots()[0].name


def _run_active_tab(at: AppTest) -> None:
    settle(at.button(key="studio_run").click().run())
    tab = qtabs_active(at)
    if tab.run is not None:
        tab.run.wait(30)
        at.run()


def _run_sql(at: AppTest, sql: str) -> qtabs.QueryTab:
    """Put `sql` in the active tab (through its session value, as the editor would) and run it."""
    tab = qtabs_active(at)
    tab.sql = sql
    tab.editor_version += 1
    _run_active_tab(at)
    return tab


def qtabs_active(at: AppTest) -> qtabs.QueryTab:
    """The active query tab object in the AppTest session."""
    active = at.session_state[qtabs.ACTIVE_KEY]
    return next(t for t in at.session_state["studio_tabs"] if t.id == active)


def test_demo_files_are_listed_and_query_in_a_new_tab() -> None:
    """The demo root lists its files; "Query in a new tab" opens read_parquet on DuckDB and
    the query returns the file's rows."""
    at = open_page(STUDIO)
    studio_side(at, "Files")
    at.selectbox(key="files_root").set_value("demo").run()
    labels = _popovers(at)
    assert "orders.parquet" in labels and "customers.csv" in labels
    at.button(key=_key("demo", "orders.parquet", "q")).click().run()
    assert not at.exception
    tab = qtabs_active(at)
    assert "read_parquet(" in tab.sql and tab.connection == "demo"
    _run_active_tab(at)
    outcome = qtabs_active(at).outcomes[0]
    expected = pq.read_table(files.resolve("demo", "orders.parquet")).num_rows
    assert outcome.error is None
    assert outcome.result.table.num_rows == min(expected, 1000)


def test_upload_preview_and_clash() -> None:
    """An uploaded CSV lands in the chosen root, previews with its first rows, and a second
    upload of the same name is refused (nothing overwritten) until Replace is ticked."""
    at = open_page(STUDIO)
    studio_side(at, "Files")
    root = _data_root()
    at.selectbox(key="files_root").set_value(root).run()
    at.file_uploader(key="files_upload_0").set_value(("people.csv", CSV.encode(), "text/csv"))
    at.run()
    at.button(key="files_upload_go").click().run()
    assert not at.exception and not at.error
    path = files.resolve(root, "people.csv")
    assert path.read_text(encoding="utf-8") == CSV
    at.button(key=_key(root, "people.csv", "pv")).click().run()
    assert not at.exception
    frames = [d.value for d in at.dataframe]
    assert any(list(f.get("column", [])) == ["id", "name", "city"] for f in frames if "column" in f)
    assert any("Zürich" in str(f.to_dict() if hasattr(f, "to_dict") else f) for f in frames)

    at.file_uploader(key="files_upload_1").set_value(("people.csv", b"id\n9\n", "text/csv"))
    at.run()
    at.button(key="files_upload_go").click().run()
    assert any("already exists" in e for e in _errors(at))
    assert path.read_text(encoding="utf-8") == CSV  # untouched
    at.checkbox(key="files_upload_overwrite").check().run()
    at.button(key="files_upload_go").click().run()
    assert path.read_text(encoding="utf-8") == "id\n9\n"


def test_corrupt_file_preview_is_a_clear_error() -> None:
    """A broken Parquet file previews as a readable error, and the page keeps running."""
    root = _data_root()
    files.resolve(root).mkdir(parents=True, exist_ok=True)
    files.resolve(root, "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    at = open_page(STUDIO)
    studio_side(at, "Files")
    at.selectbox(key="files_root").set_value(root).run()
    at.button(key=_key(root, "broken.parquet", "pv")).click().run()
    assert not at.exception
    assert any("broken.parquet" in e for e in _errors(at))


def test_delete_asks_first() -> None:
    """Delete opens a dialog naming the file; Keep it keeps it, Delete removes it."""
    root = _data_root()
    files.resolve(root).mkdir(parents=True, exist_ok=True)
    target = files.resolve(root, "old.csv")
    target.write_text("a\n1\n", encoding="utf-8")
    at = open_page(STUDIO)
    studio_side(at, "Files")
    at.selectbox(key="files_root").set_value(root).run()
    at.button(key=_key(root, "old.csv", "d")).click().run()
    assert any("old.csv" in m.value.replace("\\", "") for m in at.markdown)
    at.button(key="files_delete_no").click().run()
    assert target.exists()
    at.button(key=_key(root, "old.csv", "d")).click().run()
    at.button(key="files_delete_yes").click().run()
    assert not target.exists()


def test_create_view_then_query_it() -> None:
    """Create view makes a DuckDB view over the file in the tab's DuckDB connection."""
    root = _data_root()
    files.resolve(root).mkdir(parents=True, exist_ok=True)
    files.resolve(root, "people.csv").write_text(CSV, encoding="utf-8")
    at = open_page(STUDIO)
    studio_side(at, "Files")
    at.selectbox(key="files_root").set_value(root).run()
    at.text_input(key=_key(root, "people.csv", "vn")).set_value("people_v").run()
    at.button(key=_key(root, "people.csv", "v")).click().run()
    assert not at.exception and not at.error
    _run_sql(at, "select count(*) as n from people_v")
    assert qtabs_active(at).outcomes[0].result.table.column("n").to_pylist() == [3]


def test_save_result_to_a_data_root() -> None:
    """The export panel writes the full result into a data root, readable afterwards."""
    at = open_page(STUDIO)
    studio_side(at, "Files")
    tab = _run_sql(at, "select * from range(2500) t(i)")
    root = _data_root()
    key = f"export_{tab.id}_0"
    result_view(at, "Export")
    at.selectbox(key=f"{key}_root").set_value(root).run()
    at.text_input(key=f"{key}_path").set_value("numbers.csv").run()
    at.button(key=f"{key}_save").click().run()
    assert not at.exception and not at.error
    table = pacsv.read_csv(io.BytesIO(files.resolve(root, "numbers.csv").read_bytes()))
    assert table.num_rows == 2500  # the whole result, not the first page


def test_path_outside_the_roots_is_refused_in_the_export_panel() -> None:
    """A ../ path typed into "Save to a data root" is refused with a clear error."""
    at = open_page(STUDIO)
    studio_side(at, "Files")
    tab = _run_sql(at, "select 1 as a")
    key = f"export_{tab.id}_0"
    result_view(at, "Export")
    at.text_input(key=f"{key}_path").set_value("../../escape.csv").run()
    at.button(key=f"{key}_save").click().run()
    assert not at.exception
    assert any("outside" in e.lower() or ".." in e for e in _errors(at))


def test_viewer_browses_but_cannot_upload_or_delete(multi_user: Callable[..., None]) -> None:
    """A Viewer (data.view, no data.import) sees the files, but no Upload or Delete."""
    multi_user({"vera": "Viewers"})
    at = open_page(STUDIO, user="vera")
    studio_side(at, "Files")
    at.selectbox(key="files_root").set_value("demo").run()
    assert not at.exception
    assert "orders.parquet" in _popovers(at)
    assert not [b for b in at.button if b.key == "files_upload_go"]
    assert not [b for b in at.button if b.key == _key("demo", "orders.parquet", "d")]


@pytest.mark.postgres
@pytest.mark.parametrize("shared", [False, True], ids=["single-user", "confined-analyst"])
def test_attach_postgres_and_join_it_with_a_parquet_file(
    db: str, shared: bool, multi_user: Callable[..., None]
) -> None:
    """From a DuckDB tab: attach a saved PostgreSQL connection read-only, then one query joins
    a Parquet file in a data root with the PostgreSQL table. On a shared Tusk the session is
    confined to the data roots and DuckDB's scanner would reach any server: the panel says so
    and offers no attach, and the library refuses it."""
    import pyarrow as pa

    from tests.conftest import pg_spec, server_connection
    from tusk import connections

    with server_connection(db) as c:
        c.execute("create table cities (id int primary key, name text)")
        c.execute("insert into cities values (1, 'Zürich'), (2, 'Oslo'), (3, 'Lima')")
    connections.add(pg_spec(db, name="warehouse"))
    root = _data_root()
    files.resolve(root).mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table({"city_id": [1, 3, 3, 9], "amount": [10, 20, 30, 40]}),
        files.resolve(root, "sales.parquet"),
    )
    scan = files.scan_sql(root, "sales.parquet")
    if shared:
        multi_user({"ana": "Analysts"})
    at = open_page(STUDIO, user="ana" if shared else None)
    studio_side(at, "Files")
    assert not [w for w in at.selectbox if w.key == "attach_pg_conn"]  # drawn when opened
    at.session_state[files_panel.ATTACH_KEY] = True
    at.run()
    if shared:
        assert not [b for b in at.button if b.key == "attach_pg_go"]
        assert any("cannot attach PostgreSQL" in c.value for c in at.caption)
        from tusk.auth.users import get_user

        with pytest.raises(BadInput, match="cannot attach PostgreSQL"):
            connections.open_for(
                connections.ensure_demo(),
                get_user("ana"),
                attach=[(connections.get("warehouse"), "wh")],
            )
        return
    at.selectbox(key="attach_pg_conn").set_value("warehouse").run()
    at.text_input(key="attach_pg_alias").set_value("wh").run()
    at.button(key="attach_pg_go").click().run()
    assert not at.exception and not at.error
    _run_sql(
        at,
        f"select c.name, sum(s.amount) as total from {scan} s "  # noqa: S608 - test SQL
        "join wh.public.cities c on c.id = s.city_id group by c.name order by c.name",
    )
    outcome = qtabs_active(at).outcomes[0]
    assert outcome.error is None, outcome.error
    assert outcome.result.table.to_pylist() == [
        {"name": "Lima", "total": 50},
        {"name": "Zürich", "total": 10},
    ]


def test_datafusion_tab_registers_a_file_as_a_table(tmp_path: Path) -> None:
    """On a DataFusion tab the panel registers a data-root file as a table to query."""
    from tusk import connections
    from tusk.engines.spec import ConnectionSpec

    root = _data_root()
    files.resolve(root).mkdir(parents=True, exist_ok=True)
    files.resolve(root, "people.csv").write_text(CSV, encoding="utf-8")
    connections.add(ConnectionSpec("fusion", "datafusion", path=str(tmp_path)))
    at = open_page(STUDIO)
    studio_side(at, "Files")
    tab = qtabs_active(at)
    at.selectbox(key=f"studio_conn_{tab.id}").set_value("fusion").run()
    at.selectbox(key="files_root").set_value(root).run()
    at.text_input(key=_key(root, "people.csv", "vn")).set_value("people").run()
    at.button(key=_key(root, "people.csv", "df")).click().run()
    assert not at.exception and not at.error
    _run_sql(at, "select count(*) as n from people")
    outcome = qtabs_active(at).outcomes[0]
    assert outcome.error is None, outcome.error
    assert outcome.result.table.column(0).to_pylist() == [3]
