"""A finished dump read back: `pg_restore --list` of an archive, and the verification every
backup passes before it is listed (an archive must list, a plain script must end with pg_dump's
completion trailer)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tusk import config
from tusk.admin.backup.folder import path_size
from tusk.admin.backup.options import Format
from tusk.admin.backup.tooljob import locale_env
from tusk.errors import BadInput

# pg_dump ends every complete plain script with this comment (newer minor releases add an
# `\unrestrict` line after it, so look near the end rather than at the very last line).
_TRAILER = b"-- PostgreSQL database dump complete"
_TRAILER_WINDOW = 4096


def verify_dump(path: Path, fmt: Format) -> tuple[int, int]:
    """Check a finished dump; (TOC entries, tables with data), BadInput when it is no good."""
    if path_size(path) == 0:
        raise BadInput("pg_dump wrote nothing.")
    if fmt == "plain":
        with path.open("rb") as fh:
            fh.seek(max(path.stat().st_size - _TRAILER_WINDOW, 0))
            tail = fh.read()
        if _TRAILER not in tail:
            raise BadInput("the SQL script is incomplete (no end-of-dump trailer).")
        return 0, 0
    listing = read_toc(path)
    entries = [ln for ln in listing.splitlines() if ln.strip() and not ln.startswith(";")]
    return len(entries), sum(" TABLE DATA " in ln for ln in entries)


def read_toc(path: Path) -> str:
    """`pg_restore --list` of an archive; BadInput with its message when it cannot read it."""
    tool = config.pg_tool("pg_restore")
    env = locale_env(dict(os.environ))
    try:
        done = subprocess.run(  # noqa: S603 - an argument list, never a shell
            [tool, "--list", str(path)],
            capture_output=True,
            env=env,
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BadInput(f"pg_restore --list could not run: {exc}") from None
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip()
        raise BadInput(f"pg_restore cannot read it ({err or f'exit code {done.returncode}'}).")
    listing = done.stdout.decode("utf-8", "replace")
    if not listing.strip():
        raise BadInput("pg_restore found no table of contents.")
    return listing
