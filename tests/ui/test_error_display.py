"""Errors are shown as written: a name like `**x**` or `[a](b)` in a message is text, never
Markdown (every page shows errors through tusk.ui.error_display's one escaping helper)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.ui.conftest import STUDIO, open_app, open_page, settle, sign_in, studio_side
from tusk import connections
from tusk.engines.spec import ConnectionSpec
from tusk.store import saved
from tusk.ui.editor import editor_key
from tusk.ui.error_display import error_markdown, md_escape

MARKUP = "**x** [a](b)"  # bold and a link, if rendered as Markdown
SHOWN = r"\*\*x\*\* \[a\]\(b\)"  # the same text, escaped: Markdown shows it literally


def test_md_escape_keeps_every_special_character_literal() -> None:
    """Each Markdown special character gets a backslash; plain text stays as it is."""
    assert md_escape(MARKUP) == SHOWN
    assert md_escape("order_items") == r"order\_items"
    assert md_escape(r"a\b `c` <d> #e $f$ ~g~ |h| !i 1. -j +k {l}:m") == (
        r"a\\b \`c\` \<d\> \#e \$f\$ \~g\~ \|h\| \!i 1\. \-j \+k \{l\}\:m"
    )
    assert md_escape("plain words 42") == "plain words 42"


def test_error_markdown_bolds_the_title_and_escapes_both() -> None:
    """The title is bold, title and message are escaped, line breaks are kept."""
    assert error_markdown("Name taken", f"A query called {MARKUP}") == (
        rf"**Name taken** — A query called {SHOWN}"
    )
    assert error_markdown("*t*", "line 1\n[a](b)") == r"**\*t\*** — line 1  " + "\n" + r"\[a\]\(b\)"


def _errors(at: AppTest) -> list[str]:
    assert not at.exception
    return [e.value for e in at.error]


def _shown_literally(at: AppTest) -> None:
    errors = _errors(at)
    assert any(SHOWN in e for e in errors), errors
    assert not any(MARKUP in e for e in errors), errors


def _submit(at: AppTest, sql: str, kind: str = "submit") -> None:
    """What the editor sends on Ctrl+Enter (or Ctrl+S with kind="save")."""
    tab = next(
        t for t in at.session_state["studio_tabs"] if t.id == at.session_state["studio_active_tab"]
    )
    at.session_state[editor_key(tab.id, tab.editor_version)] = {
        "id": f"ev-{kind}-{len(sql)}",
        "type": kind,
        "lang": "sql",
        "text": sql,
        "selected": "",
        "cursor": {"row": 0, "column": 0},
    }
    settle(at.run())


def test_studio_query_error_names_a_table_literally() -> None:
    """A failed run quoting the table `**x** [a](b)` shows the name, not bold text and a link."""
    at = open_page(STUDIO)
    _submit(at, f'select * from "{MARKUP}"')
    _shown_literally(at)


def test_studio_save_dialog_name_taken_is_literal() -> None:
    """Saving under a taken name `**x** [a](b)`: the error quotes the name as typed."""
    saved.save_query(MARKUP, "select 1")
    at = open_page(STUDIO)
    _submit(at, "select 2", kind="save")
    at.text_input(key="save_name").set_value(MARKUP).run()
    at.button(key="save_go").click().run()
    _shown_literally(at)


def test_studio_saved_panel_rename_error_is_literal() -> None:
    """Renaming a saved query to a taken name in the Saved panel: the same, literally."""
    saved.save_query(MARKUP, "select 1")
    other = saved.save_query("other", "select 2")
    at = studio_side(open_page(STUDIO), "Saved")
    at.text_input(key=f"saved_rename_{other.id}").set_value(MARKUP)
    at.button(key=f"saved_rename_go_{other.id}").click().run()
    _shown_literally(at)


def test_connection_form_test_failure_is_literal(tmp_path: Path) -> None:
    """Testing a SQLite file in a missing folder `**x** [a](b)`: the path is shown as text."""
    at = open_page(STUDIO)
    at.button(key="studio_conn_add").click().run()
    at.selectbox(key="connform_engine").set_value("sqlite").run()
    at.text_input(key="connform_name").set_value("local")
    at.text_input(key="connform_path").set_value(str(tmp_path / MARKUP / "db.sqlite")).run()
    at.button(key="connform_test").click().run()
    _shown_literally(at)


def test_home_connection_test_failure_is_literal(tmp_path: Path) -> None:
    """Home's Test button on a saved connection whose folder `**x** [a](b)` is gone."""
    folder = tmp_path / MARKUP
    folder.mkdir()
    connections.add(ConnectionSpec("gone", "sqlite", path=str(folder / "db.sqlite")))
    folder.rmdir()
    at = open_app()
    at.button(key="test_gone").click().run()
    _shown_literally(at)


def test_profile_bad_email_is_literal(multi_user: Callable[..., None]) -> None:
    """The Profile page's refusal of the e-mail `**x** [a](b)` quotes it as typed."""
    multi_user({"ana": "Analysts"})
    at = sign_in(open_app(), "ana")
    at.switch_page("pages/7_Profile.py").run()
    at.text_input(key="profile_email").set_value(MARKUP)
    at.button[0].click().run()  # the details form's Save
    _shown_literally(at)
