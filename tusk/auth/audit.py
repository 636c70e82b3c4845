"""The audit log in auth.db: who did what, when — and who the actor of an auth action is
(a signed-in user, checked for the permission, or a trusted local caller)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from tusk.auth.database import snapshot, transaction, utc_now
from tusk.auth.schema import AuditEntry, User


def actor_name(actor: User | str, permission: str) -> str:
    """The audit name of whoever acts. A User (pages) must hold `permission` or PermissionDenied
    is raised here, whatever the page checked; a plain string is a trusted local caller (the
    CLI, which already owns Tusk's home and its files)."""
    if isinstance(actor, User):
        from tusk import auth

        auth.require(actor, permission)
        return actor.username
    return str(actor)


def record(s: Session, actor: str, action: str, target: str = "", detail: str = "") -> None:
    """Add an audit entry inside a transaction (written with it or not at all)."""
    s.add(AuditEntry(ts=utc_now(), actor=actor, action=action, target=target, detail=detail))


def audit(actor: str, action: str, target: str = "", detail: str = "") -> None:
    """Record who did what (kills, backups, DDL from Admin...)."""
    with transaction() as s:
        record(s, actor, action, target, detail)


def audit_log(limit: int = 200, action: str | None = None) -> list[AuditEntry]:
    """The newest audit entries first."""
    with snapshot() as s:
        query = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit)
        if action is not None:
            query = query.where(AuditEntry.action == action)
        return list(s.exec(query).all())
