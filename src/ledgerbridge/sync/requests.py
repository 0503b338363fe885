"""Asking for a run: what `POST /connections/{id}/sync`, the CLI and change notifications
all call. The caller wakes its scheduler once the transaction is committed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Connection

from ledgerbridge.connections import ConnectionStatus, get_connection
from ledgerbridge.errors import NeedsReauthorisationError
from ledgerbridge.sync.runs import SyncRunInfo, enqueue


def request_run(
    conn: Connection, connection_id: str, *, full: bool, trigger: str, now: datetime
) -> SyncRunInfo:
    """Queue a run of the connection, or reuse the one already waiting (made full if this
    asks for full). `NotFoundError` for an unknown connection; `NeedsReauthorisationError`
    when it must be re-authorised first (a run would only fail)."""
    connection = get_connection(conn, connection_id)
    if connection.status == ConnectionStatus.NEEDS_REAUTH:
        raise NeedsReauthorisationError(
            connection.status_message or "Re-authorise this connection."
        )
    return enqueue(conn, connection_id, full=full, trigger=trigger, now=now)
