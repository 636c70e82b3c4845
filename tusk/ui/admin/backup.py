"""Admin → Backups: back up now (pg_dump in the background, verified before it is listed), the
verified backups with download and delete, and restore into an existing or a new database.

Jobs live in this browser session's state, so a rerun never loses them; while one runs, a
fragment redraws its progress every second and the rest of the page stays usable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
import streamlit as st

from tusk.admin import backup
from tusk.admin.backup import Backup, BackupJob, BackupOptions, RestoreJob, ToolJob
from tusk.errors import BadInput
from tusk.ui import humanize
from tusk.ui.admin.actions import keep_error, show_kept_error
from tusk.ui.confirm import confirm_dialog
from tusk.ui.shell import md_escape

if TYPE_CHECKING:
    from tusk.admin import AdminConnection
    from tusk.auth.schema import User

P = "admin_backup_"
JOB = P + "job"  # this browser session's BackupJob
RESTORE_JOB = P + "restore_job"  # this browser session's RestoreJob
ERROR = P + "error"  # the last action's TuskError, shown once at the top
DELETE_FOR = P + "delete_for"  # backup name the delete dialog asks about
CLEAN_FOR = P + "clean_for"  # restore arguments the clean dialog asks about
PICK = P + "pick"

FORMAT_LABELS: dict[str, str] = {
    "custom": "Custom archive (compressed, pg_restore)",
    "plain": "Plain SQL script (psql)",
    "directory": "Directory (parallel, compressed)",
    "tar": "Tar archive",
}
CONTENTS: tuple[str, ...] = ("Schema and data", "Schema only", "Data only")
NEW_DB, EXISTING_DB = "New database", "Existing database"
DEFAULT_LEVEL = "Default"
COMPRESSION: tuple[str, ...] = (DEFAULT_LEVEL, *(str(n) for n in range(10)))
STDERR_LINES = 200  # the tail of the tool's output shown under a finished job
LIVE_LINES = 8  # ... and under a running one
MAX_JOBS = 8
MAX_DOWNLOAD_BYTES = 1024**3  # Streamlit holds a download in memory while it is served


def render(conn: AdminConnection, user: User | None) -> None:
    """The Backups tab."""
    show_kept_error(ERROR)
    _job_panel(JOB)
    _job_panel(RESTORE_JOB)
    _back_up_form(conn, user)
    backups = backup.list_backups()
    picked = _backups_list(backups, user)
    if picked is not None:
        _restore_form(conn, user, picked)
    _dialogs(conn, user)


# --- jobs ----------------------------------------------------------------------------------------


def _job_panel(key: str) -> None:
    """The job under `key` with its progress and stderr; redrawn every second while it runs."""
    job: ToolJob | None = st.session_state.get(key)
    if job is None:
        return
    running_at_draw = not job.done

    @st.fragment(run_every=1 if running_at_draw else None)
    def panel() -> None:
        current: ToolJob | None = st.session_state.get(key)
        if current is None:
            return
        _draw_job(key, current)
        if current.done and running_at_draw:
            # It ended between two ticks: redraw the whole tab (list, buttons), once.
            st.rerun(scope="app")

    panel()


def _draw_job(key: str, job: ToolJob) -> None:
    status = job.status
    is_backup = isinstance(job, BackupJob)
    db = md_escape(job.database)  # labels render Markdown; names are the user's
    if isinstance(job, BackupJob):
        what = md_escape(job.name)
    elif isinstance(job, RestoreJob):
        what = md_escape(job.backup.name)
    else:
        what = ""
    if is_backup:
        label = {
            "running": f"Backing up {db}…",
            "verifying": f"Verifying {what}…",
            "ok": f"Backed up {db} to {what}",
            "failed": "Backup failed",
            "cancelled": "Backup cancelled",
        }[status]
    else:
        label = {
            "running": f"Restoring {what} into {db}…",
            "verifying": f"Restoring {what} into {db}…",
            "ok": f"Restored {what} into {db}",
            "failed": "Restore failed",
            "cancelled": "Restore cancelled",
        }[status]
    state: Literal["running", "complete", "error"] = (
        "complete"
        if status == "ok"
        else "error"
        if status in ("failed", "cancelled")
        else "running"
    )
    with st.status(label, state=state, expanded=status != "ok"):
        share = job.progress
        if share is not None and status in ("running", "verifying"):
            st.progress(
                share,
                text=f"{job.tables_done:,} of {humanize.count(job.tables_total or 0, 'table')}",
            )
        facts = [humanize.duration(job.elapsed_s)]
        if isinstance(job, BackupJob):
            facts.insert(0, f"{humanize.size(job.bytes_written)} written")
        if status == "running" and job.current_table:
            facts.append(f"table {job.current_table}")
        if isinstance(job, RestoreJob) and job.backup.format == "plain" and status == "running":
            facts.append("psql reports no progress for a plain script")
        st.caption(md_escape(" · ".join(facts)))
        if status == "ok":
            st.success(_literal(job.message), icon=":material/check_circle:")
        elif status in ("failed", "cancelled"):
            st.error(_literal(job.message), icon=":material/error:")
        # While it runs, the newest lines (a scrolled box would show the oldest); after, more.
        lines = job.lines(STDERR_LINES if job.done else LIVE_LINES)
        if lines:
            st.code("\n".join(lines), language=None, height=240 if job.done else "content")
        if job.done:
            st.button(
                "Dismiss",
                key=f"{key}_dismiss",
                on_click=lambda: st.session_state.pop(key, None),
            )
        else:
            st.button(
                "Cancel",
                key=f"{key}_cancel",
                icon=":material/stop_circle:",
                on_click=job.cancel,
            )


def _running(key: str) -> bool:
    job: ToolJob | None = st.session_state.get(key)
    return job is not None and not job.done


# --- back up -------------------------------------------------------------------------------------


def _back_up_form(conn: AdminConnection, user: User | None) -> None:
    st.subheader(f"Back up {conn.database}", divider="gray")
    catalog = backup.dump_catalog(conn)
    fmt_col, content_col, level_col, jobs_col = st.columns([3, 3, 2, 2])
    fmt = fmt_col.selectbox(
        "Format",
        list(FORMAT_LABELS),
        format_func=FORMAT_LABELS.__getitem__,
        key=P + "format",
        help="Custom suits most uses; plain is an SQL script for psql; directory dumps tables "
        "in parallel; tar is an uncompressed archive.",
    )
    content_col.radio("Contents", CONTENTS, key=P + "content", horizontal=True)
    level_col.selectbox(
        "Compression",
        COMPRESSION,
        key=P + "compression",
        disabled=fmt in ("plain", "tar"),
        help="0 is fastest and largest, 9 smallest and slowest (custom and directory only).",
    )
    jobs_col.number_input(
        "Jobs",
        min_value=1,
        max_value=MAX_JOBS,
        value=1,
        key=P + "jobs",
        disabled=fmt != "directory",
        help="Tables dumped in parallel, each over its own connection (directory format only).",
    )
    schema_col, table_col = st.columns(2)
    schema_col.multiselect(
        "Schemas",
        list(catalog.schemas),
        key=P + "schemas",
        placeholder="All schemas",
        help="Only these schemas; leave empty for the whole database.",
    )
    table_col.multiselect(
        "Tables",
        [(s, t) for s, t, _ in catalog.tables],
        format_func=_dotted,
        key=P + "tables",
        placeholder="All tables",
        help="Only these tables (without their schemas' other objects). Pick schemas or "
        "tables, not both.",
    )
    st.checkbox(
        "No owner",
        key=P + "no_owner",
        disabled=fmt != "plain",
        help="Leave out ALTER … OWNER, so another role can run the script. Archives keep "
        "owners; choose No owner when restoring them instead.",
    )
    busy = _running(JOB)
    st.button(
        "Back up now",
        key=P + "start",
        type="primary",
        icon=":material/backup:",
        disabled=busy,
        help="A backup is already running." if busy else None,
        on_click=keep_error,
        args=(ERROR, lambda: _start_backup(conn, user, catalog)),
    )


def _options() -> BackupOptions:
    """The form's choices; settings that do not apply to the format are left out."""
    state = st.session_state
    fmt = str(state.get(P + "format") or "custom")
    content = state.get(P + "content") or CONTENTS[0]
    return BackupOptions(
        format=fmt,  # type: ignore[arg-type]  # BackupOptions refuses an unknown format
        schema_only=content == "Schema only",
        data_only=content == "Data only",
        schemas=tuple(state.get(P + "schemas") or ()),
        tables=tuple(tuple(t) for t in state.get(P + "tables") or ()),
        compression=_level(fmt, str(state.get(P + "compression") or DEFAULT_LEVEL)),
        jobs=int(state.get(P + "jobs") or 1) if fmt == "directory" else 1,
        no_owner=bool(state.get(P + "no_owner")) and fmt == "plain",
    )


