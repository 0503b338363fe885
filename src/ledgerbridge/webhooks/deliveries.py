"""Deliveries as stored: one row per (event, subscription), leased by one worker at a time,
and every HTTP attempt made for it.

Leases work as the sync leases do (`sync/leases.py`): a claim is a conditional UPDATE
(only when the lease is free or expired), the search for due rows locks candidates with
`FOR UPDATE SKIP LOCKED` on PostgreSQL so racing workers skip each other's rows, and
SQLite's write lock serialises claims. A worker that dies mid-delivery leaves a lease that
expires; another worker then takes the delivery over and sends it again (at least once).

Order: a delivery is due only when no earlier delivery of the same subscription with the
same ordering key (the connection) is still pending, so one subscription receives one
connection's events in the order they were written, and a later event waits while an
earlier one is being retried. Different connections and subscriptions do not wait for
one another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerbridge.db import is_sqlite
from ledgerbridge.errors import NotFoundError
from ledgerbridge.tables import (
    webhook_attempts,
    webhook_deliveries,
    webhook_events,
    webhook_subscriptions,
)
from ledgerbridge.webhooks import subscriptions
from ledgerbridge.webhooks.events import DeliveryStatus, new_delivery

PENDING = DeliveryStatus.PENDING
SNIPPET_CHARS = 500
"""How much of a receiver's answer an attempt keeps."""


@dataclass(frozen=True)
class Attempt:
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    response_snippet: str | None
    error: str | None
    worker: str


@dataclass(frozen=True)
class Delivery:
    """A delivery with its event and every attempt made, oldest first."""

    id: int
    subscription_id: str
    event_id: str
    event_type: str
    connection_id: str | None
    status: DeliveryStatus
    attempts: list[Attempt]
    created_at: datetime
    next_attempt_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class Claimed:
    """A delivery a worker holds the lease of, with what it needs to send it."""

    id: int
    subscription_id: str
    url: str
    event_id: str
    event_type: str
    event_created_at: datetime
    data: Any
    attempts: int
    created_at: datetime


_EVENT_JOIN = webhook_deliveries.join(
    webhook_events, webhook_events.c.seq == webhook_deliveries.c.event_seq
)


def list_deliveries(
    conn: Connection,
    subscription_id: str,
    *,
    environment: str,
    limit: int,
    delivery_id: int | None = None,
) -> list[Delivery]:
    """The subscription's deliveries (or the one `delivery_id`), newest first, each with
    its attempts."""
    subscriptions.get_subscription(conn, subscription_id, environment=environment)
    query = (
        sa.select(
            webhook_deliveries,
            webhook_events.c.id.label("event_id"),
            webhook_events.c.type.label("event_type"),
            webhook_events.c.connection_id,
        )
        .select_from(_EVENT_JOIN)
        .where(webhook_deliveries.c.subscription_id == subscription_id)
        .order_by(webhook_deliveries.c.id.desc())
        .limit(limit)
    )
    if delivery_id is not None:
        query = query.where(webhook_deliveries.c.id == delivery_id)
    rows = conn.execute(query).all()
    attempts: dict[int, list[Attempt]] = {row.id: [] for row in rows}
    for attempt in conn.execute(
        sa.select(webhook_attempts)
        .where(webhook_attempts.c.delivery_id.in_(list(attempts)))
        .order_by(webhook_attempts.c.id)
    ):
        attempts[attempt.delivery_id].append(
            Attempt(
                attempted_at=attempt.attempted_at,
                status_code=attempt.status_code,
                latency_ms=attempt.latency_ms,
                response_snippet=attempt.response_snippet,
                error=attempt.error,
                worker=attempt.worker,
            )
        )
    return [
        Delivery(
            id=row.id,
            subscription_id=row.subscription_id,
            event_id=row.event_id,
            event_type=row.event_type,
            connection_id=row.connection_id,
            status=DeliveryStatus(row.status),
            attempts=attempts[row.id],
            created_at=row.created_at,
            next_attempt_at=row.next_attempt_at if row.status == PENDING else None,
            finished_at=row.finished_at,
        )
        for row in rows
    ]


def redeliver(
    conn: Connection, subscription_id: str, delivery_id: int, *, environment: str, now: datetime
) -> Delivery:
    """Send the delivery's event again, as a new delivery due now, with the same event id
    (receivers de-duplicate on it). It is ordered after whatever is already pending."""
    subscriptions.get_subscription(conn, subscription_id, environment=environment)
    row = conn.execute(
        sa.select(webhook_deliveries.c.event_seq, webhook_deliveries.c.ordering_key).where(
            webhook_deliveries.c.id == delivery_id,
            webhook_deliveries.c.subscription_id == subscription_id,
        )
    ).first()
    if row is None:
        raise NotFoundError(
            f"delivery {delivery_id} of webhook subscription {subscription_id!r} does not exist"
        )
    new_id = conn.execute(
        sa.insert(webhook_deliveries)
        .values(
            new_delivery(subscription_id, row.event_seq, ordering_key=row.ordering_key, now=now)
        )
        .returning(webhook_deliveries.c.id)
    ).scalar_one()
    (delivery,) = list_deliveries(
        conn, subscription_id, environment=environment, limit=1, delivery_id=new_id
    )
    return delivery


