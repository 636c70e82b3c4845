"""The Cluster page with AppTest: DataFusion on this machine, a head that does not answer,
permissions, and (marked cluster) a real local cluster started, used and stopped from the page."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from tests.ui.conftest import CLUSTER, open_page
from tusk import files
from tusk.ui.cluster import page as cluster_page


def _page() -> AppTest:
    return open_page(CLUSTER, timeout=120)


def _register(at: AppTest, name: str, root: str, relative: str) -> None:
    at.text_input(key="cluster_table_name").set_value(name).run()
    at.selectbox(key="cluster_table_root").set_value(root).run()
    at.text_input(key="cluster_table_path").set_value(relative).run()
    at.button(key="cluster_register").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]


def test_this_machine_runs_sql_with_datafusion() -> None:
    """Single-node mode: a registered data-root file is queried with DataFusion."""
    import pyarrow.parquet as pq

    at = _page()
    at.segmented_control(key="cluster_mode").set_value("single").run()
    _register(at, "orders", "demo", "orders.parquet")
    at.session_state[cluster_page.SQL_TEXT] = "select count(*) as n from orders"
    at.button(key="cluster_run").click().run()
    assert not at.exception and not at.error
    label, table = at.session_state[cluster_page.RESULT]
    expected = pq.read_metadata(files.resolve("demo", "orders.parquet")).num_rows
    assert label == "this machine" and table.column("n").to_pylist() == [expected]


@pytest.mark.timeout(60)
def test_bad_table_name_and_unreachable_head_are_clear() -> None:
    """A hostile table name is refused; a head that does not answer fails in seconds."""
    at = _page()
    at.text_input(key="cluster_table_name").set_value('x"; drop').run()
    at.text_input(key="cluster_table_path").set_value("/tmp/x.parquet").run()
    at.button(key="cluster_register").click().run()
    assert any("letters, digits" in e.value for e in at.error)
    at.text_input(key="cluster_address").set_value("127.0.0.1:1").run()
    at.button(key="cluster_connect").click().run()  # the library gives up within 5 s
    assert any("Connection" in e.value for e in at.error)
    assert cluster_page.TARGET not in at.session_state


def test_viewer_sees_the_page_but_cannot_submit_or_start(
    multi_user: Callable[..., None],
) -> None:
    """cluster.view only: Submit and Start are off."""
    multi_user({"vera": "Viewers"})
    at = open_page(CLUSTER, user="vera")
    assert at.button(key="cluster_run").disabled
    at.segmented_control(key="cluster_mode").set_value("local").run()
    assert at.button(key="cluster_start").disabled


@pytest.mark.cluster
@pytest.mark.timeout(300)
def test_local_cluster_from_the_page() -> None:
    """Start a head + 1 worker from the page, see the nodes ALIVE, submit SQL, read the
    result and the log, stop the cluster."""
    at = _page()
    at.segmented_control(key="cluster_mode").set_value("local").run()
    at.number_input(key="cluster_workers").set_value(1).run()
    at.button(key="cluster_start").click().run()
    try:
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert cluster_page.local_cluster() is not None
        nodes = at.dataframe[0].value
        assert len(nodes) == 2 and all("ALIVE" in s for s in nodes["state"])
        _register(at, "orders", "demo", "orders.parquet")
        at.session_state[cluster_page.SQL_TEXT] = (
            "select status, count(*) as n from orders group by status"
        )
        at.button(key="cluster_run").click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        query = at.session_state[cluster_page.QUERY]
        assert query.wait(180)
        at.run()
        label, table = at.session_state[cluster_page.RESULT]
        assert table.num_rows >= 1 and sum(table.column("n").to_pylist()) > 0
        from tusk.cluster import log

        assert log.list_queries(1)[0].status == "done"
        at.button(key="cluster_stop").click().run()
        assert cluster_page.local_cluster() is None
    finally:
        cluster_page._stop_local()