def _level(fmt: str, choice: str) -> int | None:
    """The compression level to ask for; plain and tar formats take none."""
    if fmt in ("plain", "tar") or choice == DEFAULT_LEVEL:
        return None
    return int(choice)


def _start_backup(conn: AdminConnection, user: User | None, catalog: backup.DumpCatalog) -> None:
    options = _options().checked()
    st.session_state[JOB] = backup.start_backup(
        conn.spec, options, actor=user, tables_total=catalog.data_tables(options) or None
    )


# --- the list ------------------------------------------------------------------------------------

_COLUMNS: dict[str, Any] = {
    "Name": st.column_config.TextColumn("Name", pinned=True),
    "Database": st.column_config.TextColumn("Database"),
    "Connection": st.column_config.TextColumn("Connection", help="Saved connection it came from"),
    "Format": st.column_config.TextColumn("Format"),
    "Size": st.column_config.NumberColumn("Size", format="bytes"),
    "Created": st.column_config.DatetimeColumn("Created", format="YYYY-MM-DD HH:mm:ss"),
    "Contents": st.column_config.TextColumn("Contents", help="The options it was made with"),
    "Took": st.column_config.TextColumn("Took", help="Dump and verification time"),
}


def _backups_list(backups: list[Backup], user: User | None) -> Backup | None:
    """The verified backups with download and delete; the one picked for them and restore."""
    st.subheader("Verified backups", divider="gray")
    if not backups:
        st.info(
            "No backups yet — choose what to back up above and press **Back up now**. A backup "
            "is listed here once pg_restore (or, for plain scripts, the end-of-dump trailer) "
            "has confirmed it is complete.",
            icon=":material/info:",
        )
        return None
    frame = pd.DataFrame(
        [
            {
                "Name": b.name,
                "Database": b.database,
                "Connection": b.connection,
                "Format": b.format,
                "Size": b.size,
                "Created": humanize.local(b.created),
                "Contents": b.options.describe(),
                "Took": humanize.duration(b.elapsed_s),
            }
            for b in backups
        ]
    )
    st.dataframe(frame, hide_index=True, column_config=_COLUMNS, width="stretch")
    st.caption(
        f"{humanize.count(len(backups), 'backup')}, "
        f"{humanize.size(sum(b.size for b in backups))} in {md_escape(str(backup.backups_dir()))}"
    )
    by_name = {b.name: b for b in backups}
    if st.session_state.get(PICK) not in by_name:
        st.session_state[PICK] = backups[0].name
    pick_col, down_col, del_col = st.columns([6, 2, 2], vertical_alignment="bottom")
    name = str(pick_col.selectbox("Backup", list(by_name), key=PICK))
    picked = by_name[name]
    # Streamlit serves a download from memory: a huge dump would hold the server's RAM.
    too_big = picked.size > MAX_DOWNLOAD_BYTES
    down_col.download_button(
        "Download",
        data=lambda: backup.read_backup(picked.name, actor=user),
        file_name=picked.download_name,
        mime="application/octet-stream",
        key=P + "download",
        icon=":material/download:",
        on_click="ignore",
        width="stretch",
        disabled=too_big,
        help=(
            f"{humanize.size(picked.size)} is more than the browser download takes "
            f"({humanize.size(MAX_DOWNLOAD_BYTES)}): copy it from the server's backups folder."
            if too_big
            else "A directory backup downloads as a tar of its folder."
        ),
    )
    if too_big:
        st.caption(
            f"{md_escape(picked.name)} is too big to download here: it is in "
            f"{md_escape(str(backup.backups_dir()))} on the server."
        )
    del_col.button(
        "Delete",
        key=P + "delete",
        icon=":material/delete:",
        width="stretch",
        on_click=lambda: st.session_state.__setitem__(DELETE_FOR, picked.name),
    )
    return picked


