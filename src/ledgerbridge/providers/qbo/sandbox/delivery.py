"""Delivering the QuickBooks Online sandbox's change notifications: each app's due changes
in one signed POST, in its payload format, retried as Intuit retries (see `notifications.py`
for what Intuit documents and the knobs)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.providers.qbo.sandbox.notifications import (
    STATS,
    WebhookSettings,
    get_webhook,
    listen,
)
from ledgerbridge.providers.qbo.sandbox.tables import webhook_events
from ledgerbridge.threads import in_thread
from ledgerbridge.tls import tls_context

log = logging.getLogger(__name__)

POLL_S = 1.0
"""How often the deliverer looks for changes written by another process (the CLI)."""
_CLOUDEVENT_TYPES = {
    "Create": "created",
    "Update": "updated",
    "Merge": "merged",
    "Delete": "deleted",
}


def sign(body: bytes, verifier_token: str) -> str:
    """`intuit-signature`: base64 of the HMAC-SHA256 of the body, keyed with the token."""
    digest = hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _utc_text(moment: datetime) -> str:
    """`2025-09-08T20:52:31.657Z`, as Intuit prints notification times."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def payload(events: Sequence[Any], settings: WebhookSettings, client_id: str) -> bytes:
    """One POST's body for the app's format, events in outbox order."""
    if settings.payload_format == "legacy":
        by_realm: dict[str, list[dict[str, Any]]] = {}
        for event in events:
            entity: dict[str, Any] = {
                "name": "Customer",
                "id": event.entity_id,
                "operation": event.operation,
                "lastUpdated": _utc_text(event.changed_at),
            }
            if event.deleted_id is not None:
                entity["deletedId"] = event.deleted_id
            by_realm.setdefault(event.realm_id, []).append(entity)
        body: Any = {
            "eventNotifications": [
                {"realmId": realm, "dataChangeEvent": {"entities": entities}}
                for realm, entities in by_realm.items()
            ]
        }
    else:
        source = "intuit." + base64.b64encode(hashlib.sha256(client_id.encode()).digest()).decode()
        body = [
            {
                "specversion": "1.0",
                "id": f"{event.event_id}-Customer-{event.entity_id}",
                "source": source,
                "type": f"qbo.customer.{_CLOUDEVENT_TYPES[event.operation]}.v1",
                "datacontenttype": "application/json",
                "time": _utc_text(event.changed_at),
                "intuitentityid": event.entity_id,
                "intuitaccountid": event.realm_id,
                "data": {} if event.deleted_id is None else {"deletedid": event.deleted_id},
            }
            for event in events
        ]
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass
class _Batch:
    client_id: str
    settings: WebhookSettings
    events: list[Any] = field(default_factory=list)


