"""The outbox: events written in the same transaction as the state change that causes them,
with one delivery per subscription that wants them, so an event exists if and only if its
change was committed, and no event is lost between the change and its delivery.

Each event has a stable id (`evt_...`) that every attempt and redelivery carries: receivers
de-duplicate on it. Its body is built from the stored row, identical on every attempt.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerbridge.environments import DEFAULT_ENVIRONMENT
from ledgerbridge.json import dumps
from ledgerbridge.tables import (
    connections,
    webhook_deliveries,
    webhook_events,
    webhook_subscriptions,
)

if TYPE_CHECKING:  # both import this module
    from ledgerbridge.connections import ConnectionInfo
    from ledgerbridge.sync.runs import SyncRunInfo


class EventType(StrEnum):
    """Every event a subscription can ask for."""

    SYNC_SUCCEEDED = "sync.succeeded"
    SYNC_FAILED = "sync.failed"
    CONNECTION_CREATED = "connection.created"
    CONNECTION_DELETED = "connection.deleted"
    CONNECTION_NEEDS_REAUTH = "connection.needs_reauth"
    CONNECTION_ERROR = "connection.error"


EVENT_TYPES = tuple(event.value for event in EventType)


class DeliveryStatus(StrEnum):
    """`pending` until a 2xx answer (`succeeded`) or until retries run out (`failed`)."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def connection_environment(conn: Connection, connection_id: str) -> str:
    """The environment a connection's events belong to (the connection's own): the one
    place that decides it. Events are written while the connection still exists (a
    deletion's is written before its rows go)."""
    environment = conn.execute(
        sa.select(connections.c.environment).where(connections.c.id == connection_id)
    ).scalar_one_or_none()
    return str(environment) if environment is not None else DEFAULT_ENVIRONMENT


def record_event(
    conn: Connection,
    event_type: EventType,
    *,
    connection_id: str,
    data: dict[str, Any],
    now: datetime,
    empty_sync: bool = False,
    environment: str | None = None,
) -> str:
    """Write the event, and a pending delivery for each enabled subscription of the
    connection's environment that asked for its type, in the caller's transaction; its id.
    An `empty_sync` (a run that changed nothing) goes only to subscriptions with
    `include_empty_syncs`. `environment` is the connection's, when the caller has it."""
    if environment is None:
        environment = connection_environment(conn, connection_id)
    event_id = "evt_" + secrets.token_hex(12)
    seq = conn.execute(
        sa.insert(webhook_events)
        .values(
            id=event_id,
            environment=environment,
            type=event_type.value,
            connection_id=connection_id,
            created_at=now,
            data=data,
        )
        .returning(webhook_events.c.seq)
    ).scalar_one()
    wanting = [
        row.id
        for row in conn.execute(
            sa.select(
                webhook_subscriptions.c.id,
                webhook_subscriptions.c.events,
                webhook_subscriptions.c.include_empty_syncs,
            ).where(
                webhook_subscriptions.c.environment == environment,
                webhook_subscriptions.c.enabled.is_(True),
            )
        )
        if event_type.value in row.events and (row.include_empty_syncs or not empty_sync)
    ]
    if wanting:
        conn.execute(
            sa.insert(webhook_deliveries),
            [
                new_delivery(subscription_id, seq, ordering_key=connection_id, now=now)
                for subscription_id in wanting
            ],
        )
    return event_id


def new_delivery(
    subscription_id: str, event_seq: int, *, ordering_key: str, now: datetime
) -> dict[str, Any]:
    """The values of a delivery row that is due at once."""
    return {
        "subscription_id": subscription_id,
        "event_seq": event_seq,
        "ordering_key": ordering_key,
        "status": DeliveryStatus.PENDING,
        "created_at": now,
        "next_attempt_at": now,
    }


def event_body(event_id: str, event_type: str, created_at: datetime, data: Any) -> bytes:
    """The JSON body every attempt of the event sends (the bytes that are signed)."""
    return dumps({"id": event_id, "type": event_type, "created_at": created_at, "data": data})


# The event shapes (`data`), one function each, as the README documents them.


def sync_finished(
    conn: Connection,
    run: SyncRunInfo,
    *,
    provider: str,
    environment: str,
    model: str,
    resume_cursor: str,
    will_retry: bool,
    now: datetime,
) -> str:
    """`sync.succeeded` or `sync.failed` for a run that just ended. `resume_cursor` reads
    every change committed since the run began (`GET /customers?cursor=...`)."""
    data: dict[str, Any] = {
        "connection_id": run.connection_id,
        "provider": provider,
        "model": model,
        "run_id": run.id,
        "trigger": run.trigger,
        "kind": run.kind.value,
        "added": run.added,
        "updated": run.updated,
        "deleted": run.deleted,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
    }
    succeeded = run.status == "succeeded"
    if succeeded:
        data["cursor"] = resume_cursor
    else:
        data |= {"error": run.error, "will_retry": will_retry}
    return record_event(
        conn,
        EventType.SYNC_SUCCEEDED if succeeded else EventType.SYNC_FAILED,
        connection_id=run.connection_id,
        data=data,
        now=now,
        empty_sync=succeeded and run.added + run.updated + run.deleted == 0,
        environment=environment,
    )


def connection_changed(
    conn: Connection, event_type: EventType, info: ConnectionInfo, *, now: datetime
) -> str:
    """`connection.created`, `.deleted`, `.needs_reauth` or `.error`: the connection as
    `GET /connections/{id}` shows it (credentials never)."""
    data = {
        "connection_id": info.id,
        "provider": info.provider,
        "status": info.status.value,
        "status_message": info.status_message,
        "consecutive_failures": info.consecutive_failures,
        "last_error": info.last_error,
        "created_at": info.created_at,
    }
    return record_event(conn, event_type, connection_id=info.id, data=data, now=now)
