"""The page-run timing hook: one line per script run when TUSK_PAGE_TIMING names a file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.ui.conftest import STUDIO, open_app
from tusk.ui import timing


def test_each_run_appends_page_and_milliseconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Home's first run, a rerun and a switch to the Studio each write one line, in order."""
    out = tmp_path / "timing.tsv"
    monkeypatch.setenv(timing.ENV, str(out))
    at = open_app()
    at.run()
    at.switch_page(STUDIO).run()
    assert not at.exception
    rows = timing.read(out)
    assert [r[0] for r in rows] == ["Home", "Home", "Studio"], rows
    assert all(r[1] > 0 and r[2] == "done" for r in rows), rows


def test_a_run_ended_by_rerun_is_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that st.rerun() cuts short still writes its line, marked "rerun"."""
    out = tmp_path / "timing.tsv"
    monkeypatch.setenv(timing.ENV, str(out))
    script = tmp_path / "page.py"
    script.write_text(
        "import streamlit as st\n"
        "from tusk.ui import timing\n"
        "timing.start('Probe')\n"
        "st.session_state.n = st.session_state.get('n', 0) + 1\n"
        "if st.session_state.n == 1:\n"
        "    st.rerun()\n"
        "st.write(st.session_state.n)\n"
    )
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(script), default_timeout=30)
    at.run()
    assert [(r[0], r[2]) for r in timing.read(out)] == [("Probe", "rerun"), ("Probe", "done")]


def test_without_the_variable_nothing_is_written_or_imported(tmp_path: Path) -> None:
    """Unset, a page run imports no timing module (checked in a fresh interpreter)."""
    code = (
        "import sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        f"at = AppTest.from_file({str(REPO / 'app.py')!r}, default_timeout=60)\n"
        "at.run()\n"
        "assert not at.exception, at.exception\n"
        "print('tusk.ui.timing' in sys.modules)\n"
    )
    env = {"TUSK_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"
