"""Credentials at rest: Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`.

The key comes from `LEDGERBRIDGE_SECRET_KEY`, or from `ledgerbridge.key` in the data folder,
generated (mode 0600) on first start. Lose the key and stored credentials are lost too.
"""

from __future__ import annotations

import os
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken

from ledgerbridge.config import Settings
from ledgerbridge.errors import ConfigurationError

KEY_FILE = "ledgerbridge.key"


def load_or_create_key(settings: Settings) -> bytes:
    if settings.secret_key:
        return settings.secret_key.encode()
    path = settings.data_dir / KEY_FILE
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key + b"\n")
    return key


class CredentialCipher:
    """Encrypts and decrypts a connection's credentials (a JSON object)."""

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except ValueError as exc:
            raise ConfigurationError(
                "LEDGERBRIDGE_SECRET_KEY is not a Fernet key (32 url-safe base64-encoded bytes)"
            ) from exc

    def encrypt(self, credentials: dict[str, Any]) -> str:
        return self._fernet.encrypt(orjson.dumps(credentials)).decode()

    def decrypt(self, token: str, ttl: int | None = None) -> dict[str, Any]:
        """The object back; with `ttl`, refused when older than that many seconds."""
        try:
            value: dict[str, Any] = orjson.loads(self._fernet.decrypt(token.encode(), ttl=ttl))
        except InvalidToken as exc:
            raise ConfigurationError(
                "stored credentials cannot be decrypted: the secret key changed"
            ) from exc
        return value
