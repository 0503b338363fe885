"""Connection health, kept by the sync engine as runs end.

A run that fails adds one to the connection's consecutive failures and stores its error
and when; after `ERROR_AFTER_FAILURES` in a row the connection's `status` becomes
`error`, with a `status_message` saying what failed. Failing runs back off: the next one
waits `RETRY_BASE`, doubling with each failure up to `RETRY_CAP`. A run that succeeds
clears all of it and the connection is `active` again. `needs_reauth` is left alone:
only reconnecting clears it, and such a connection is not scheduled at all.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerbridge.connections import ConnectionStatus, get_connection, status_entered
from ledgerbridge.tables import connections

ACTIVE, ERROR = ConnectionStatus.ACTIVE, ConnectionStatus.ERROR

ERROR_AFTER_FAILURES = 3
RETRY_BASE = timedelta(minutes=1)
RETRY_CAP = timedelta(hours=1)


def retry_delay(consecutive_failures: int) -> timedelta:
    """How long to wait after the `consecutive_failures`-th failure in a row (>= 1)."""
    exponent = min(max(consecutive_failures - 1, 0), 16)
    delay: timedelta = min(RETRY_BASE * 2**exponent, RETRY_CAP)
    return delay


def run_succeeded(conn: Connection, connection_id: str) -> None:
    """Forget past failures; an `error` connection is `active` again."""
    conn.execute(
        sa.update(connections)
        .where(connections.c.id == connection_id)
        .values(
            consecutive_failures=0,
            status=sa.case((connections.c.status == ERROR, ACTIVE), else_=connections.c.status),
            status_message=sa.case(
                (connections.c.status == ERROR, None), else_=connections.c.status_message
            ),
        )
    )


def run_failed(conn: Connection, connection_id: str, message: str, now: datetime) -> timedelta:
    """Count the failure, mark the connection `error` once failures run long enough
    (announced to webhooks), and return how long to wait before the next run."""
    before = get_connection(conn, connection_id)
    failures = before.consecutive_failures + 1
    values: dict[str, object] = {
        "consecutive_failures": failures,
        "last_error": message,
        "last_error_at": now,
    }
    if failures >= ERROR_AFTER_FAILURES:
        values["status_message"] = (
            f"the last {failures} syncs failed (the latest at {now.isoformat()}): {message}"
        )
    conn.execute(
        sa.update(connections)
        .where(connections.c.id == connection_id, connections.c.status.in_([ACTIVE, ERROR]))
        .values(
            **values,
            **({"status": ERROR} if failures >= ERROR_AFTER_FAILURES else {}),
        )
    )
    status_entered(conn, connection_id, before.status, now=now)
    return retry_delay(failures)
