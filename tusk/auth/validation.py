"""The checks on what people type for users and groups: names, free text and email addresses
(NFC-normalised, no control characters, bounded lengths)."""

from __future__ import annotations

import unicodedata

from tusk.errors import BadInput

MAX_NAME = 64


def clean_name(value: str, what: str = "username") -> str:
    """A user or group name, trimmed and NFC-normalised; BadInput when unusable."""
    if not isinstance(value, str):
        raise BadInput(f"The {what} must be text.")
    name = unicodedata.normalize("NFC", value.strip())
    if not name:
        raise BadInput(f"The {what} cannot be empty.")
    if len(name) > MAX_NAME:
        raise BadInput(f"The {what} is too long ({len(name)} characters; at most {MAX_NAME}).")
    if any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in name):
        raise BadInput(f"The {what} {name!r} contains control characters.")
    return name


def clean_text(value: str | None, what: str, limit: int) -> str:
    """Free text (display name, description), trimmed; BadInput when too long or not text."""
    text = (value or "").strip()
    if len(text) > limit:
        raise BadInput(f"The {what} is too long ({len(text)} characters; at most {limit}).")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in text):
        raise BadInput(f"The {what} contains control characters.")
    return text


def clean_email(value: str | None) -> str:
    """An email address, or "" for none; BadInput when it does not look like one."""
    email = clean_text(value, "email", 254)
    if email and ("@" not in email or any(c.isspace() for c in email)):
        raise BadInput(f"{email!r} does not look like an email address.")
    return email
