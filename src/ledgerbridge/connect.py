"""Connections to the local sandboxes, made without a browser: the sandbox issues the
tokens or keys a real platform would hand over at the end of its connect flow, and the
platform's plugin stores them as that flow would."""

from __future__ import annotations

from ledgerbridge.connections import DEFAULT_SYNC_FREQUENCY_S, ConnectionInfo, create_connection
from ledgerbridge.crypto import CredentialCipher
from ledgerbridge.db import utcnow, write_transaction
from ledgerbridge.environments import DEFAULT_ENVIRONMENT, require_environment
from ledgerbridge.providers.registry import get_platform
from ledgerbridge.runtime import Databases
from ledgerbridge.sandbox.base import SandboxContext


def connect_sandbox(
    databases: Databases,
    cipher: CredentialCipher,
    *,
    provider: str,
    tenant: str,
    server_url: str,
    sync_frequency_s: int = DEFAULT_SYNC_FREQUENCY_S,
    environment: str = DEFAULT_ENVIRONMENT,
) -> ConnectionInfo:
    """A connection to a sandbox tenant served at `server_url` (created if new)."""
    platform = get_platform(provider)
    server_url = server_url.rstrip("/")
    context = SandboxContext(engine=databases.sandbox, base_url=server_url)
    issued = platform.sandbox.credentials(context, tenant)
    credentials = platform.sandbox_credentials(issued, utcnow())
    with write_transaction(databases.main) as conn:
        return create_connection(
            conn,
            cipher,
            provider=provider,
            base_url=server_url + platform.sandbox_path,
            credentials=credentials,
            sync_frequency_s=sync_frequency_s,
            now=utcnow(),
            remote_account_id=platform.remote_account_id(credentials),
            environment=require_environment(conn, environment),
        )
