"""N people on one `tusk studio` at once, in real browsers, against ONE person alone.

The scenario of tests/security/test_concurrency.py (imported from there, not copied): a
multi-user server on a temporary TUSK_HOME, users made beforehand at the real bcrypt cost,
each session in its own context of one headless chromium: open the Studio, sign in, run
`select '<user>' as who` with Ctrl+Enter, save it with Ctrl+S, and (Data Engineers) add a
PostgreSQL connection. Reported, for the N sessions at once and for one session alone in the
same run (after a warm-up session that pays the server's first page runs):

- page open → signed in (the Studio's editor shown), and the Sign in click → signed in;
- Ctrl+Enter → the result row visible;
- median / p90 / max, and the ratio of the medians (N at once / one alone);
- where the CPU went while the N sessions ran (CPU-seconds of the server process, the engine
  worker processes, chromium, Playwright's driver, everything else on the machine);
- bcrypt's cost per password check, and the auth.db transactions per page run from
  bench/auth.py (run as it is, with --repeat 3); `--no-auth-bench` skips it.

With `--profile FILE` py-spy records the server's GIL-holding thread while the N sessions run
(raw collapsed stacks into FILE) and the report prints the functions that held it most.

It is a report, not a test: it always exits 0. Needs PostgreSQL (scripts/pg-up) for the
connections the Data Engineers add.

    python bench/sessions.py --sessions 20
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY_SPY = Path(sys.executable).with_name("py-spy")
TICKS = os.sysconf("SC_CLK_TCK")


# --- CPU per kind of process, from /proc -------------------------------------------------------


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, CPU ticks used: user + system) of a process, None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[11]) + int(fields[12])


def _command(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def _kind(pid: int, parents: dict[int, int], server: int, me: int) -> str:
    """Which part of the run a process is: the server and its children (engine workers), this
    script's browser (chromium, Playwright's driver), or the rest of the machine (other
    people's work on a shared box)."""
    if pid == server:
        return "server (Streamlit)"
    if pid == me:
        return "this script"
    ancestor, seen = parents.get(pid), set()
    while ancestor and ancestor not in seen and ancestor not in (server, me):
        seen.add(ancestor)
        ancestor = parents.get(ancestor)
    if ancestor == server:
        return "engine workers (server's children)"
    if ancestor == me:
        command = _command(pid)
        if "chromium" not in command:
            return "playwright driver"
        kind = next((a[7:] for a in command.split() if a.startswith("--type=")), "browser")
        return f"chromium {kind}"  # renderer: pages' JS, style, layout; gpu-process: raster
    return "other (rest of the machine)"


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class CpuMeter:
    """Samples every process's CPU time once a second; CPU-seconds per kind over a phase."""

    def __init__(self, server: int) -> None:
        self.server = server
        self.first: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.kinds: dict[int, str] = {}
        self._started: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> None:
        stats = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
                stats[int(entry.name)] = stat
        parents = {pid: parent for pid, (parent, _) in stats.items()}
        for pid, (_, ticks) in stats.items():
            # Classified again each time: a renderer forked from chromium's zygote shows the
            # zygote's command line until it names itself.
            self.kinds[pid] = _kind(pid, parents, self.server, os.getpid())
            if pid not in self.first:
                # A process born during the phase counts from zero.
                self.first[pid] = ticks if self._started is None else 0
            self.last[pid] = ticks

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            self._sample()

    @contextmanager
    def phase(self) -> Iterator[None]:
        """Measure while the block runs."""
        self._sample()
        self._started = time.monotonic()
        self.busy0, self.total0 = _machine_ticks()
        self._thread.start()
        try:
            yield
        finally:
            self._stop.set()
            self._thread.join()
            self._sample()
            self.busy1, self.total1 = _machine_ticks()
            self.wall = time.monotonic() - self._started

    def by_kind(self) -> dict[str, float]:
        """CPU-seconds per kind during the phase."""
        out: collections.Counter[str] = collections.Counter()
        for pid, kind in self.kinds.items():
            out[kind] += (self.last[pid] - self.first[pid]) / TICKS
        return dict(out)

    def busy_share(self) -> float:
        """How busy all CPUs were during the phase (0..1)."""
        return (self.busy1 - self.busy0) / max(1, self.total1 - self.total0)


# --- py-spy -----------------------------------------------------------------------------------


def profile_top(raw: Path, limit: int = 18) -> list[tuple[float, str]]:
    """Share of the GIL-holding samples in which each function was on the stack."""
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        for frame in set(stack.split(";")):
            name = frame.split(" (")[0]
            where = frame.split(" (")[1].rstrip(")") if " (" in frame else ""
            # Keep the module path short: from site-packages/ or the repo on.
            for cut in ("site-packages/", str(REPO) + "/"):
                if cut in where:
                    where = where.split(cut, 1)[1]
            inclusive[f"{name} ({where.split(':')[0]})"] += n
    return [(n / max(1, total), f) for f, n in inclusive.most_common(limit)]


# --- report -----------------------------------------------------------------------------------


def _row(label: str, values: list[float], summary) -> str:  # noqa: ANN001 - the test's summary
    if not values:
        return f"{label:<34} —"
    med, p90, top = summary(values)
    return f"{label:<34} median {med:7.1f} s · p90 {p90:7.1f} s · max {top:7.1f} s"


def _values(outcomes: list, attr: str) -> list[float]:
    """One timing of every session that got that far."""
    return [getattr(o, attr) for o in outcomes if getattr(o, attr) is not None]


def _bcrypt_ms(repeat: int = 5) -> float:
    import bcrypt

    from tusk.auth import passwords

    hashed = bcrypt.hashpw(b"x" * 44, bcrypt.gensalt(passwords.BCRYPT_ROUNDS))
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        bcrypt.checkpw(b"x" * 44, hashed)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def _auth_bench() -> list[str]:
    """bench/auth.py's lines that count auth.db transactions per run (it measures one
    signed-in session through AppTest)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("TUSK_HOME", None)  # it makes its own
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "auth.py"), "--repeat", "3"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if "transactions" in line]
    return lines or [f"bench/auth.py failed: {done.stderr.strip().splitlines()[-1:]}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20, help="sessions at once (N)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds for the N sessions")
    parser.add_argument("--profile", type=Path, help="py-spy raw output for the N-session phase")
    parser.add_argument("--no-auth-bench", action="store_true", help="skip bench/auth.py")
    args = parser.parse_args()
    if args.profile is not None and not PY_SPY.exists():
        parser.error(f"--profile needs py-spy beside this Python ({PY_SPY}): pip install py-spy")

    root = Path(tempfile.mkdtemp(prefix="tusk-bench-sessions-"))
    home = root / "tusk-home"
    os.environ["TUSK_HOME"] = str(home)
    sys.path.insert(0, str(REPO))
    from tests.security.test_concurrency import (
        create_users,
        members,
        run_sessions,
        serving,
        summary,
    )

    warm_up = members(1, prefix="warmup")
    solo = members(2, prefix="solo")[1:]  # a Data Engineer: every step of the scenario
    crowd = members(args.sessions)
    load = os.getloadavg()[0]
    bcrypt_ms = _bcrypt_ms()
    start = time.monotonic()
    create_users(warm_up + solo + crowd)
    made_s = time.monotonic() - start

    profile = None
    with serving(home) as (url, server_pid):
        run_sessions(url, warm_up, args.timeout)
        solo_meter = CpuMeter(server_pid)
        with solo_meter.phase():
            alone = run_sessions(url, solo, args.timeout)
        meter = CpuMeter(server_pid)
        if args.profile is not None:
            profile = subprocess.Popen(
                [str(PY_SPY), "record", "--pid", str(server_pid), "--gil", "--rate", "50"]
                + ["--format", "raw", "--output", str(args.profile), "--nonblocking"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        with meter.phase():
            together = run_sessions(url, crowd, args.timeout)
        if profile is not None:
            profile.send_signal(2)  # SIGINT: py-spy writes its output and exits
            profile.wait(timeout=60)
    auth_lines = [] if args.no_auth_bench else _auth_bench()

    done = [o for o in together if o.done]
    print(
        f"sessions bench · {args.sessions} sessions at once vs 1 alone · one server, one "
        f"chromium · {os.cpu_count()} CPUs · load average {load:.1f} at start · TUSK_HOME {home}"
    )
    print(f"users made in {made_s:.1f} s (bcrypt {len(warm_up + solo + crowd)} hashes)")
    print()
    for label, outcomes in ((f"{args.sessions} at once", together), ("1 alone (baseline)", alone)):
        finished = sum(o.done for o in outcomes)
        print(f"{label}: {finished} of {len(outcomes)} finished every step")
        print(_row("  page open → signed in", _values(outcomes, "signed_in_s"), summary))
        print(_row("  Sign in click → signed in", _values(outcomes, "sign_in_click_s"), summary))
        print(_row("  Ctrl+Enter → result row visible", _values(outcomes, "query_s"), summary))
        print(_row("  Ctrl+S → saved", _values(outcomes, "save_s"), summary))
        print(_row("  Add → connection in use", _values(outcomes, "connection_s"), summary))
        for o in outcomes:
            if not o.done:
                print(f"    {o.member.username} after {o.steps}: {o.error}")
        retyped = [o.member.username for o in outcomes if o.retyped]
        if retyped:
            print(f"  the save dialog reset the typed name (typed again): {', '.join(retyped)}")
    print()
    for label, attr in (("sign-in", "signed_in_s"), ("query", "query_s")):
        many, one = _values(together, attr), _values(alone, attr)
        if many and one:
            ratio = statistics.median(many) / statistics.median(one)
            print(f"ratio {label:<8} median of {args.sessions} at once / one alone: {ratio:5.1f}×")
    print(f"all {args.sessions} sessions, first page open → last step done: {meter.wall:.1f} s")
    print()
    print(
        f"CPU-seconds while the sessions ran (all CPUs {meter.busy_share():.0%} busy during the "
        f"{args.sessions}, {meter.wall * (os.cpu_count() or 1):.0f} CPU-s available in "
        f"{meter.wall:.0f} s)"
    )
    crowd_cpu, solo_cpu = meter.by_kind(), solo_meter.by_kind()
    print(f"  {'':<36} {args.sessions:>3} at once   per session · 1 alone")
    for kind in sorted(crowd_cpu, key=lambda k: -crowd_cpu[k]):
        if crowd_cpu[kind] >= 0.5:
            print(
                f"  {kind:<36} {crowd_cpu[kind]:8.1f} {crowd_cpu[kind] / args.sessions:10.1f}"
                f" {solo_cpu.get(kind, 0.0):11.1f}"
            )
    print()
    print(
        f"bcrypt per password check ({_rounds()} rounds, idle before the run): {bcrypt_ms:.0f} ms"
    )
    print(
        f"  {args.sessions} sign-ins → {args.sessions} checks → "
        f"{args.sessions * bcrypt_ms / 1000:.1f} CPU-s"
    )
    for line in auth_lines:
        print(f"bench/auth.py: {line}")
    if profile is not None and args.profile.exists():
        print()
        print(f"py-spy, server thread holding the GIL during the {args.sessions} sessions")
        print(f"(share of samples with the function on the stack; raw stacks in {args.profile}):")
        for share, name in profile_top(args.profile):
            print(f"  {share:6.1%}  {name}")
    if len(done) < len(together):
        print()
        print(f"{len(together) - len(done)} sessions did not finish: see above")


def _rounds() -> int:
    from tusk.auth import passwords

    return passwords.BCRYPT_ROUNDS


if __name__ == "__main__":
    main()
