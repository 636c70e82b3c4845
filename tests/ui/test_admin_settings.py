"""Admin → Settings driven with AppTest on a real PostgreSQL: the short list grouped by
category, all settings, search, details, and the pending-restart flag."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.admin.conftest import server_connection
from tests.conftest import pg_spec
from tests.ui.conftest import admin_tab, open_admin
from tusk import connections
from tusk.admin import settings
from tusk.ui.admin import settings as admin_settings
from tusk.ui.admin.page import TAB_KEY

pytestmark = pytest.mark.postgres


def _settings_tab(pg_database: str) -> AppTest:
    """The Admin page on the Settings tab."""
    connections.add(pg_spec(pg_database))
    return open_admin("tusk.ui.admin.settings")


def _rows(at: AppTest) -> pd.DataFrame:
    """Every settings table on the page as one frame."""
    return pd.concat(
        [d.value for d in at.dataframe if "Setting" in d.value.columns], ignore_index=True
    )


def _show(name: str) -> str:
    with server_connection() as c:
        row = c.execute("select current_setting(%s)", (name,)).fetchone()
    assert row is not None
    return str(row[0])


def test_short_list_grouped_by_category_with_units(pg_database: str) -> None:
    """By default: the important settings, one expander per category, values with units."""
    at = _settings_tab(pg_database)
    rows = _rows(at)
    assert set(rows["Setting"]) <= set(settings.IMPORTANT)
    assert {"shared_buffers", "work_mem", "max_connections"} <= set(rows["Setting"])
    labels = [e.label for e in at.expander]
    memory = next(i for i, label in enumerate(labels) if "Memory" in label)
    memory_rows = [d.value for d in at.dataframe if "Setting" in d.value.columns][memory]
    assert {"shared_buffers", "work_mem"} <= set(memory_rows["Setting"])
    shared = rows[rows["Setting"] == "shared_buffers"].iloc[0]
    assert shared["Value"].replace(" ", "") == _show("shared_buffers")  # e.g. "128 MB"
    assert shared["Unit"] == "8kB"
    assert shared["Applies on"] == "restart"
    assert set(rows["Restart"]) <= {"", admin_settings.PENDING_MARK}
    assert any("important setting" in c.value for c in at.caption)


def test_all_settings_and_search(pg_database: str) -> None:
    """All settings on request; a search covers all of them, case-insensitively."""
    at = _settings_tab(pg_database)
    at.toggle(key="admin_settings_all").set_value(True).run()
    with server_connection() as c:
        total = c.execute("select count(*) from pg_settings").fetchone()
    assert total is not None and len(_rows(at)) == total[0]
    at.text_input(key="admin_settings_search").set_value("MEMORY").run()
    assert not at.exception
    found = _rows(at)
    assert "work_mem" in set(found["Setting"])  # found by its description and category
    assert len(found) < total[0]
    assert at.toggle(key="admin_settings_all").disabled  # a search always covers everything
    assert all(e.proto.expanded for e in at.expander)
    at.text_input(key="admin_settings_search").set_value("geqo").run()
    assert "geqo_threshold" in set(_rows(at)["Setting"])  # not on the short list
    at.session_state[TAB_KEY] = admin_tab("tusk.ui.admin.roles")
    at.run()
    at.session_state[TAB_KEY] = admin_tab("tusk.ui.admin.settings")
    at.run()
    assert at.text_input(key="admin_settings_search").value == "geqo"  # kept while away
    assert "geqo_threshold" in set(_rows(at)["Setting"])
    at.text_input(key="admin_settings_search").set_value("no such setting 🐘").run()
    assert "No setting matches" in at.info[0].value
    assert not [d for d in at.dataframe if "Setting" in d.value.columns]


def test_details_of_one_setting(pg_database: str) -> None:
    """Choosing a setting shows its value, description, default and allowed values."""
    at = _settings_tab(pg_database)
    at.selectbox(key="admin_settings_detail").set_value("wal_level").run()
    assert not at.exception
    assert any(m.value.startswith("**wal\\_level** =") for m in at.markdown)
    facts = at.dataframe[-1].value
    allowed = facts[facts[""] == "Allowed"]["Value"].iloc[0]
    assert "replica" in allowed and "logical" in allowed


def test_pending_restart_is_flagged() -> None:
    """A setting waiting for a restart carries the flag in its row (changing server settings
    on the shared test server is off limits, so the row is built from a Setting)."""
    waiting = settings.Setting(
        name="shared_buffers",
        setting="32768",
        unit="8kB",
        category="Resource Usage / Memory",
        short_desc="Sets the number of shared memory buffers used by the server.",
        extra_desc="",
        context="postmaster",
        vartype="integer",
        source="configuration file",
        boot_val="1024",
        reset_val="32768",
        enumvals=(),
        pending_restart=True,
    )
    row = admin_settings.table([waiting]).iloc[0]
    assert row["Restart"] == admin_settings.PENDING_MARK
    assert row["Value"] == "256 MB"
    assert row["Applies on"] == "restart"
