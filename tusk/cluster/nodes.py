"""Ray nodes as child processes: `ray start --block`, each in its own session, stopped as a group.

`ray start --block` spawns the GCS, raylet, dashboard, agents and Python workers; a plain
SIGTERM to the `ray start` process leaves orphaned agents behind (FACTS.md), so each node runs
in a new session and stopping it signals every process of that session.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from tusk.cluster.client import stop_warm
from tusk.cluster.processes import session_pids, signal_session
from tusk.errors import BadInput, ConnectionFailed, TuskError

if TYPE_CHECKING:
    from tusk.auth.schema import User

DEFAULT_PORT = 8814
DEFAULT_DASHBOARD_PORT = 8265
STOP_GRACE_S = 5.0
HEAD_GRACE_S = 3.0
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str | int) -> int:
    """Bytes from `4G`, `512MB`, `1.5GiB` or a plain number of bytes."""
    if isinstance(text, int):
        return text
    match = _SIZE.match(text)
    if not match:
        raise BadInput(f"{text!r} is not a size: use bytes or a number with K, M, G or T.")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free right now on `host` (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def ray_executable() -> str:
    """The `ray` launcher next to this Python, else on PATH."""
    beside = Path(sys.executable).parent / "ray"
    if beside.exists():
        return str(beside)
    found = shutil.which("ray")
    if found is None:
        raise TuskError(
            "Ray is not installed: install Tusk's cluster extra (pip install 'tusk[cluster]').",
            "Cluster extra missing",
        )
    return found


def node_env() -> dict[str, str]:
    """The environment for Ray processes: usage statistics off."""
    env = dict(os.environ)
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    return env


def head_command(
    *,
    host: str = "0.0.0.0",
    port: int = DEFAULT_PORT,
    dashboard_host: str = "127.0.0.1",
    dashboard_port: int = DEFAULT_DASHBOARD_PORT,
    cpus: int | None = None,
    memory: int | None = None,
    agent_port: int | None = None,
    client_server_port: int | None = None,
) -> list[str]:
    """The `ray start --head --block` command line for a head node."""
    cmd = [
        ray_executable(),
        "start",
        "--head",
        "--block",
        "--disable-usage-stats",
        "--port",
        str(port),
        "--dashboard-host",
        dashboard_host,
        "--dashboard-port",
        str(dashboard_port),
    ]
    if host not in ("0.0.0.0", ""):
        # Ray listens on all interfaces; this is the address it advertises to other nodes.
        cmd += ["--node-ip-address", host]
    return cmd + _common(cpus, memory, agent_port, client_server_port)


def worker_command(
    address: str,
    *,
    host: str | None = None,
    port: int | None = None,
    cpus: int | None = None,
    memory: int | None = None,
    agent_port: int | None = None,
) -> list[str]:
    """The `ray start --address … --block` command line for a worker node."""
    cmd = [ray_executable(), "start", "--address", address, "--block", "--disable-usage-stats"]
    if host:
        cmd += ["--node-ip-address", host]
    if port:
        cmd += ["--node-manager-port", str(port)]
    return cmd + _common(cpus, memory, agent_port, None)


def _common(
    cpus: int | None, memory: int | None, agent_port: int | None, client_port: int | None
) -> list[str]:
    """Options shared by heads and workers."""
    cmd: list[str] = []
    if cpus is not None:
        cmd += ["--num-cpus", str(cpus)]
    if memory is not None:
        cmd += ["--memory", str(memory)]  # hidden in Ray 2.59's help, still accepted
    # Every node runs an agent on 52365 by default: two nodes on one host would clash.
    cmd += ["--dashboard-agent-listen-port", str(agent_port or free_port())]
    if client_port is not None:
        cmd += ["--ray-client-server-port", str(client_port)]
    return cmd


@dataclass
class NodeProcess:
    """One `ray start --block` process and everything it spawned (its session)."""

    role: str
    cmd: list[str]
    popen: subprocess.Popen[bytes]
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        """The `ray start` process id (also the session and process-group id)."""
        return self.popen.pid

    def running(self) -> bool:
        """True while the `ray start` process has not exited."""
        return self.popen.poll() is None

    def pids(self) -> list[int]:
        """Live processes of this node's session (the launcher and every Ray process)."""
        return session_pids(self.pid)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the node's log file, for error messages."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def terminate(self) -> None:
        """SIGTERM every process of the node's session (returns at once)."""
        signal_session(self.pid, signal.SIGTERM)

    def finish(self, deadline: float) -> None:
        """Wait for the session to end until `deadline` (monotonic), then SIGKILL the rest."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        while session_pids(self.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        signal_session(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL cannot be ignored
            self.popen.wait(timeout=5)
        end = time.monotonic() + 5
        while session_pids(self.pid) and time.monotonic() < end:
            time.sleep(0.05)

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM the whole session, then SIGKILL whatever is left after `grace_s`."""
        self.terminate()
        self.finish(time.monotonic() + grace_s)


