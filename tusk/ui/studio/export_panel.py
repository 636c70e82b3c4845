"""Export of a result: the full result streamed to a file to download, or into a data root."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from tusk import config, export, queries
from tusk.engines.spec import ConnectionSpec
from tusk.errors import TuskError
from tusk.ui import humanize
from tusk.ui.session import connection, forget_if_lost
from tusk.ui.shell import current_user, md_escape, show_error


def export_panel(spec: ConnectionSpec, statement: queries.Statement, key: str) -> None:
    """Export the FULL result (streamed through the engine), then offer the file to download."""
    fmt_col, go_col = st.columns([2, 1], vertical_alignment="bottom")
    fmt = fmt_col.segmented_control(
        "Format", list(export.FORMATS), default="csv", key=f"{key}_fmt", required=True
    )
    done_key = f"{key}_file"
    if go_col.button("Export full result", icon=":material/download:", key=f"{key}_go"):
        progress = st.progress(0.0, text="Exporting…")
        out_dir = config.home() / "exports"
        out_dir.mkdir(parents=True, exist_ok=True)
        _sweep_exports(out_dir)
        target = Path(tempfile.mkstemp(dir=out_dir, suffix=f".{fmt}")[1])

        def tick(rows: int) -> None:
            progress.progress(min(0.99, 0.05 + rows / (rows + 100_000)), text=f"{rows:,} rows…")

        try:
            summary = export.export(
                connection(spec.name),
                statement.sql,
                str(fmt),
                target,
                params=statement.params,
                progress=tick,
                actor=current_user(),
            )
        except TuskError as exc:
            target.unlink(missing_ok=True)
            progress.empty()
            show_error(exc)
            forget_if_lost(spec.name, exc)
            return
        progress.progress(
            1.0, text=f"{summary.rows:,} rows · {humanize.size(summary.bytes_written)}"
        )
        old = st.session_state.get(done_key)
        if old and Path(old[0]).exists():
            Path(old[0]).unlink()
        st.session_state[done_key] = (str(target), str(fmt), summary.rows)
    _save_to_root(spec, statement, str(fmt), key)
    ready = st.session_state.get(done_key)
    if ready and Path(ready[0]).exists():
        path, done_fmt, rows = ready
        with open(path, "rb") as fh:
            st.download_button(
                f"Download {done_fmt.upper()} ({humanize.count(rows, 'row')})",
                data=fh,
                file_name=export.file_name(f"{spec.name}-result", done_fmt),
                mime=export.mime_type(done_fmt),
                key=f"{key}_download",
                icon=":material/save_alt:",
                on_click="ignore",
            )


def _save_to_root(spec: ConnectionSpec, statement: queries.Statement, fmt: str, key: str) -> None:
    """Write the full result into a data root, where the Files panel lists it at once."""
    from tusk import auth, files

    user = current_user()
    if not auth.allowed(user, "data.export"):
        return
    with st.popover("Save to a data root", icon=":material/drive_folder_upload:"):
        try:
            roots = [r.name for r in files.roots()]
        except TuskError as exc:
            show_error(exc)
            return
        root = st.selectbox("Data root", roots, key=f"{key}_root")
        name = st.text_input(
            "File (a path inside the root)",
            value=f"{spec.name}-result.{fmt}",
            key=f"{key}_path",
            help="Folders in the path must exist; the extension follows the format.",
        )
        overwrite = st.checkbox("Replace a file with the same name", key=f"{key}_overwrite")
        if st.button("Save", type="primary", key=f"{key}_save", icon=":material/save:"):
            progress = st.progress(0.0, text="Writing…")

            def tick(rows: int) -> None:
                progress.progress(min(0.99, 0.05 + rows / (rows + 100_000)), text=f"{rows:,} rows…")

            try:
                entry = files.export(
                    connection(spec.name),
                    statement.sql,
                    fmt,
                    str(root),
                    name,
                    params=statement.params,
                    overwrite=overwrite,
                    progress=tick,
                    actor=user,
                )
            except TuskError as exc:
                progress.empty()
                show_error(exc)
                forget_if_lost(spec.name, exc)
                return
            progress.progress(1.0, text=f"Saved {humanize.size(entry.size)}")
            st.toast(
                f"Saved {md_escape(entry.root)}/{md_escape(entry.relative)}",
                icon=":material/check:",
            )


def _sweep_exports(folder: Path, max_age_s: float = 24 * 3600) -> None:
    """Delete export files older than a day: they exist only to be downloaded."""
    import time

    cutoff = time.time() - max_age_s
    for old in folder.iterdir():
        try:
            if old.is_file() and old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            continue  # another session may be removing it too
