"""Sign-in cost and the auth overhead of a signed-in page run, against single-user mode.

Measured without a browser, through Streamlit's AppTest (the same script runs a browser gets):

- bcrypt: one `sessions.verify_login` at the real cost (`BCRYPT_ROUNDS`), the bulk of a sign-in;
- sign-in: the login form submitted (one page run: password checked, session made, cookie set);
- a signed-in page run: Home and the Studio rerun for a signed-in Viewer, with the number of
  auth.db transactions each run opens (every `current_user()` / `allowed()` that reaches the
  database), against the same page rerun in single-user mode (no auth at all), the baseline.
  Signed-in and single-user runs alternate (the mode is switched between them), so machine
  load hits both alike.

Each figure is the median of --repeat runs after a warm-up, in a temporary TUSK_HOME.
It is a report, not a test: it always exits 0.

    python bench/auth.py --repeat 15
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery-9"


class Counter:
    """Counts transactions opened on auth.db (SQLAlchemy "begin" events on its engines)."""

    def __init__(self) -> None:
        self.begins = 0

    def attach(self) -> None:
        from sqlalchemy import event

        from tusk.auth import database

        try:  # the writer (BEGIN IMMEDIATE) and the reader (deferred BEGIN)
            engines = {database.engine(read=False), database.engine(read=True)}
        except TypeError:  # before reads had their own engine (to measure the old code)
            engines = {database.engine()}
        for engine in engines:
            event.listen(engine, "begin", self._on_begin)

    def _on_begin(self, _conn: Any) -> None:
        self.begins += 1


def _ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs per figure (median)")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="tusk-bench-auth-"))
    os.environ["TUSK_HOME"] = str(home)
    sys.path.insert(0, str(REPO))
    from streamlit.testing.v1 import AppTest

    from tusk import config
    from tusk.auth import passwords
    from tusk.auth.bootstrap import init
    from tusk.auth.sessions import verify_login
    from tusk.auth.users import create_user

    quiet = contextlib.redirect_stdout(io.StringIO())  # the cookie component prints
    quiet.__enter__()  # noqa: PLC2801 - left at the end of the measurements

    def app() -> AppTest:
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
        at.run()
        return at

    init(PASSWORD)
    create_user("vera", PASSWORD, groups=["Viewers"])
    counter = Counter()
    counter.attach()

    def mode(name: str) -> None:
        config.set_value("auth_mode", name)

    # --- bcrypt and sign-in ---------------------------------------------------------------------
    mode("multi")
    few = max(3, args.repeat // 3)
    bcrypt_s = []
    for _ in range(few + 1):
        start = time.perf_counter()
        assert verify_login("vera", PASSWORD) is not None
        bcrypt_s.append(time.perf_counter() - start)
    bcrypt_s = bcrypt_s[1:]  # the first also made the dummy hash for unknown names

    sign_in_s: list[float] = []
    sign_in_tx: list[int] = []
    for _ in range(few):
        at = app()
        at.text_input(key="tusk_login_username").set_value("vera")
        at.text_input(key="tusk_login_password").set_value(PASSWORD)
        before = counter.begins
        start = time.perf_counter()
        at.button[0].click().run()
        sign_in_s.append(time.perf_counter() - start)
        sign_in_tx.append(counter.begins - before)
        assert not at.exception and at.session_state["tusk_auth_token"], "sign-in failed"

    # --- signed-in page runs against single-user ones, alternating ------------------------------
    mode("single")
    single = app()

    def rerun_pair(page: str) -> tuple[list[float], list[float], list[int]]:
        mode("single")
        single.switch_page(page).run()
        mode("multi")
        at.switch_page(page).run()  # warm-ups
        multi_s, single_s, txs = [], [], []
        for _ in range(args.repeat):
            mode("single")
            start = time.perf_counter()
            single.run()
            single_s.append(time.perf_counter() - start)
            mode("multi")
            before = counter.begins
            start = time.perf_counter()
            at.run()
            multi_s.append(time.perf_counter() - start)
            txs.append(counter.begins - before)
            assert not at.exception and not single.exception
        return multi_s, single_s, txs

    rows: list[tuple[str, list[float], list[float], list[int]]] = []
    for label, page in (("Home rerun", "app.py"), ("Studio rerun", "pages/1_Studio.py")):
        rows.append((label, *rerun_pair(page)))
    quiet.__exit__(None, None, None)

    print(f"auth bench · {args.repeat} runs per figure · TUSK_HOME {home}")
    print(f"bcrypt verify_login ({passwords.BCRYPT_ROUNDS} rounds)   {_ms(bcrypt_s):8.1f} ms")
    print(
        f"sign-in run (form submitted)         {_ms(sign_in_s):8.1f} ms"
        f"   {statistics.median(sign_in_tx):.0f} auth.db transactions"
    )
    for label, multi_s, single_s, txs in rows:
        ratio = statistics.median(multi_s) / statistics.median(single_s)
        print(
            f"{label:<13} signed in {_ms(multi_s):7.1f} ms · single-user (baseline) "
            f"{_ms(single_s):7.1f} ms · ratio {ratio:4.2f}× · "
            f"{statistics.median(txs):.0f} auth.db transactions"
        )


if __name__ == "__main__":
    main()
