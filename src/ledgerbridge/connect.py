"""Connections to the local sandboxes, made without a browser: the sandbox issues the
tokens or keys a real platform would hand over at the end of its connect flow."""

from __future__ import annotations

from typing import Any

from ledgerbridge.connections import DEFAULT_SYNC_FREQUENCY_S, ConnectionInfo, create_connection
from ledgerbridge.crypto import CredentialCipher
from ledgerbridge.db import utcnow, write_transaction
from ledgerbridge.providers.catalog import PROVIDERS
from ledgerbridge.providers.qbo.oauth import stored_credentials
from ledgerbridge.runtime import Databases
from ledgerbridge.sandbox.base import SandboxContext
from ledgerbridge.sandbox.registry import get_sandbox


def _qbo(issued: dict[str, str]) -> dict[str, Any]:
    app = {key: issued[key] for key in ("realm_id", "client_id", "client_secret")}
    return stored_credentials(app, issued, utcnow())


def _qbd(issued: dict[str, str]) -> dict[str, Any]:
    return {
        "api_key": issued["CONDUCTOR_SECRET_KEY"],
        "end_user_id": issued["CONDUCTOR_END_USER_ID"],
    }


def _intacct(issued: dict[str, str]) -> dict[str, Any]:
    # Client credentials only: the connector asks for its own token, as it would in production.
    return {
        "client_id": issued["client_id"],
        "client_secret": issued["client_secret"],
        "username": issued["username"],
    }


_CREDENTIALS = {"qbo": _qbo, "qbd": _qbd, "intacct": _intacct}


def connect_sandbox(
    databases: Databases,
    cipher: CredentialCipher,
    *,
    provider: str,
    tenant: str,
    server_url: str,
    sync_frequency_s: int = DEFAULT_SYNC_FREQUENCY_S,
) -> ConnectionInfo:
    """A connection to a sandbox tenant served at `server_url` (created if new)."""
    server_url = server_url.rstrip("/")
    context = SandboxContext(engine=databases.sandbox, base_url=server_url)
    issued = get_sandbox(provider).credentials(context, tenant)
    with write_transaction(databases.main) as conn:
        return create_connection(
            conn,
            cipher,
            provider=provider,
            base_url=server_url + PROVIDERS[provider].sandbox_path,
            credentials=_CREDENTIALS[provider](issued),
            sync_frequency_s=sync_frequency_s,
            now=utcnow(),
        )
