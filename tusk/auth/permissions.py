"""The 24 permissions Tusk knows, in 6 categories, and the default groups that bundle them."""

from __future__ import annotations

CONNECTIONS_VIEW = "connections.view"
CONNECTIONS_CREATE = "connections.create"
CONNECTIONS_EDIT = "connections.edit"
CONNECTIONS_DELETE = "connections.delete"
CONNECTIONS_USE = "connections.use"

QUERIES_EXECUTE = "queries.execute"
QUERIES_SAVE = "queries.save"
QUERIES_EXPORT = "queries.export"

ADMIN_VIEW = "admin.view"
ADMIN_PROCESSES = "admin.processes"
ADMIN_BACKUP = "admin.backup"
ADMIN_MAINTENANCE = "admin.maintenance"
ADMIN_EXTENSIONS = "admin.extensions"

DATA_VIEW = "data.view"
DATA_TRANSFORM = "data.transform"
DATA_EXPORT = "data.export"
DATA_IMPORT = "data.import"

CLUSTER_VIEW = "cluster.view"
CLUSTER_SUBMIT = "cluster.submit"
CLUSTER_CANCEL = "cluster.cancel"
CLUSTER_MANAGE = "cluster.manage"

SYSTEM_USERS = "system.users"
SYSTEM_GROUPS = "system.groups"
SYSTEM_SETTINGS = "system.settings"

CATEGORIES: dict[str, tuple[str, ...]] = {
    "connections": (
        CONNECTIONS_VIEW,
        CONNECTIONS_CREATE,
        CONNECTIONS_EDIT,
        CONNECTIONS_DELETE,
        CONNECTIONS_USE,
    ),
    "queries": (QUERIES_EXECUTE, QUERIES_SAVE, QUERIES_EXPORT),
    "admin": (ADMIN_VIEW, ADMIN_PROCESSES, ADMIN_BACKUP, ADMIN_MAINTENANCE, ADMIN_EXTENSIONS),
    "data": (DATA_VIEW, DATA_TRANSFORM, DATA_EXPORT, DATA_IMPORT),
    "cluster": (CLUSTER_VIEW, CLUSTER_SUBMIT, CLUSTER_CANCEL, CLUSTER_MANAGE),
    "system": (SYSTEM_USERS, SYSTEM_GROUPS, SYSTEM_SETTINGS),
}

ALL: tuple[str, ...] = tuple(p for perms in CATEGORIES.values() for p in perms)

ADMINISTRATORS = "Administrators"
DATA_ENGINEERS = "Data Engineers"
ANALYSTS = "Analysts"
VIEWERS = "Viewers"

DEFAULT_GROUPS: dict[str, tuple[str, ...]] = {
    ADMINISTRATORS: ALL,
    DATA_ENGINEERS: (
        *CATEGORIES["connections"],
        *CATEGORIES["queries"],
        *CATEGORIES["data"],
        ADMIN_VIEW,
        CLUSTER_VIEW,
        CLUSTER_SUBMIT,
        CLUSTER_CANCEL,
    ),
    ANALYSTS: (
        CONNECTIONS_VIEW,
        CONNECTIONS_USE,
        *CATEGORIES["queries"],
        DATA_VIEW,
        DATA_TRANSFORM,
        DATA_EXPORT,
        CLUSTER_VIEW,
        CLUSTER_SUBMIT,
    ),
    VIEWERS: (CONNECTIONS_VIEW, QUERIES_EXECUTE, DATA_VIEW, CLUSTER_VIEW),
}

DEFAULT_GROUP_DESCRIPTIONS: dict[str, str] = {
    ADMINISTRATORS: "Everything, including users, groups and settings.",
    DATA_ENGINEERS: "Connections, queries and data; read-only admin; run and cancel cluster jobs.",
    ANALYSTS: "Use connections, run, save and export queries, transform data, submit jobs.",
    VIEWERS: "Read-only: browse connections and data, run queries.",
}


def check(permission: str) -> str:
    """The permission itself, or ValueError when Tusk has no permission of that name."""
    if permission not in ALL:
        raise ValueError(f"Unknown permission {permission!r}; known: {', '.join(ALL)}.")
    return permission
