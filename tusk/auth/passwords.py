"""Passwords: the rule a new one must pass, generated ones, and the hash kept in auth.db.

Passwords are hashed with bcrypt after a SHA-256 + base64 pre-hash, because bcrypt alone
silently ignores everything past 72 bytes. The stored value is still a "$2b$" string, but it
is NOT a plain bcrypt hash of the password: only `matches` here can check it, and
streamlit-authenticator is used for its login form and cookie only, never to verify.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import unicodedata

import bcrypt

from tusk.errors import BadInput

BCRYPT_ROUNDS = 12  # tests lower this; each round doubles the cost (12 is ~0.25 s)
MAX_PASSWORD = 1024
MIN_PASSWORD = 12

PASSWORD_RULE = (
    f"At least {MIN_PASSWORD} characters, not containing the user name, not one character "
    "repeated, not a common password."
)
# The most common passwords that are long enough to pass the length rule (compared ignoring
# case, spaces and punctuation); shorter ones are refused by length already.
COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "1234567890123",
        "12345678901234",
        "123456789012345",
        "1234567890123456",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "abc123456789",
        "abcdefghijkl",
        "abcd12345678",
        "administrator",
        "administrator1",
        "changeme1234",
        "correcthorsebatterystaple",
        "iloveyou1234",
        "letmein12345",
        "password1234",
        "password12345",
        "password123456",
        "passwordpassword",
        "qazwsxedcrfv",
        "qwerty123456",
        "qwertyuiop12",
        "qwertyuiopasdf",
        "qwertyuiopasdfgh",
        "trustno1trustno1",
        "welcome12345",
        "welcome123456",
    }
)


def encode_password(value: str) -> bytes:
    """The password as UTF-8 bytes; BadInput when empty, too long or not storable."""
    if not isinstance(value, str) or not value:
        raise BadInput("The password cannot be empty.")
    if len(value) > MAX_PASSWORD:
        raise BadInput(
            f"The password is too long ({len(value)} characters; at most {MAX_PASSWORD})."
        )
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadInput("The password contains characters that cannot be stored.") from None


def check_password(password: str, username: str) -> None:
    """Raise BadInput (saying the rule) unless `password` is acceptable for `username`."""
    encode_password(password)  # empty, too long, not storable
    if len(password) < MIN_PASSWORD:
        raise BadInput(
            f"The password must have at least {MIN_PASSWORD} characters (it has {len(password)}).",
            "Weak password",
        )
    folded = unicodedata.normalize("NFC", password).casefold()
    name = unicodedata.normalize("NFC", str(username).strip()).casefold()
    if len(name) >= 3 and name in folded:  # shorter names would refuse too much by chance
        raise BadInput("The password must not contain the user name.", "Weak password")
    if len(set(folded)) == 1:
        raise BadInput("The password cannot be one character repeated.", "Weak password")
    if "".join(c for c in folded if c.isalnum()) in COMMON_PASSWORDS:
        raise BadInput(
            "That password is one of the most common ones; choose another.", "Weak password"
        )


def new_password() -> str:
    """A random password that passes the rule: 4 groups of 4 letters and digits (80 bits)."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud or copied by hand
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


def _prehash(password: bytes) -> bytes:
    # bcrypt ignores bytes past 72; base64(SHA-256) is 44 bytes and has no NUL.
    return base64.b64encode(hashlib.sha256(password).digest())


def hash_password(password: str) -> str:
    """The value auth.db keeps for a password (bcrypt of the pre-hash)."""
    raw = encode_password(password)
    return bcrypt.hashpw(_prehash(raw), bcrypt.gensalt(BCRYPT_ROUNDS)).decode("ascii")


def matches(password: bytes, hashed: str) -> bool:
    """True when the password is the one `hashed` was made from."""
    try:
        return bcrypt.checkpw(_prehash(password), hashed.encode("ascii"))
    except ValueError:
        return False


_dummy_hash: dict[int, str] = {}


def waste_time(password: bytes) -> None:
    """Check against a throwaway hash so unknown usernames take as long as known ones."""
    rounds = BCRYPT_ROUNDS
    if rounds not in _dummy_hash:
        _dummy_hash[rounds] = bcrypt.hashpw(b"x", bcrypt.gensalt(rounds)).decode("ascii")
    matches(password, _dummy_hash[rounds])
