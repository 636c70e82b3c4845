"""Groups: named bundles of permissions — list, create, delete and set their permissions."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func
from sqlmodel import Session, col, delete, select

from tusk.auth import permissions
from tusk.auth.audit import actor_name, record
from tusk.auth.database import snapshot, transaction
from tusk.auth.schema import Group, GroupPermission, Membership, User, row_id
from tusk.auth.validation import clean_name, clean_text
from tusk.errors import BadInput


def find_group(s: Session, name: str) -> Group:
    """The group by name inside a transaction; BadInput when there is none."""
    found = s.exec(select(Group).where(Group.name == clean_name(name, "group name"))).first()
    if found is None:
        raise BadInput(f"There is no group {name!r}.")
    return found


def list_groups() -> list[tuple[Group, frozenset[str], int]]:
    """Every group with its permissions and member count, by name."""
    with snapshot() as s:
        out = []
        for group in s.exec(select(Group).order_by(Group.name)).all():
            perms = s.exec(
                select(GroupPermission.permission).where(GroupPermission.group_id == group.id)
            ).all()
            members = s.exec(
                select(func.count()).select_from(Membership).where(Membership.group_id == group.id)
            ).one()
            out.append((group, frozenset(perms), members))
        return out


def create_group(
    name: str,
    description: str = "",
    perms: Iterable[str] = (),
    *,
    actor: User | str = "system",
) -> Group:
    """Add a group with the given permissions; BadInput for a taken name."""
    who = actor_name(actor, "system.groups")
    clean = clean_name(name, "group name")
    wanted = _known(perms)
    with transaction() as s:
        if s.exec(select(Group.id).where(Group.name == clean)).first() is not None:
            raise BadInput(f"A group named {clean!r} already exists.")
        group = Group(name=clean, description=clean_text(description, "description", 500))
        s.add(group)
        s.flush()
        s.add_all(GroupPermission(group_id=row_id(group), permission=p) for p in wanted)
        record(s, who, "group.create", clean, ",".join(wanted))
        return group


def delete_group(name: str, *, actor: User | str = "system") -> None:
    """Remove a group; its members simply lose its permissions."""
    who = actor_name(actor, "system.groups")
    with transaction() as s:
        group = find_group(s, name)
        s.exec(delete(GroupPermission).where(col(GroupPermission.group_id) == group.id))
        s.exec(delete(Membership).where(col(Membership.group_id) == group.id))
        s.delete(group)
        record(s, who, "group.delete", group.name)


def _known(perms: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(perms))
    unknown = [p for p in wanted if p not in permissions.ALL]
    if unknown:
        raise BadInput(f"Unknown permissions: {', '.join(map(repr, unknown))}.")
    return wanted


def set_group_permissions(name: str, perms: Iterable[str], *, actor: User | str = "system") -> None:
    """Replace a group's permissions with exactly these."""
    who = actor_name(actor, "system.groups")
    wanted = _known(perms)
    with transaction() as s:
        group = find_group(s, name)
        s.exec(delete(GroupPermission).where(col(GroupPermission.group_id) == group.id))
        s.add_all(GroupPermission(group_id=row_id(group), permission=p) for p in wanted)
        record(s, who, "group.permissions", group.name, ",".join(wanted))
