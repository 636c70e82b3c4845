"""First run of multi-user mode (`tusk auth init`): the default groups and the admin user."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import select

from tusk.auth import permissions
from tusk.auth.audit import record
from tusk.auth.database import transaction
from tusk.auth.passwords import check_password, hash_password, new_password
from tusk.auth.schema import Group, GroupPermission, User, row_id
from tusk.auth.sessions import cookie_key
from tusk.auth.users import DEFAULT_ADMIN, add_user
from tusk.errors import BadInput


def init(admin_password: str | None = None, *, actor: str = "system") -> tuple[User, str | None]:
    """Create the default groups and the admin user. Without a password one is generated and
    returned (show it once: it must be changed at first sign-in); a given one must pass the
    password rule. Refused once users exist."""
    generated = new_password() if admin_password is None else None
    password = generated or admin_password or ""
    check_password(password, DEFAULT_ADMIN)
    hashed = hash_password(password)
    with transaction() as s:
        count = s.exec(select(func.count()).select_from(User)).one()
        if count:
            raise BadInput(
                f"Auth is already set up ({count} users): manage them with `tusk users`."
            )
        existing = set(s.exec(select(Group.name)).all())
        for name, perms in permissions.DEFAULT_GROUPS.items():
            if name in existing:
                continue
            group = Group(name=name, description=permissions.DEFAULT_GROUP_DESCRIPTIONS[name])
            s.add(group)
            s.flush()
            s.add_all(GroupPermission(group_id=row_id(group), permission=p) for p in perms)
        user = add_user(
            s,
            DEFAULT_ADMIN,
            hashed,
            display_name="Administrator",
            email=None,
            is_admin=True,
            must_change_password=generated is not None,
            groups=[permissions.ADMINISTRATORS],
            actor=actor,
        )
        record(s, actor, "auth.init", DEFAULT_ADMIN, "generated password" if generated else "")
    cookie_key()
    return user, generated
