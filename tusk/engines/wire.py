"""What crosses between the server and an engine worker process (tusk.engines.isolation).

Requests (server → worker) are pickled: the server is the trusted side. Answers (worker →
server) are never unpickled, because the worker runs user SQL and a crash there must never
become code run in the server: an answer is one JSON frame, and Arrow data follows it as
Arrow IPC stream frames.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import asdict
from multiprocessing.connection import Connection as Channel
from typing import Any

import pyarrow as pa

from tusk import errors
from tusk.catalog import Catalog, Column, ForeignKey, Table
from tusk.engines.result import QueryResult
from tusk.errors import QueryFailed, TuskError

# TuskError classes an answer may name; any other name arrives as QueryFailed.
_ERRORS: dict[str, type[TuskError]] = {
    cls.__name__: cls
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, TuskError)
}


def send_request(chan: Channel, request: dict[str, Any]) -> None:
    """Send a request to a worker (pickled: only the server sends these)."""
    chan.send_bytes(pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL))


def recv_request(chan: Channel) -> dict[str, Any]:
    """Receive the server's request (in the worker)."""
    return pickle.loads(chan.recv_bytes())  # noqa: S301 - from the server, over an authkey socket


def send_answer(chan: Channel, answer: dict[str, Any], table: pa.Table | None = None) -> None:
    """Send one JSON answer, then `table` (if any) as one Arrow IPC stream frame."""
    chan.send_bytes(json.dumps(answer).encode("utf-8"))
    if table is not None:
        send_arrow(chan, table)


def recv_answer(chan: Channel) -> dict[str, Any]:
    """Receive a JSON answer (in the server)."""
    answer = json.loads(chan.recv_bytes().decode("utf-8"))
    if not isinstance(answer, dict):
        raise QueryFailed("The engine process sent an unreadable answer.", "Engine error")
    return answer


def send_arrow(chan: Channel, data: pa.Table | pa.RecordBatch) -> None:
    """One Arrow IPC stream (schema + data) as one frame."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, data.schema) as writer:
        if isinstance(data, pa.Table):
            writer.write_table(data)
        else:
            writer.write_batch(data)
    chan.send_bytes(sink.getvalue())


def recv_table(chan: Channel) -> pa.Table:
    """An Arrow table from one IPC stream frame."""
    return pa.ipc.open_stream(pa.py_buffer(chan.recv_bytes())).read_all()


def recv_batches(chan: Channel) -> list[pa.RecordBatch]:
    """The record batches of one IPC stream frame."""
    return list(pa.ipc.open_stream(pa.py_buffer(chan.recv_bytes())))


# --- errors --------------------------------------------------------------------------------


def error_answer(exc: BaseException) -> dict[str, Any]:
    """An exception as an answer: a TuskError keeps its class, message, title and position;
    anything else becomes a QueryFailed with its type and text."""
    if isinstance(exc, TuskError):
        return {
            "error": type(exc).__name__,
            "message": exc.message,
            "title": exc.title,
            "position": getattr(exc, "position", None),
        }
    text = str(exc).strip() or type(exc).__name__
    return {"error": "QueryFailed", "message": text, "title": "Engine error", "position": None}


def raise_error(answer: dict[str, Any]) -> None:
    """Raise the TuskError an error answer describes (nothing for other answers)."""
    if "error" not in answer:
        return
    cls = _ERRORS.get(str(answer["error"]), QueryFailed)
    message = str(answer.get("message") or "The engine failed.")
    title = answer.get("title")
    if issubclass(cls, QueryFailed):
        position = answer.get("position")
        raise cls(message, title, int(position) if isinstance(position, int) else None)
    raise cls(message, str(title) if title else None)


# --- values --------------------------------------------------------------------------------


def result_answer(result: QueryResult) -> dict[str, Any]:
    """A QueryResult's fields; its table follows as an Arrow frame."""
    return {
        "result": True,
        "truncated": result.truncated,
        "elapsed_s": result.elapsed_s,
        "statement": result.statement,
        "affected_rows": result.affected_rows,
    }


def result_from(answer: dict[str, Any], table: pa.Table) -> QueryResult:
    """The QueryResult an answer and its Arrow frame describe."""
    affected = answer.get("affected_rows")
    return QueryResult(
        table,
        bool(answer["truncated"]),
        float(answer["elapsed_s"]),
        str(answer["statement"]),
        int(affected) if affected is not None else None,
    )


def catalog_value(catalog: Catalog) -> dict[str, Any]:
    """A catalog as JSON-ready data."""
    return asdict(catalog)


def catalog_from(value: dict[str, Any]) -> Catalog:
    """The catalog catalog_value wrote."""
    tables = []
    for t in value.get("tables", ()):
        tables.append(
            Table(
                schema=str(t["schema"]),
                name=str(t["name"]),
                kind=str(t["kind"]),
                columns=tuple(Column(**c) for c in t["columns"]),
                primary_key=tuple(t["primary_key"]),
                foreign_keys=tuple(
                    ForeignKey(
                        tuple(f["columns"]),
                        f["ref_schema"],
                        f["ref_table"],
                        tuple(f["ref_columns"]),
                        f.get("name"),
                        f.get("ref_database"),
                    )
                    for f in t["foreign_keys"]
                ),
                row_estimate=t.get("row_estimate"),
                database=t.get("database"),
            )
        )
    return Catalog(tuple(tables))
