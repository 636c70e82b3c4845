"""A separate process that guesses vera's password several times at once, for the rate-limit
test: `python -m tests.security.guesses START_AT GUESSES` (TUSK_HOME from the environment).
It starts guessing at the wall-clock time START_AT, so all processes guess together, and
prints "<passwords checked> <attempts locked out>". Kept apart from the test module so the
child imports tusk.auth only, not Streamlit."""

from __future__ import annotations

import sys
import threading
import time


def main(start_at: float, guesses: int) -> None:
    """Guess `guesses` times in parallel threads from `start_at` on; print the outcome."""
    from tusk.auth import database, passwords, sessions
    from tusk.auth.sessions import verify_login
    from tusk.errors import BadInput

    passwords.BCRYPT_ROUNDS = 8  # slow enough that the guesses overlap
    database.engine()  # open auth.db before the start
    checks: list[int] = []
    real = passwords.matches

    def matches(password: bytes, hashed: str) -> bool:
        checks.append(1)
        return real(password, hashed)

    sessions.matches = matches  # type: ignore[assignment]
    outcomes: list[str] = []

    def guess() -> None:
        time.sleep(max(0.0, start_at - time.time()))
        try:
            verify_login("vera", "wrong-horse-battery-9")
            outcomes.append("checked")
        except BadInput:
            outcomes.append("locked")

    threads = [threading.Thread(target=guess) for _ in range(guesses)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    print(len(checks), outcomes.count("locked"))


if __name__ == "__main__":
    main(float(sys.argv[1]), int(sys.argv[2]))