# --- restore -------------------------------------------------------------------------------------


def _restore_form(conn: AdminConnection, user: User | None, picked: Backup) -> None:
    st.subheader(f"Restore {picked.name}", divider="gray")
    plain = picked.format == "plain"
    kind_col, name_col = st.columns(2)
    kind = kind_col.radio("Into", (NEW_DB, EXISTING_DB), key=P + "target_kind", horizontal=True)
    if kind == NEW_DB:
        name_col.text_input(
            "New database name",
            key=P + "new_db",
            placeholder=f"{picked.database}_restored",
            max_chars=63,
        )
    else:
        databases = backup.list_databases(conn)
        if st.session_state.get(P + "existing_db") not in databases:
            st.session_state[P + "existing_db"] = (
                conn.database if conn.database in databases else databases[0]
            )
        name_col.selectbox("Database", databases, key=P + "existing_db")
    jobs_col, owner_col, clean_col = st.columns(3)
    jobs_col.number_input(
        "Jobs",
        min_value=1,
        max_value=MAX_JOBS,
        value=1,
        key=P + "restore_jobs",
        disabled=picked.format not in ("custom", "directory"),
        help="Tables loaded in parallel (custom and directory backups). Above 1 the restore "
        "is no longer one transaction.",
    )
    owner_col.checkbox(
        "No owner",
        key=P + "restore_no_owner",
        disabled=plain,
        help="Objects belong to the restoring role instead of the original owners.",
    )
    clean_col.checkbox(
        "Clean first",
        key=P + "clean",
        disabled=plain or kind == NEW_DB,
        help="Drop the backup's objects in the target before recreating them. Asks first.",
    )
    if plain:
        st.caption("A plain backup is an SQL script: psql runs it as it is, in one transaction.")
    busy = _running(RESTORE_JOB)
    st.button(
        "Restore",
        key=P + "restore",
        type="primary",
        icon=":material/settings_backup_restore:",
        disabled=busy,
        help="A restore is already running." if busy else None,
        on_click=keep_error,
        args=(ERROR, lambda: _ask_or_restore(conn, user, picked)),
    )


