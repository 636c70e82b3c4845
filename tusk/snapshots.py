"""Result snapshots: a statement's full result kept as Parquet, to compare a later run with.

A snapshot is two files in Tusk's home: the rows (`snapshot-<id>.parquet`) and what they are
(`snapshot-<id>.json`: name, connection, statement, when, rows). In multi-user mode they are
the user's own files (tusk.auth.users.user_file, named by the user's uid and removed with the
user); in single-user mode they live in `snapshots/`. Ids are random hex, checked before any
path is built from one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from tusk import config
from tusk.errors import BadInput, TuskError
from tusk.export import write_batches
from tusk.queries import Statement, authorize

if TYPE_CHECKING:
    from tusk.auth.schema import User
    from tusk.engines.base import Connection
    from tusk.engines.spec import ConnectionSpec

SINGLE_USER_DIR = "snapshots"
MAX_ROWS = 20_000_000  # a snapshot is for comparing results, not a second database
_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Snapshot:
    """What a snapshot holds (its rows are read with `read`)."""

    id: str
    name: str
    connection: str
    sql: str
    created: float  # seconds since the epoch
    rows: int


def save(
    spec: ConnectionSpec,
    conn: Connection,
    statement: Statement,
    name: str,
    *,
    actor: User | None = None,
) -> Snapshot:
    """Run the statement again and keep its full result (needs what running it needs)."""
    authorize(spec, actor)
    snapshot_id = uuid.uuid4().hex
    parquet, meta = _paths(snapshot_id, actor)
    parquet.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=parquet.parent, prefix=".snapshot-", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            rows, _ = write_batches(
                _capped(conn.stream_arrow(statement.sql, statement.params)), "parquet", fh
            )
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, parquet)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise config.write_failed(parquet, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    snapshot = Snapshot(
        snapshot_id, name.strip() or "Snapshot", spec.name, statement.text, time.time(), rows
    )
    try:
        config.atomic_write(meta, json.dumps(asdict(snapshot)))
    except TuskError:
        parquet.unlink(missing_ok=True)
        raise
    return snapshot


def list_snapshots(actor: User | None = None) -> list[Snapshot]:
    """This user's snapshots, newest first (a damaged description is skipped)."""
    found = []
    pattern = _path(actor, "snapshot-*.json")
    for meta in pattern.parent.glob(pattern.name):
        with contextlib.suppress(OSError, ValueError, TypeError):
            data = json.loads(meta.read_text(encoding="utf-8"))
            snapshot = Snapshot(**data)
            if _ID.fullmatch(snapshot.id) and _paths(snapshot.id, actor)[0].exists():
                found.append(snapshot)
    return sorted(found, key=lambda s: -s.created)


def read(snapshot_id: str, actor: User | None = None) -> Iterator[pa.RecordBatch]:
    """A snapshot's rows, batch by batch."""
    parquet, _ = _paths(snapshot_id, actor)
    try:
        reader = pq.ParquetFile(parquet)
    except (OSError, pa.ArrowInvalid) as exc:
        raise BadInput(f"The snapshot cannot be read: {exc}", "Snapshot unreadable") from None
    return reader.iter_batches()


def columns(snapshot_id: str, actor: User | None = None) -> tuple[str, ...]:
    """A snapshot's column names (read from the file's footer, not its rows)."""
    parquet, _ = _paths(snapshot_id, actor)
    try:
        return tuple(pq.read_schema(parquet).names)
    except (OSError, pa.ArrowInvalid) as exc:
        raise BadInput(f"The snapshot cannot be read: {exc}", "Snapshot unreadable") from None


def delete(snapshot_id: str, actor: User | None = None) -> None:
    """Remove a snapshot of this user's."""
    for path in _paths(snapshot_id, actor):
        path.unlink(missing_ok=True)


def _capped(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    rows = 0
    for batch in batches:
        rows += batch.num_rows
        if rows > MAX_ROWS:
            raise BadInput(
                f"The result has more than {MAX_ROWS:,} rows: too many to keep as a snapshot.",
                "Result too large",
            )
        yield batch


def _path(actor: User | None, name: str) -> Path:
    """A file of the user's own (removed with the user), or of the single user."""
    if actor is None:
        return config.home() / SINGLE_USER_DIR / name
    from tusk.auth.users import user_file

    return user_file(actor, name)


def _paths(snapshot_id: str, actor: User | None) -> tuple[Path, Path]:
    """The rows and the description of a snapshot; BadInput for anything but an id."""
    if not isinstance(snapshot_id, str) or not _ID.fullmatch(snapshot_id):
        raise BadInput("No such snapshot.", "Unknown snapshot")
    return (
        _path(actor, f"snapshot-{snapshot_id}.parquet"),
        _path(actor, f"snapshot-{snapshot_id}.json"),
    )