def _free(now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(
        webhook_deliveries.c.lease_owner.is_(None), webhook_deliveries.c.lease_expires_at < now
    )


def claim_due(
    conn: Connection, owner: str, *, now: datetime, ttl: timedelta, limit: int
) -> list[Claimed]:
    """Lease up to `limit` due deliveries of enabled subscriptions, each the earliest
    pending one of its subscription and connection."""
    earlier = webhook_deliveries.alias("earlier")
    waits = sa.exists().where(
        earlier.c.subscription_id == webhook_deliveries.c.subscription_id,
        earlier.c.ordering_key == webhook_deliveries.c.ordering_key,
        earlier.c.status == PENDING,
        earlier.c.id < webhook_deliveries.c.id,
    )
    query = (
        sa.select(webhook_deliveries.c.id)
        .join(
            webhook_subscriptions,
            webhook_subscriptions.c.id == webhook_deliveries.c.subscription_id,
        )
        .where(
            webhook_deliveries.c.status == PENDING,
            webhook_deliveries.c.next_attempt_at <= now,
            _free(now),
            webhook_subscriptions.c.enabled.is_(True),
            ~waits,
        )
        .order_by(webhook_deliveries.c.id)
        .limit(limit)
    )
    if not is_sqlite(conn):
        query = query.with_for_update(of=webhook_deliveries, skip_locked=True)
    candidates = list(conn.execute(query).scalars())
    claimed = [
        delivery_id
        for delivery_id in candidates
        if conn.execute(
            sa.update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery_id, _free(now))
            .values(lease_owner=owner, lease_expires_at=now + ttl)
        ).rowcount
        == 1
    ]
    if not claimed:
        return []
    rows = conn.execute(
        sa.select(
            webhook_deliveries.c.id,
            webhook_deliveries.c.subscription_id,
            webhook_subscriptions.c.url,
            webhook_events.c.id.label("event_id"),
            webhook_events.c.type.label("event_type"),
            webhook_events.c.created_at.label("event_created_at"),
            webhook_events.c.data,
            webhook_deliveries.c.attempts,
            webhook_deliveries.c.created_at,
        )
        .select_from(
            _EVENT_JOIN.join(
                webhook_subscriptions,
                webhook_subscriptions.c.id == webhook_deliveries.c.subscription_id,
            )
        )
        .where(webhook_deliveries.c.id.in_(claimed))
        .order_by(webhook_deliveries.c.id)
    )
    return [Claimed(**row._mapping) for row in rows]


def release(conn: Connection, delivery_ids: list[int], owner: str) -> None:
    """Give up the leases this owner still holds on these deliveries (unsent: due again)."""
    conn.execute(
        sa.update(webhook_deliveries)
        .where(webhook_deliveries.c.id.in_(delivery_ids), webhook_deliveries.c.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
    )


@dataclass(frozen=True)
class AttemptResult:
    """What one HTTP attempt came to: a 2xx is a success, anything else a failure."""

    status_code: int | None
    latency_ms: int
    response_snippet: str | None
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def record_attempt(
    conn: Connection,
    claimed: Claimed,
    owner: str,
    result: AttemptResult,
    *,
    now: datetime,
    retry_in: timedelta,
    retry_window: timedelta,
) -> DeliveryStatus | None:
    """Store the attempt and what follows: succeeded; pending again in `retry_in`; or, once
    retrying would go past `retry_window` from the delivery's creation, failed, with its
    subscription disabled saying why. None when this worker no longer held the lease (it
    expired and another took over): the attempt is kept, the delivery is the other's."""
    conn.execute(
        sa.insert(webhook_attempts).values(
            delivery_id=claimed.id,
            attempted_at=now,
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            response_snippet=result.response_snippet,
            error=result.error,
            worker=owner,
        )
    )
    if result.succeeded:
        status, values = DeliveryStatus.SUCCEEDED, {"finished_at": now}
    elif now + retry_in - claimed.created_at > retry_window:
        status, values = DeliveryStatus.FAILED, {"finished_at": now}
    else:
        status, values = PENDING, {"next_attempt_at": now + retry_in}
    held = conn.execute(
        sa.update(webhook_deliveries)
        .where(webhook_deliveries.c.id == claimed.id, webhook_deliveries.c.lease_owner == owner)
        .values(
            status=status,
            attempts=webhook_deliveries.c.attempts + 1,
            lease_owner=None,
            lease_expires_at=None,
            **values,
        )
    )
    if held.rowcount != 1:
        return None
    if status == DeliveryStatus.FAILED:
        why = result.error or f"HTTP {result.status_code}"
        reason = (
            f"disabled at {now.isoformat()}: event {claimed.event_id} failed "
            f"{claimed.attempts + 1} attempts since {claimed.created_at.isoformat()} ({why}); "
            "fix the receiver, then PATCH enabled=true and redeliver what it missed"
        )
        subscriptions.disable(conn, claimed.subscription_id, reason, now=now)
    return status


def backlog(conn: Connection) -> int:
    """Deliveries not yet made (pending, of every subscription)."""
    count: int = conn.execute(
        sa.select(sa.func.count())
        .select_from(webhook_deliveries)
        .where(webhook_deliveries.c.status == PENDING)
    ).scalar_one()
    return count
