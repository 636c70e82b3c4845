"""The Users page (users, groups, audit log) and the Profile page (your own account)."""
