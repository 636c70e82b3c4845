"""What a user may do now, read from auth.db: the permissions `tusk.auth.allowed` checks.

Kept apart from `tusk.auth.users` (whose actions ask `tusk.auth.require` first), so the
permission check reads auth.db without importing the actions it guards.
"""

from __future__ import annotations

from sqlmodel import col, select

from tusk.auth import permissions
from tusk.auth.database import snapshot
from tusk.auth.schema import GroupPermission, Membership, User


def permissions_of(user: User | None) -> frozenset[str]:
    """What the user may do now: all for an active admin, none if inactive or deleted."""
    if user is None or user.id is None:
        return frozenset()
    with snapshot() as s:
        fresh = s.get(User, user.id)
        if fresh is None or not fresh.active:
            return frozenset()
        if fresh.is_admin:
            return frozenset(permissions.ALL)
        query = (
            select(GroupPermission.permission)
            .join(Membership, col(Membership.group_id) == GroupPermission.group_id)
            .where(Membership.user_id == fresh.id)
        )
        return frozenset(s.exec(query).all()) & frozenset(permissions.ALL)
