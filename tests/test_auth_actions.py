"""Library actions ask `allowed` themselves: the UI guard is not the only wall."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from tests.conftest import ADMIN_PASSWORD, PASSWORD
from tusk import auth, config, connections, export, profile, queries, snapshots
from tusk.auth import passwords
from tusk.auth.bootstrap import init
from tusk.auth.groups import create_group, set_group_permissions
from tusk.auth.users import create_user, get_user, set_password
from tusk.engines.registry import connect
from tusk.engines.spec import ConnectionSpec
from tusk.errors import PermissionDenied
from tusk.store import saved


@pytest.fixture(autouse=True)
def multi(monkeypatch: pytest.MonkeyPatch) -> None:
    """Multi-user mode with one user per default group."""
    monkeypatch.setattr(passwords, "BCRYPT_ROUNDS", 4)
    init(ADMIN_PASSWORD)
    for name, group in (
        ("viewer", "Viewers"),
        ("analyst", "Analysts"),
        ("engineer", "Data Engineers"),
    ):
        create_user(name, PASSWORD, groups=[group])
    config.set_value("auth_mode", "multi")


def _saved(name: str) -> str:
    """A saved connection made by the admin, for the edit/delete actions."""
    connections.add(ConnectionSpec(name, "duckdb", path=":memory:"), actor=get_user("admin"))
    return name


def _demo() -> tuple[ConnectionSpec, object]:
    spec = connections.ensure_demo()
    return spec, connect(spec)


ACTIONS: dict[str, tuple[str, Callable[[object], object]]] = {
    "add connection": (
        "connections.create",
        lambda u: connections.add(ConnectionSpec("x", "duckdb", path=":memory:"), actor=u),
    ),
    "run query": (
        "queries.execute",
        lambda u: queries.run(*_demo(), "select 1", actor=u),
    ),
    "edit connection": (
        "connections.edit",
        lambda u: connections.update(
            _saved("e"), ConnectionSpec("e2", "duckdb", path=":memory:"), actor=u
        ),
    ),
    "delete connection": ("connections.delete", lambda u: connections.delete(_saved("d"), actor=u)),
    "save query": ("queries.save", lambda u: saved.save_query("q", "select 1", actor=u)),
    "new folder": ("queries.save", lambda u: saved.create_folder("f", actor=u)),
    "create user": ("system.users", lambda u: create_user("newbie", PASSWORD, actor=u)),
    "reset password": (
        "system.users",
        lambda u: set_password("viewer", "another-long-one-42", actor=u),
    ),
    "create group": ("system.groups", lambda u: create_group("G", actor=u)),
    "group permissions": (
        "system.groups",
        lambda u: set_group_permissions("Viewers", ["data.view"], actor=u),
    ),
    "export": (
        "queries.export",
        lambda u: export.export(_demo()[1], "select 1 as a", "csv", io.BytesIO(), actor=u),
    ),
    "profile a saved connection's result": (
        "connections.use",
        lambda u: profile.profile(
            *_memory(),
            queries.Statement.plain("select 1 as a"),
            pa.schema([("a", pa.int32())]),
            actor=u,
        ),
    ),
    "keep a snapshot of a saved connection's result": (
        "connections.use",
        lambda u: snapshots.save(
            *_memory(), queries.Statement.plain("select 1 as a"), "s", actor=u
        ),
    ),
}


def _memory() -> tuple[ConnectionSpec, object]:
    spec = ConnectionSpec("mem", "duckdb", path=":memory:")
    return spec, connect(spec)


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("username", ["viewer", "analyst", "engineer", "admin"])
def test_actions_follow_the_permission_matrix(action: str, username: str) -> None:
    """Each action runs exactly when the user's groups grant its permission."""
    permission, call = ACTIONS[action]
    user = get_user(username)
    if auth.allowed(user, permission):
        call(user)
    else:
        with pytest.raises(PermissionDenied, match=permission):
            call(user)


def test_expected_outcomes_for_a_viewer_and_an_analyst() -> None:
    """Spot-check the matrix against the issue's definition of the default groups."""
    viewer, analyst = get_user("viewer"), get_user("analyst")
    assert auth.allowed(viewer, "queries.execute")
    assert not auth.allowed(viewer, "queries.export")
    assert not auth.allowed(analyst, "connections.create")
    assert auth.allowed(analyst, "queries.export")


def test_signed_out_caller_is_refused() -> None:
    """No user at all in multi mode: every action is refused with 'Sign in first'."""
    with pytest.raises(PermissionDenied, match="Sign in first"):
        queries.run(*_demo(), "select 1", actor=None)


def test_edit_and_delete_need_their_own_permissions(tmp_path: Path) -> None:
    """An Analyst may use connections but not change them; an engineer may."""
    engineer, analyst = get_user("engineer"), get_user("analyst")
    inside = config.home() / "data"  # the default data root: where a user's files live
    inside.mkdir(parents=True, exist_ok=True)
    connections.add(ConnectionSpec("c", "sqlite", path=str(inside / "c.db")), actor=engineer)
    with pytest.raises(PermissionDenied, match="connections.edit"):
        connections.update("c", ConnectionSpec("c2", "sqlite", path="x.db"), actor=analyst)
    with pytest.raises(PermissionDenied, match="connections.delete"):
        connections.delete("c", actor=analyst)
    connections.delete("c", actor=engineer)
    assert connections.names() == ["demo"]
