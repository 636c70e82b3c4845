"""Secrets at rest: Fernet encryption with a key file (mode 0600) in Tusk's home."""

from __future__ import annotations

import os

from tusk import config
from tusk.errors import BadInput

KEY_FILE = "secret.key"
PREFIX = "fernet:"


def _fernet():  # -> cryptography.fernet.Fernet (imported lazily: the CLI must start fast)
    from cryptography.fernet import Fernet

    path = config.home() / KEY_FILE
    if not path.exists():
        # Only if still absent: two processes making a key at once must not each keep their own.
        config.write_new(path, Fernet.generate_key(), mode=0o600)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)  # never leave the key readable by others
    return Fernet(path.read_bytes().strip())


def encrypt(secret: str) -> str:
    """Encrypt a secret for storage."""
    return PREFIX + _fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    """Decrypt a stored secret (BadInput if the key file changed)."""
    from cryptography.fernet import InvalidToken

    if not token.startswith(PREFIX):
        raise BadInput("A stored secret is not encrypted by Tusk; enter the password again.")
    try:
        return _fernet().decrypt(token[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise BadInput(
            "A stored password cannot be decrypted (the key file secret.key changed); "
            "edit the connection and enter the password again."
        ) from None
