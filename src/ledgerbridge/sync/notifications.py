"""Change notifications a platform pushes (QuickBooks Online's webhooks): verified, mapped
to the connections of the account they name, and turned into incremental runs.

A notification is a hint, never data: the run reads the platform as every run does, so a
lost, late, repeated or forged-but-validly-signed notification cannot corrupt a record, and
the schedule still runs as the safety net for lost ones. A burst causes one run: a
connection with a run already waiting gets none more (the waiting run will read the change),
and one whose latest run started after the change (plus `COVERED_MARGIN`) and has not
failed gets none either (that run reads it, or already did: a late or repeated notification
costs nothing). Otherwise a run is queued, behind the running one if there is one ("run
again after this one", which is what keeps a change made during a run from waiting for the
schedule).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ledgerbridge.connections import connections_of_account
from ledgerbridge.db import write_transaction
from ledgerbridge.errors import ConnectionPausedError, LedgerBridgeError, NeedsReauthorisationError
from ledgerbridge.observability import metrics
from ledgerbridge.observability.logs import get_logger
from ledgerbridge.providers.plugin import AccountChange, ChangeNotifications
from ledgerbridge.sync.runs import RunStatus, list_runs, request_run
from ledgerbridge.tables import connections

log = get_logger(__name__)

TRIGGER = "notification"
COVERED_MARGIN = timedelta(seconds=2)
"""A run that started this long after a change surely reads it: QuickBooks prints times to
the second (a change stamped 12:00:00 may be 12:00:00.999) and the platform's clock is not
ours; a skew beyond this only costs the schedule's delay, never a record."""


class SignatureRefusedError(LedgerBridgeError):
    """The notification's signature is missing or does not match the configured secret."""


class Nudge(StrEnum):
    """What a notification did to one connection."""

    REQUESTED = "requested"
    """A run was queued."""
    COALESCED = "coalesced"
    """A run was already waiting; it reads the change."""
    COVERED = "covered"
    """The latest run started after the change: it reads it or already did."""
    SKIPPED = "skipped"
    """The connection must be re-authorised first; no run can succeed."""


@dataclass(frozen=True)
class NotificationReceipt:
    changes: int
    accounts: int
    connections: int
    runs_requested: int


def verify_and_read(
    notifications: ChangeNotifications,
    *,
    provider: str,
    body: bytes,
    signature: str | None,
    token: str,
) -> list[AccountChange]:
    """The changes a validly signed notification reports. `SignatureRefusedError` when
    unsigned or badly signed (checked before the body is parsed); `ParseError` when the
    body is not one of the platform's notifications."""
    if not signature or not notifications.verify(body, signature, token):
        metrics.NOTIFICATIONS_REFUSED.labels(provider, "signature").inc()
        log.warning("change notification refused: bad signature", provider=provider)
        raise SignatureRefusedError(
            f"the {notifications.signature_header} header is missing or does not sign this "
            "body with the configured verifier token"
        )
    try:
        return notifications.changes(body)
    except ValueError:
        metrics.NOTIFICATIONS_REFUSED.labels(provider, "body").inc()
        raise


def request_runs(
    engine: Engine, *, provider: str, changes: Sequence[AccountChange], now: datetime
) -> NotificationReceipt:
    """Nudge the connections of every account the changes name (see the module docstring).
    Accounts with no connection are ignored: notifications come for every company
    connected to the app, some may be connected to something else."""
    latest: dict[str, datetime | None] = {}
    undated: set[str] = set()
    for change in changes:
        if change.changed_at is None:
            undated.add(change.account_id)
        previous = latest.get(change.account_id)
        if change.changed_at is not None and (previous is None or change.changed_at > previous):
            latest[change.account_id] = change.changed_at
        latest.setdefault(change.account_id, None)
    outcomes: dict[Nudge, int] = defaultdict(int)
    reached = 0
    with write_transaction(engine) as conn:
        for account_id, changed_at in latest.items():
            for connection in connections_of_account(conn, provider, account_id):
                reached += 1
                when = None if account_id in undated else changed_at
                outcomes[_nudge(conn, connection.id, when, now)] += 1
    metrics.NOTIFICATIONS_RECEIVED.labels(provider).inc()
    for outcome, count in outcomes.items():
        metrics.NOTIFICATION_RUNS.labels(provider, outcome.value).inc(count)
    receipt = NotificationReceipt(
        changes=len(changes),
        accounts=len(latest),
        connections=reached,
        runs_requested=outcomes[Nudge.REQUESTED],
    )
    log.info(
        "change notification",
        provider=provider,
        changes=receipt.changes,
        accounts=receipt.accounts,
        connections=receipt.connections,
        **{outcome.value: count for outcome, count in outcomes.items()},
    )
    return receipt


def _nudge(
    conn: Connection, connection_id: str, changed_at: datetime | None, now: datetime
) -> Nudge:
    # The connection's row is locked (PostgreSQL) so two notifications at once cannot
    # both find no waiting run and queue two.
    conn.execute(
        sa.select(connections.c.id).where(connections.c.id == connection_id).with_for_update()
    )
    newest = next(iter(list_runs(conn, connection_id, limit=1)), None)
    if newest is not None and newest.status == RunStatus.QUEUED:
        return Nudge.COALESCED
    if (
        newest is not None
        and changed_at is not None
        and newest.status in (RunStatus.RUNNING, RunStatus.SUCCEEDED)
        and newest.started_at is not None
        and newest.started_at >= changed_at + COVERED_MARGIN
    ):
        return Nudge.COVERED
    try:
        request_run(conn, connection_id, full=False, trigger=TRIGGER, now=now)
    except (NeedsReauthorisationError, ConnectionPausedError):
        return Nudge.SKIPPED
    return Nudge.REQUESTED
