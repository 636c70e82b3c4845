"""The shared confirmation dialog on its own: the typed name holds the action back, a refused
action keeps the dialog open with the error, a vanished object closes it, Keep it does nothing."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _script() -> None:
    """A page with one dialog; session flags make the object vanish or the action fail."""
    import streamlit as st

    from tusk.errors import BadInput
    from tusk.ui.confirm import confirm_dialog

    if st.button("Drop t…", key="ask"):
        st.session_state["pending"] = True
    if not st.session_state.get("pending"):
        return

    def content() -> bool:
        if st.session_state.get("gone"):
            raise BadInput("Table t is gone.", "Table not found")
        st.markdown("Drop table **t**?")
        return st.text_input("Type t to confirm", key="typed") == "t"

    def drop() -> None:
        if st.session_state.get("fail"):
            raise BadInput("t is in use.", "Table not dropped")
        st.session_state["dropped"] = True

    confirm_dialog(
        "Drop table",
        content,
        action="Drop",
        icon=":material/delete:",
        on_confirm=drop,
        close=lambda: st.session_state.pop("pending", None),
        keys=("go", "keep"),
    )


def _asked(**flags: bool) -> AppTest:
    at = AppTest.from_function(_script, default_timeout=30)
    at.run()
    for name, value in flags.items():
        at.session_state[name] = value
    at.button(key="ask").click().run()
    assert not at.exception
    return at


def test_typed_name_then_confirm() -> None:
    """The action waits for the exact name, runs, and the dialog closes."""
    at = _asked()
    assert at.button(key="go").disabled
    at.text_input(key="typed").set_value("T").run()
    assert at.button(key="go").disabled
    at.text_input(key="typed").set_value("t").run()
    at.button(key="go").click().run()
    assert at.session_state["dropped"]
    assert "pending" not in at.session_state
    assert not [b for b in at.button if b.key == "go"]


def test_refused_action_keeps_the_dialog_open() -> None:
    """A TuskError from the action is shown in the dialog, which stays open."""
    at = _asked(fail=True)
    at.text_input(key="typed").set_value("t").run()
    at.button(key="go").click().run()
    assert not at.exception
    assert "t is in use" in at.error[0].value
    assert at.session_state["pending"]
    assert at.button(key="go")
    assert "dropped" not in at.session_state


def test_vanished_object_closes_with_the_error() -> None:
    """A TuskError from the body: the error, no buttons, the flag cleared."""
    at = _asked(gone=True)
    assert "Table t is gone" in at.error[0].value
    assert not [b for b in at.button if b.key in ("go", "keep")]
    assert "pending" not in at.session_state


def test_keep_it_does_nothing() -> None:
    """Keep it closes the dialog without running the action."""
    at = _asked()
    at.button(key="keep").click().run()
    assert "pending" not in at.session_state
    assert "dropped" not in at.session_state
    assert not [b for b in at.button if b.key == "go"]