class Deliverer:
    """POSTs the outbox: each app's due changes in one signed request, retried on failure
    as Intuit retries. One per process that serves the sandbox."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock
        self._wake = asyncio.Event()
        self._next_due: datetime | None = None

    def _take_due(self, now: datetime) -> list[_Batch]:
        """Each app with a change due, with every change of its batch: those due, and
        those written since that wait only for the window (Intuit aggregates what happens
        within it); delayed ones and retries keep their time."""
        batches: list[_Batch] = []
        with read_transaction(self.engine) as connection:
            apps = connection.execute(
                sa.select(webhook_events.c.client_id)
                .where(webhook_events.c.due_at <= now)
                .group_by(webhook_events.c.client_id)
            ).scalars()
            for client_id in list(apps):
                settings = get_webhook(connection, client_id)
                if settings is None:
                    continue
                window = timedelta(milliseconds=settings.batch_window_ms)
                pending = connection.execute(
                    sa.select(webhook_events)
                    .where(webhook_events.c.client_id == client_id)
                    .order_by(webhook_events.c.id)
                    .limit(1000)
                ).all()
                events = [
                    event
                    for event in pending
                    if event.due_at <= now or (event.attempts == 0 and event.due_at <= now + window)
                ]
                batches.append(_Batch(client_id, settings, events))
        return batches

    def _acknowledged(self, batch: _Batch) -> None:
        with write_transaction(self.engine) as connection:
            connection.execute(
                sa.delete(webhook_events).where(
                    webhook_events.c.id.in_([event.id for event in batch.events])
                )
            )
        STATS.delivered += len(batch.events)

    def _failed(self, batch: _Batch, now: datetime) -> None:
        """Retry later; the app's other pending changes wait behind this batch (Intuit:
        "you may not receive subsequent events ... until you correctly acknowledge")."""
        attempts = max(event.attempts for event in batch.events) + 1
        ids = [event.id for event in batch.events]
        with write_transaction(self.engine) as connection:
            if attempts >= batch.settings.max_attempts:
                connection.execute(sa.delete(webhook_events).where(webhook_events.c.id.in_(ids)))
                STATS.given_up += len(ids)
                log.warning("qbo sandbox webhook given up", extra={"client_id": batch.client_id})
                return
            retry_at = now + timedelta(seconds=batch.settings.retry_delay(attempts))
            connection.execute(
                sa.update(webhook_events)
                .where(webhook_events.c.id.in_(ids))
                .values(attempts=attempts, due_at=retry_at)
            )
            connection.execute(
                sa.update(webhook_events)
                .where(
                    webhook_events.c.client_id == batch.client_id,
                    webhook_events.c.due_at < retry_at,
                )
                .values(due_at=retry_at)
            )

    async def _post(self, http: httpx.AsyncClient, batch: _Batch) -> None:
        body = payload(batch.events, batch.settings, batch.client_id)
        headers = {
            "content-type": "application/json",
            "intuit-signature": sign(body, batch.settings.verifier_token),
        }
        STATS.posts += 1
        try:
            response = await http.post(
                batch.settings.endpoint_url,
                content=body,
                headers=headers,
                timeout=batch.settings.timeout_s,
            )
            ok = response.is_success
        except httpx.HTTPError:
            ok = False
        if ok:
            await in_thread(self._acknowledged, batch)
        else:
            STATS.failed_posts += 1
            await in_thread(self._failed, batch, self.clock())

    def _earliest_due(self) -> datetime | None:
        with read_transaction(self.engine) as connection:
            value: datetime | None = connection.execute(
                sa.select(sa.func.min(webhook_events.c.due_at))
            ).scalar()
        return value

    def _woken(self, due_at: datetime) -> None:
        """Called from the thread that wrote changes: look again once they are due."""
        self._next_due = due_at if self._next_due is None else min(self._next_due, due_at)
        self._wake.set()

    async def deliver_forever(self) -> None:
        loop = asyncio.get_running_loop()

        def wake(due_at: datetime) -> None:
            loop.call_soon_threadsafe(self._woken, due_at)

        listen(self.engine, wake)
        try:
            async with httpx.AsyncClient(verify=tls_context()) as http:
                while True:
                    try:
                        await self._deliver_due(http)
                    except Exception:  # a database hiccup must not stop the deliveries
                        log.exception("qbo sandbox webhook delivery failed")
                    await self._sleep()
        finally:
            listen(self.engine, None)

    async def _deliver_due(self, http: httpx.AsyncClient) -> None:
        batches = await in_thread(self._take_due, self.clock())
        if batches:
            await asyncio.gather(*(self._post(http, batch) for batch in batches))

    async def _sleep(self) -> None:
        try:
            earliest = await in_thread(self._earliest_due)
        except Exception:  # a database hiccup: try again at the next poll
            earliest = None
        if self._next_due is not None:
            earliest = self._next_due if earliest is None else min(earliest, self._next_due)
        self._next_due = None
        self._wake.clear()
        wait = POLL_S
        if earliest is not None:
            # A hair after it is due: the writer's commit lands just after its wake-up.
            wait = min(POLL_S, max(0.0, (earliest - self.clock()).total_seconds()) + 0.01)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), wait)