def _stop_together(nodes: list[NodeProcess], grace_s: float) -> None:
    """SIGTERM every node at once, then wait for (or kill) each until one shared deadline."""
    deadline = time.monotonic() + grace_s
    for node in nodes:
        node.terminate()
    for node in nodes:
        node.finish(deadline)


def start_node(role: str, cmd: list[str], log_path: Path | None = None) -> NodeProcess:
    """Launch `cmd` in a new session; output goes to `log_path` (or this terminal)."""
    out: IO[bytes] | None = None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        out = log_path.open("ab")
    try:
        popen = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT if out is not None else None,
            env=node_env(),
            start_new_session=True,
        )
    finally:
        if out is not None:
            out.close()  # the child keeps its own descriptor
    return NodeProcess(role, cmd, popen, log_path)


# --- the head's dashboard API ------------------------------------------------------------------


@dataclass(frozen=True)
class NodeInfo:
    """One node as the dashboard reports it."""

    node_id: str
    ip: str
    state: str
    is_head: bool
    cpus: float = 0.0
    memory_bytes: float = 0.0
    object_store_bytes: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def get_json(url: str, timeout: float = 5.0) -> Any:
    """GET a JSON document; any network trouble is a ConnectionFailed."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http only
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ConnectionFailed(f"The Ray dashboard at {url} did not answer: {exc}") from None


def list_nodes(dashboard_url: str, timeout: float = 5.0) -> list[NodeInfo]:
    """The cluster's nodes from the dashboard's state API (`/api/v0/nodes`)."""
    doc = get_json(f"{dashboard_url.rstrip('/')}/api/v0/nodes?limit=1000", timeout)
    rows = ((doc or {}).get("data") or {}).get("result", {}).get("result", [])
    nodes = []
    for row in rows:
        resources = row.get("resources_total") or {}
        nodes.append(
            NodeInfo(
                node_id=row.get("node_id", ""),
                ip=row.get("node_ip", ""),
                state=row.get("state", ""),
                is_head=bool(row.get("is_head_node")),
                cpus=float(resources.get("CPU", 0)),
                memory_bytes=float(resources.get("memory", 0)),
                object_store_bytes=float(resources.get("object_store_memory", 0)),
                extra=row,
            )
        )
    return nodes


def wait_alive(
    dashboard_url: str,
    count: int,
    timeout: float = 90.0,
    watch: list[NodeProcess] | None = None,
) -> list[NodeInfo]:
    """Poll the dashboard until `count` nodes are ALIVE; fail early if a watched node exits."""
    deadline = time.monotonic() + timeout
    last: str = "no answer yet"
    while time.monotonic() < deadline:
        for node in watch or []:
            if not node.running():
                tail = node.log_tail()
                raise TuskError(
                    f"The Ray {node.role} exited with code {node.popen.returncode}.\n{tail}",
                    "Ray node failed",
                )
        try:
            nodes = list_nodes(dashboard_url, timeout=2)
            alive = [n for n in nodes if n.state == "ALIVE"]
            if len(alive) >= count:
                return alive
            last = f"{len(alive)} of {count} nodes alive"
        except ConnectionFailed as exc:
            last = exc.message
        time.sleep(0.5)
    raise TuskError(
        f"The cluster was not ready after {timeout:.0f} s ({last}).", "Cluster not ready"
    )


# --- a whole cluster on this machine -----------------------------------------------------------


class LocalCluster:
    """A head and `workers` worker nodes on this machine, stopped together.

    Ports default to free ones so that several clusters (and tests) can share a host;
    the dashboard binds to 127.0.0.1 unless `dashboard_host` says otherwise.
    """

    def __init__(
        self,
        workers: int = 2,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        dashboard_host: str = "127.0.0.1",
        dashboard_port: int | None = None,
        head_cpus: int | None = 1,
        worker_cpus: int | None = 1,
        worker_memory: int | None = None,
        log_dir: Path | None = None,
        ready_timeout: float = 120.0,
    ) -> None:
        if workers < 0:
            raise BadInput("The number of workers cannot be negative.")
        self.workers = workers
        self.host = host
        self.port = port or free_port()
        self.dashboard_host = dashboard_host
        self.dashboard_port = dashboard_port or free_port()
        self.head_cpus = head_cpus
        self.worker_cpus = worker_cpus
        self.worker_memory = worker_memory
        self._own_log_dir = log_dir is None
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="tusk-cluster-"))
        self.ready_timeout = ready_timeout
        self.nodes: list[NodeProcess] = []
        self.startup_s: float | None = None

    @property
    def address(self) -> str:
        """The head's GCS address (`HOST:PORT`) that workers and clients connect to."""
        return f"{self.host}:{self.port}"

    @property
    def dashboard_url(self) -> str:
        """The Ray dashboard's URL."""
        shown = "127.0.0.1" if self.dashboard_host in ("0.0.0.0", "") else self.dashboard_host
        return f"http://{shown}:{self.dashboard_port}"

    def start(self) -> LocalCluster:
        """Start the head, then the workers, and wait until every node is ALIVE."""
        began = time.monotonic()
        try:
            head = head_command(
                port=self.port,
                dashboard_host=self.dashboard_host,
                dashboard_port=self.dashboard_port,
                cpus=self.head_cpus,
                client_server_port=free_port(),
            )
            self.nodes.append(start_node("head", head, self.log_dir / "head.log"))
            # Workers register with the GCS: wait for the head before starting them.
            wait_alive(self.dashboard_url, 1, self.ready_timeout, watch=self.nodes)
            for number in range(1, self.workers + 1):
                cmd = worker_command(self.address, cpus=self.worker_cpus, memory=self.worker_memory)
                log = self.log_dir / f"worker-{number}.log"
                self.nodes.append(start_node(f"worker {number}", cmd, log))
                # One at a time: raylets starting together on one host pick the same log and
                # socket names in the shared session folder and one of them never registers.
                wait_alive(self.dashboard_url, 1 + number, self.ready_timeout, watch=self.nodes)
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - began
        return self

    def pids(self) -> list[int]:
        """Every live process of every node."""
        return [pid for node in self.nodes for pid in node.pids()]

    def list_nodes(self) -> list[NodeInfo]:
        """The nodes as the head's dashboard reports them."""
        return list_nodes(self.dashboard_url)

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop the workers together, then the head; leaves no process of this cluster behind."""
        stop_warm()  # idle query processes connected to this head would only wait to die
        workers = [node for node in self.nodes if node.role != "head"]
        heads = [node for node in self.nodes if node.role == "head"]
        # Workers first, all at once: a raylet drains in ~2 s while the GCS still answers;
        # with the GCS gone first it waits out its own timeouts.
        _stop_together(workers, grace_s)
        # The head's GCS server and autoscaler monitor ignore SIGTERM for 15 s and more here;
        # they hold no durable state once the workers are gone, so they get a short grace.
        _stop_together(heads, min(grace_s, HEAD_GRACE_S))
        self.nodes.clear()
        if self._own_log_dir:  # a temporary folder of ours; the error message kept the tail
            shutil.rmtree(self.log_dir, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_local_cluster(workers: int, *, actor: User | None, **options: Any) -> LocalCluster:
    """Start a LocalCluster for a user who holds cluster.manage (the page's entry point)."""
    from tusk import auth

    auth.require(actor, "cluster.manage")
    return LocalCluster(workers, **options).start()
