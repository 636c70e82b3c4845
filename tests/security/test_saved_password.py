"""Issue 13, case 5: a saved password goes only where it was saved for. A user who may edit a
connection points it at another host, port, user or libpq option and presses Test (or waits
for the admin to open it): a fake server there must never receive the password."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from typing import Any

import pytest

from tests.conftest import PG_PASSWORD, pg_spec
from tusk import connections
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput, PermissionDenied

pytestmark = pytest.mark.postgres


class FakeServer:
    """A PostgreSQL look-alike on a free port: asks for a cleartext password, keeps it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            with client, contextlib.suppress(OSError, struct.error):
                self._talk(client)

    def _talk(self, client: socket.socket) -> None:
        client.settimeout(5)
        (length,) = struct.unpack("!i", client.recv(4))
        body = client.recv(length - 4)
        if struct.unpack("!i", body[:4])[0] == 80877103:  # SSLRequest: no SSL here
            client.sendall(b"N")
            (length,) = struct.unpack("!i", client.recv(4))
            client.recv(length - 4)  # the startup message
        client.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
        kind = client.recv(1)
        if kind == b"p":
            (length,) = struct.unpack("!i", client.recv(4))
            self.received.append(client.recv(length - 4).rstrip(b"\x00"))

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def fake() -> Any:
    server = FakeServer()
    yield server
    server.close()


def test_an_edited_target_needs_the_password_again(
    users: dict[str, Any], pg_database: str, fake: FakeServer
) -> None:
    saved = connections.add(pg_spec(pg_database, "prod"), actor=users["admin"])
    engineer = users["engineer"]  # holds connections.edit
    form = saved.with_changes(password=None)  # the form leaves the password field empty
    moved = [
        form.with_changes(port=fake.port),
        form.with_changes(host="localhost", port=fake.port),
        form.with_changes(user="someone"),
        form.with_changes(options={"hostaddr": "127.0.0.1", "port": str(fake.port)}),
        form.with_changes(options={"sslmode": "disable"}),
    ]
    for edited in moved:
        with pytest.raises(BadInput, match="type the password again"):
            connections.test_edit("prod", edited, actor=engineer)
        with pytest.raises(BadInput, match="type the password again"):
            connections.update("prod", edited, actor=engineer)
    # The saved connection is unchanged: the admin's next open goes where it always went.
    stored = connections.get("prod")
    assert (stored.host, stored.port, stored.user) == (saved.host, saved.port, saved.user)
    assert stored.password == PG_PASSWORD
    assert fake.received == []
    # With a password typed, the edit is the editor's own credential: that one may go there.
    typed = form.with_changes(port=fake.port, password="my-own-password-1")
    assert not connections.test_edit("prod", typed, actor=engineer).ok
    assert fake.received == [b"my-own-password-1"]
    # Unchanged target (a rename, another database): the saved password keeps working.
    outcome = connections.test_edit("prod", form.with_changes(name="prod2"), actor=engineer)
    assert outcome.ok, outcome.message


def test_only_settings_admins_name_a_server_environment_variable(users: dict[str, Any]) -> None:
    """password_env names any variable of the server's environment (a cloud key, a token):
    with a host of the user's choosing it would leak it."""
    spec = ConnectionSpec(
        "leak", "postgres", host="127.0.0.1", port=1, user="u", password_env="AWS_SECRET_ACCESS_KEY"
    )
    with pytest.raises(PermissionDenied, match="system.settings"):
        connections.add(spec, actor=users["engineer"])
    connections.add(spec, actor=users["admin"])
    with pytest.raises(PermissionDenied, match="system.settings"):
        connections.update("leak", spec.with_changes(host="10.0.0.1"), actor=users["engineer"])
