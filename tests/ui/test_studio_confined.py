"""On a shared Tusk the Studio's SQL stays inside the data roots: an Analyst who tries to read
Tusk's own auth.db gets a clear error and keeps the tab; so does an admin (one DuckDB database)."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import ADMIN_PASSWORD
from tests.ui.conftest import STUDIO, open_app, open_page, sign_in
from tests.ui.test_studio import outcomes, type_and_submit
from tusk import config


def test_analyst_sql_cannot_read_outside_the_data_roots(
    multi_user: Callable[..., None],
) -> None:
    multi_user({"ana": "Analysts"})
    secret = config.home() / "auth.db"  # every user's password hash
    sql = f"select * from read_blob('{secret}')"

    at = open_page(STUDIO, user="ana")
    type_and_submit(at, sql)
    (o,) = outcomes(at)
    assert o.result is None and "data roots" in o.error.message
    assert any("data roots" in e.value for e in at.error)
    type_and_submit(at, "select count(*) as n from orders")  # the tab still works
    assert outcomes(at)[0].result.table.to_pylist() == [{"n": 5000}]

    # An admin's session shares the demo database, which DuckDB confines as a whole.
    admin = sign_in(open_app(), "admin", ADMIN_PASSWORD)
    admin.switch_page(STUDIO).run()
    type_and_submit(admin, sql)
    assert "data roots" in outcomes(admin)[0].error.message