def _restore_args(picked: Backup) -> dict[str, Any]:
    """The restore form's choices as `backup.restore` keyword arguments."""
    state = st.session_state
    plain = picked.format == "plain"
    new = state.get(P + "target_kind", NEW_DB) == NEW_DB
    target = str(state.get(P + "new_db") or "").strip() if new else state.get(P + "existing_db")
    if not target:
        raise BadInput("Type a name for the new database.", "No database name")
    jobs = int(state.get(P + "restore_jobs") or 1)
    return {
        "backup_name": picked.name,
        "target_database": str(target),
        "create_database": new,
        "clean": bool(state.get(P + "clean")) and not new and not plain,
        "no_owner": bool(state.get(P + "restore_no_owner")) and not plain,
        "jobs": jobs if picked.format in ("custom", "directory") else 1,
    }


def _ask_or_restore(conn: AdminConnection, user: User | None, picked: Backup) -> None:
    args = _restore_args(picked)
    if args["clean"]:
        st.session_state[CLEAN_FOR] = args  # the dialog asks for the name first
        st.session_state.pop(P + "clean_confirm", None)
        return
    _start_restore(conn, user, args)


def _start_restore(conn: AdminConnection, user: User | None, args: dict[str, Any]) -> None:
    st.session_state[RESTORE_JOB] = backup.restore(conn.spec, actor=user, **args)


# --- dialogs -------------------------------------------------------------------------------------


def _dialogs(conn: AdminConnection, user: User | None) -> None:
    """Open the dialog a button asked for (from session state: AppTest and reruns keep it)."""
    name = st.session_state.get(DELETE_FOR)
    if name:
        _delete_dialog(str(name), user)
        return
    pending = st.session_state.get(CLEAN_FOR)
    if pending:
        _clean_dialog(conn, user, pending)


def _delete_dialog(name: str, user: User | None) -> None:
    def content() -> None:
        b = backup.get_backup(name)  # gone meanwhile: the dialog closes with the error
        st.markdown(
            f"Delete **{md_escape(b.name)}** — {md_escape(b.database)}, {b.format}, "
            f"{humanize.size(b.size)}, made {humanize.local(b.created):%Y-%m-%d %H:%M}? The file is "
            "removed from the backups folder; this cannot be undone."
        )

    def delete() -> None:
        backup.delete_backup(name, actor=user)
        st.toast(f"Deleted {md_escape(name)}", icon=":material/delete:")

    confirm_dialog(
        "Delete backup",
        content,
        action="Delete",
        icon=":material/delete:",
        on_confirm=delete,
        close=lambda: st.session_state.pop(DELETE_FOR, None),
        keys=(P + "delete_go", P + "delete_keep"),
    )


def _clean_dialog(conn: AdminConnection, user: User | None, args: dict[str, Any]) -> None:
    target = str(args["target_database"])

    def content() -> bool:
        st.markdown(
            f"This **drops** every object of **{md_escape(args['backup_name'])}** from the "
            f"database **{md_escape(target)}** and loads the backup's version; changes made "
            "since the backup are lost. Type the database name to confirm."
        )
        return st.text_input("Database name", key=P + "clean_confirm") == target

    confirm_dialog(
        "Restore with clean",
        content,
        action="Drop and restore",
        icon=":material/warning:",
        # A failed start is shown at the top of the tab, like the other actions' errors.
        on_confirm=lambda: keep_error(ERROR, lambda: _start_restore(conn, user, args)),
        close=lambda: st.session_state.pop(CLEAN_FOR, None),
        keys=(P + "clean_go", P + "clean_cancel"),
        cancel="Cancel",
    )


# --- helpers -------------------------------------------------------------------------------------


def _literal(text: str) -> str:
    """A tool's message shown as written: Markdown escaped, its line breaks kept."""
    return "  \n".join(md_escape(line) for line in text.splitlines())


def _dotted(pair: tuple[str, str]) -> str:
    return f"{pair[0]}.{pair[1]}"
