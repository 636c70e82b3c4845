"""Result snapshots: kept per user, read back whole, gone with the user."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from tests.conftest import ADMIN_PASSWORD, PASSWORD
from tusk import config, snapshots
from tusk.auth import passwords
from tusk.auth.bootstrap import init
from tusk.auth.users import create_user, delete_user, get_user
from tusk.engines.registry import connect
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput
from tusk.queries import Statement


def _duck(tmp_path: Path) -> tuple[ConnectionSpec, object]:
    spec = ConnectionSpec("snap", "duckdb", path=str(tmp_path / "s.duckdb"))
    conn = connect(spec)
    conn.execute("create table t as select i as id, 'v' || i as v from range(5000) r(i)")
    return spec, conn


def test_a_snapshot_keeps_the_full_result(tmp_path: Path) -> None:
    """All 5,000 rows are kept (not a preview), described, listed newest first, private."""
    spec, conn = _duck(tmp_path)
    first = snapshots.save(spec, conn, Statement.plain("select * from t"), "before")
    conn.execute("delete from t where id < 10")
    second = snapshots.save(spec, conn, Statement.plain("select * from t"), " ")
    assert (first.rows, second.rows, second.name) == (5000, 4990, "Snapshot")
    assert [s.id for s in snapshots.list_snapshots()] == [second.id, first.id]
    table = pa.Table.from_batches(list(snapshots.read(first.id)))
    assert table.num_rows == 5000 and table.column_names == ["id", "v"]
    files = list((config.home() / snapshots.SINGLE_USER_DIR).iterdir())
    assert files and all(f.stat().st_mode & 0o077 == 0 for f in files)
    snapshots.delete(first.id)
    assert [s.id for s in snapshots.list_snapshots()] == [second.id]
    conn.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("bad", ["../../etc/passwd", "x" * 32, "", "0" * 31])
def test_only_ids_make_paths(bad: str) -> None:
    """Anything but a 32-hex id is refused before a path is built."""
    with pytest.raises(BadInput, match="No such snapshot"):
        list(snapshots.read(bad))


def test_snapshots_are_per_user_and_go_with_the_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Multi-user mode: ana's snapshots are hers alone, and deleting her removes them."""
    monkeypatch.setattr(passwords, "BCRYPT_ROUNDS", 4)
    init(ADMIN_PASSWORD)
    create_user("ana", PASSWORD, groups=["Analysts"])
    create_user("dan", PASSWORD, groups=["Analysts"])
    config.set_value("auth_mode", "multi")
    ana, dan = get_user("ana"), get_user("dan")
    spec, conn = _duck(tmp_path)
    mine = snapshots.save(spec, conn, Statement.plain("select 1 as a"), "ana's", actor=ana)
    assert [s.id for s in snapshots.list_snapshots(ana)] == [mine.id]
    assert snapshots.list_snapshots(dan) == []
    with pytest.raises(BadInput, match="cannot be read"):
        list(snapshots.read(mine.id, dan))
    delete_user("ana")
    assert not list((config.home()).rglob(f"*{mine.id}*"))
    conn.close()  # type: ignore[attr-defined]
