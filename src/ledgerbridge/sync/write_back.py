"""Write-back: creating a customer, or changing some of its unified fields, in the platform.

A write goes to the platform first; what the platform answers is mapped by the platform's
plugin and stored at once, so the next `GET /customers` shows it without waiting for a
sync. The API calls these functions (and the CLI or a dashboard can), so the rules live
here and not in a route.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledgerbridge.connections import ConnectionInfo, ConnectionStatus
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.errors import NeedsReauthorisationError, NotFoundError
from ledgerbridge.providers.base import Connector
from ledgerbridge.providers.registry import get_platform
from ledgerbridge.sync.engine import SyncEnvironment, incoming_record, open_connector
from ledgerbridge.threads import in_thread
from ledgerbridge.unified.customer import MODEL_NAME
from ledgerbridge.unified.records import StoredRecord, get_record, save_records


def _writable(env: SyncEnvironment, connection: ConnectionInfo) -> Connector:
    if connection.status == ConnectionStatus.NEEDS_REAUTH:
        raise NeedsReauthorisationError(
            connection.status_message or "Re-authorise this connection."
        )
    return open_connector(env, connection)


def _store(
    env: SyncEnvironment, connection: ConnectionInfo, native: dict[str, Any]
) -> StoredRecord:
    """Upsert what the platform answered, and read it back as `GET` would show it."""
    record = incoming_record(get_platform(connection.provider).map_customer(native))
    scope: dict[str, Any] = {"connection_id": connection.id, "model": MODEL_NAME}
    with write_transaction(env.engine) as conn:
        save_records(conn, batch=[record], now=utcnow(), **scope)
        stored = get_record(conn, external_id=record.external_id, with_remote=False, **scope)
    assert stored is not None
    return stored


def _known(env: SyncEnvironment, connection: ConnectionInfo, customer_id: str) -> StoredRecord:
    with read_transaction(env.engine) as conn:
        known = get_record(
            conn,
            connection_id=connection.id,
            model=MODEL_NAME,
            external_id=customer_id,
            with_remote=True,
        )
    if known is None:
        raise NotFoundError(f"No customer {customer_id!r} in this connection.")
    return known


async def create_customer(
    env: SyncEnvironment, connection: ConnectionInfo, fields: Mapping[str, Any]
) -> StoredRecord:
    """Create the customer in the platform and store what it answered."""
    connector = _writable(env, connection)
    native = await connector.create(fields)
    return await in_thread(_store, env, connection, native)


async def update_customer(
    env: SyncEnvironment,
    connection: ConnectionInfo,
    customer_id: str,
    changes: Mapping[str, Any],
) -> StoredRecord:
    """Change the given fields of a synced customer, based on the version last synced
    (a customer changed in the platform since fails with `ConflictError`)."""
    known = await in_thread(_known, env, connection, customer_id)
    connector = _writable(env, connection)
    native = await connector.update(customer_id, changes, known.remote_data)
    return await in_thread(_store, env, connection, native)
