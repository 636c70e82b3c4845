"""What a backup is made of: the pg_dump options a user picks, checked and normalised, and the
name and jobs checks a restore shares with them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from tusk.engines.base import check_encodable
from tusk.errors import BadInput

Format = Literal["custom", "plain", "directory", "tar"]
FORMATS: tuple[Format, ...] = get_args(Format)

_MAX_JOBS = 32
_NAME_BYTES = 63  # PostgreSQL truncates longer identifiers


@dataclass(frozen=True)
class BackupOptions:
    """What pg_dump writes: format, which parts, which schemas/tables, compression."""

    format: Format = "custom"
    schema_only: bool = False
    data_only: bool = False
    schemas: tuple[str, ...] = ()
    tables: tuple[tuple[str, str], ...] = ()  # (schema, table); only these when given
    compression: int | None = None  # 0-9; None keeps pg_dump's default
    jobs: int = 1  # parallel dump workers, directory format only
    no_owner: bool = False  # leave out ALTER ... OWNER (plain scripts; pg_dump ignores it else)

    def checked(self) -> BackupOptions:
        """These options validated and normalised; BadInput says what is wrong."""
        if self.format not in FORMATS:
            raise BadInput(f"Unknown backup format {self.format!r}: use {', '.join(FORMATS)}.")
        if self.schema_only and self.data_only:
            raise BadInput("Choose schema only or data only, not both.")
        level = self.compression
        if level is not None:
            if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 9:
                raise BadInput(f"Compression is a level from 0 to 9, not {level!r}.")
            if self.format in ("plain", "tar"):
                if level > 0:
                    raise BadInput(
                        f"The {self.format} format is not compressed; choose custom or "
                        "directory for compression."
                    )
                level = None
        if self.schemas and self.tables:
            # pg_dump ignores --schema once --table is given; say so instead of surprising.
            raise BadInput("Choose schemas or tables, not both: tables override schemas.")
        jobs = check_jobs(self.jobs)
        if jobs > 1 and self.format != "directory":
            raise BadInput("Parallel backup (jobs above 1) needs the directory format.")
        schemas = tuple(check_name(s, "schema") for s in self.schemas)
        tables = tuple((check_name(s, "schema"), check_name(t, "table")) for s, t in self.tables)
        return BackupOptions(
            format=self.format,
            schema_only=bool(self.schema_only),
            data_only=bool(self.data_only),
            schemas=tuple(dict.fromkeys(schemas)),
            tables=tuple(dict.fromkeys(tables)),
            compression=level,
            jobs=jobs,
            no_owner=bool(self.no_owner),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form for the sidecar."""
        return {
            "format": self.format,
            "schema_only": self.schema_only,
            "data_only": self.data_only,
            "schemas": list(self.schemas),
            "tables": [list(t) for t in self.tables],
            "compression": self.compression,
            "jobs": self.jobs,
            "no_owner": self.no_owner,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BackupOptions:
        """Options read back from a sidecar."""
        return cls(
            format=data.get("format", "custom"),
            schema_only=bool(data.get("schema_only")),
            data_only=bool(data.get("data_only")),
            schemas=tuple(data.get("schemas") or ()),
            tables=tuple((str(s), str(t)) for s, t in data.get("tables") or ()),
            compression=data.get("compression"),
            jobs=int(data.get("jobs") or 1),
            no_owner=bool(data.get("no_owner")),
        )

    def describe(self) -> str:
        """What the backup holds, e.g. 'schema only, 2 tables' or 'whole database'."""
        parts: list[str] = []
        if self.schema_only:
            parts.append("schema only")
        if self.data_only:
            parts.append("data only")
        if self.schemas:
            parts.append(_plural(len(self.schemas), "schema"))
        if self.tables:
            parts.append(_plural(len(self.tables), "table"))
        if self.compression is not None:
            parts.append(f"compression {self.compression}")
        if self.jobs > 1:
            parts.append(f"{self.jobs} jobs")
        if self.no_owner:
            parts.append("no owner")
        if not (self.schemas or self.tables):
            parts.insert(0, "whole database")
        return ", ".join(parts)


def check_name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or "\x00" in value:
        raise BadInput(f"{value!r} is not a {what} name.")
    check_encodable(value, f"The {what} name")
    return value


def check_database_name(value: object) -> str:
    name = check_name(value, "database")
    if len(name.encode()) > _NAME_BYTES:
        raise BadInput(f"A database name has at most {_NAME_BYTES} bytes; {name!r} is longer.")
    return name


def check_jobs(value: object) -> int:
    try:
        jobs = int(value)  # type: ignore[call-overload]  # any input; int() refuses the rest
    except (TypeError, ValueError):
        raise BadInput(f"Jobs is a whole number, not {value!r}.") from None
    if not 1 <= jobs <= _MAX_JOBS:
        raise BadInput(f"Jobs is from 1 to {_MAX_JOBS}, not {jobs}.")
    return jobs


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
