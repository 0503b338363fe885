"""What a granted OAuth authorisation does to the connections of an environment.

In order: a flow that targets a connection (`?connection_id=`, re-authorisation) restores
that connection, keeping its id, records and checkpoint; a connect session's end user who
already has a connection of the platform gets it restored; a company (QuickBooks realm)
already connected in the environment has that connection restored instead of a twin made,
unless the caller asked for a duplicate; otherwise a new connection is made. Restoring
refuses a grant for another company than the connection's (its records would mix two
companies' customers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection as DbConnection

from ledgerbridge.connections import (
    ConnectionChanges,
    ConnectionInfo,
    connection_of_end_user,
    connections_of_account,
    create_connection,
    get_connection,
    restore_credentials,
    update_connection,
)
from ledgerbridge.crypto import CredentialCipher
from ledgerbridge.errors import LedgerBridgeError, NotFoundError


class ConnectRefusal(LedgerBridgeError):
    """The grant cannot be stored; `code` goes back to the app's `redirect_uri`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Grant:
    """What the flow brought back, and what it was started for."""

    environment: str
    provider: str
    base_url: str
    credentials: dict[str, Any]
    remote_account_id: str | None
    sync_frequency_s: int
    target_id: str | None = None
    allow_duplicate: bool = False
    end_user_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


def _restore(
    conn: DbConnection,
    cipher: CredentialCipher,
    target: ConnectionInfo,
    grant: Grant,
    now: datetime,
) -> ConnectionInfo:
    if target.remote_account_id not in (None, grant.remote_account_id):
        raise ConnectRefusal(
            "account_mismatch",
            f"connection {target.id} reaches account {target.remote_account_id}, not "
            f"{grant.remote_account_id}: authorise the same company, or connect a new one",
        )
    restore_credentials(
        conn, cipher, target.id, grant.credentials, grant.remote_account_id, now=now
    )
    if grant.end_user_id is not None and target.end_user_id is None:
        changes = ConnectionChanges(end_user_id=grant.end_user_id, metadata=dict(grant.metadata))
        return update_connection(conn, cipher, target, changes, now=now)
    return get_connection(conn, target.id)


def store_grant(
    conn: DbConnection, cipher: CredentialCipher, grant: Grant, *, now: datetime
) -> ConnectionInfo:
    """The connection the grant restored or made (see the module docstring)."""
    if grant.target_id is not None:
        try:
            target = get_connection(conn, grant.target_id, environment=grant.environment)
        except NotFoundError:
            raise ConnectRefusal(
                "unknown_connection", f"connection {grant.target_id} no longer exists"
            ) from None
        return _restore(conn, cipher, target, grant, now)
    if grant.end_user_id is not None:
        mine = connection_of_end_user(conn, grant.environment, grant.provider, grant.end_user_id)
        if mine is not None:
            return _restore(conn, cipher, mine, grant, now)
    if not grant.allow_duplicate and grant.remote_account_id is not None:
        twins = [
            c
            for c in connections_of_account(conn, grant.provider, grant.remote_account_id)
            if c.environment == grant.environment
            and (grant.end_user_id is None or c.end_user_id is None)
        ]
        if twins:
            return _restore(conn, cipher, twins[0], grant, now)
    return create_connection(
        conn,
        cipher,
        provider=grant.provider,
        base_url=grant.base_url,
        credentials=grant.credentials,
        sync_frequency_s=grant.sync_frequency_s,
        now=now,
        remote_account_id=grant.remote_account_id,
        environment=grant.environment,
        end_user_id=grant.end_user_id,
        metadata=grant.metadata,
    )
