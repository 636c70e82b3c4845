"""Pipelines saved server-side: one JSON file each in TUSK_HOME/pipelines (folder 0700, files
0600, written atomically, with the format version inside).

A pipeline's name maps to its file name by percent-encoding everything but letters, digits,
space, `-`, `_` and `(` `)`, plus a leading dot: `../x` becomes `%2E%2E%2Fx.json`, so no
name can leave the folder, hide a file or collide with another name.
"""

from __future__ import annotations

import os
import unicodedata
import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

from tusk import auth, config
from tusk.errors import BadInput
from tusk.etl.pipeline import Pipeline, from_json, to_json

if TYPE_CHECKING:
    from tusk.auth.schema import User

MAX_NAME = 100  # characters
_SUFFIX = ".json"
_MAX_FILE_BYTES = 250  # a file name's limit is 255 bytes on Linux and macOS


def folder() -> Path:
    """TUSK_HOME/pipelines, created with mode 0700."""
    path = config.home() / config.PIPELINES_DIR
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise config.write_failed(path, exc) from None
    return path


def clean_name(name: str) -> str:
    """A pipeline name as stored: NFC, trimmed; BadInput when empty, too long or with
    control characters."""
    text = unicodedata.normalize("NFC", str(name or "")).strip()
    if not text:
        raise BadInput("Give the pipeline a name.", "Name missing")
    if len(text) > MAX_NAME:
        raise BadInput(f"Pipeline names are at most {MAX_NAME} characters.", "Name too long")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in text):  # Cs: a lone surrogate
        raise BadInput(
            "A pipeline name cannot contain control characters or half a surrogate pair.",
            "Bad name",
        )
    if len(_file_name(text).encode()) > _MAX_FILE_BYTES:
        raise BadInput("This pipeline name is too long to store; shorten it.", "Name too long")
    return text


def _file_name(name: str) -> str:
    encoded = quote(name, safe=" -_()")
    if encoded.startswith("."):
        encoded = "%2E" + encoded[1:]  # never a hidden file, never "." or ".."
    return encoded + _SUFFIX


def _path(name: str) -> Path:
    return folder() / _file_name(clean_name(name))


def save(pipeline: Pipeline, *, overwrite: bool = False, actor: User | None = None) -> Path:
    """Save the pipeline under its name (needs data.transform); an existing pipeline of that
    name is replaced only with overwrite."""
    auth.require(actor, "data.transform")
    name = clean_name(pipeline.name)
    pipeline = pipeline.model_copy(update={"name": name})
    path = _path(name)
    try:
        text = to_json(pipeline)
    except ValueError:  # pydantic cannot encode a lone surrogate (e.g. in a query's SQL)
        raise BadInput(
            "The pipeline holds a character with no UTF-8 form (half of a surrogate pair, "
            "from a bad paste): retype the step or SQL that has it.",
            "Cannot save pipeline",
        ) from None
    if overwrite:
        config.atomic_write(path, text, 0o600)
        return path
    # Without overwrite, a hard link publishes the file only if the name is still free,
    # even when two saves race.
    tmp = path.parent / f".tusk-{uuid.uuid4().hex}.part"
    try:
        config.atomic_write(tmp, text, 0o600)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise BadInput(
                f"A pipeline called {name!r} already exists: choose overwrite or another name.",
                "Name taken",
            ) from None
        except OSError as exc:
            raise config.write_failed(path, exc) from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def list_pipelines() -> list[tuple[str, datetime]]:
    """(name, last modified) of every saved pipeline, by name."""
    found: list[tuple[str, datetime]] = []
    for path in folder().glob("*" + _SUFFIX):
        if path.name.startswith(".") or not path.is_file():
            continue
        name = unquote(path.name[: -len(_SUFFIX)])
        modified = datetime.fromtimestamp(path.stat().st_mtime).astimezone()
        found.append((name, modified))
    found.sort(key=lambda item: (item[0].casefold(), item[0]))
    return found


def exists(name: str) -> bool:
    """True when a pipeline of this name is saved."""
    return _path(name).is_file()


def load(name: str) -> Pipeline:
    """The saved pipeline called `name`."""
    path = _path(name)
    if not path.is_file():
        raise BadInput(f"There is no saved pipeline called {clean_name(name)!r}.", "Not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"Cannot read the pipeline {name!r}: {exc}.", "Cannot read") from None
    pipeline = from_json(text)
    return pipeline.model_copy(update={"name": clean_name(name)})


def duplicate(name: str, new_name: str, *, actor: User | None = None) -> Pipeline:
    """Save a copy of a pipeline under a new name (needs data.transform)."""
    copy = load(name).model_copy(update={"name": clean_name(new_name)}, deep=True)
    save(copy, actor=actor)
    return copy


def delete(name: str, *, actor: User | None = None) -> None:
    """Delete a saved pipeline (needs data.transform)."""
    auth.require(actor, "data.transform")
    path = _path(name)
    try:
        path.unlink()
    except FileNotFoundError:
        raise BadInput(
            f"There is no saved pipeline called {clean_name(name)!r}.", "Not found"
        ) from None
