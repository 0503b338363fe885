"""Change notifications (webhooks) as QuickBooks Online sends them.

What Intuit documents, and what the sandbox does:
- An app (an OAuth client) has one endpoint URL and one verifier token ("Webhooks" page of
  the developer portal); it is notified of changes in every company connected to it through
  OAuth, and only those ("you'll only receive change notifications for QuickBooks Online
  companies that are connected and authorized via OAuth 2.0",
  developer.intuit.com/app/developer/qbo/docs/develop/webhooks). Here: an app with a live
  refresh token for the realm. Customer operations: Create, Update, Merge, Delete.
- "data for the requested event is aggregated and then sent in a periodic notification"
  (Intuit's webhooks programming guide): changes wait `batch_window_ms` and leave together,
  one POST per app.
- Every POST carries `intuit-signature`: the base64 HMAC-SHA256 of the raw body keyed with
  the app's verifier token (Intuit's webhook samples, e.g. rahuldadhich/Intuit-Quickbooks-
  Webhooks-PHP-Oauth2.0, and the SDKs' signature helpers).
- Two payload shapes, chosen per app as Intuit's subscription page lets one switch: the
  legacy `{"eventNotifications": [{"realmId", "dataChangeEvent": {"entities": [{"name",
  "id", "operation", "lastUpdated", "deletedId"?}]}}]}` and the CloudEvents array Intuit
  moved to (Intuit blog "Upcoming change to webhooks payload structure", 2025-11-12:
  `specversion`, `id`, `source`, `type` like `qbo.account.created.v1`, `datacontenttype`,
  `time`, `intuitentityid`, `intuitaccountid`, `data`); a merge is
  `qbo.customer.merged.v1` on the survivor with `data.deletedid` (Intuit's "Understanding
  the data object" page).
- "Your endpoint must respond to notifications with an HTTP 200 status within 3 seconds
  ... we retry the failed event ... at the following intervals: 10s, 20s, 30s, 5m, 20m,
  2h, 4h, 6h, and then on stays at 6-hour intervals. You may not receive subsequent events
  from our system until you correctly acknowledge the first event" (webhooks best
  practices page). Here: a slower answer or a non-2xx is a failure, the app's pending
  events all wait for the retry, and after `max_attempts` the batch is given up (Intuit
  keeps going every 6 hours; a sandbox must stop somewhere).
- "It's possible to receive events out of sequence" (same page); notifications are best
  effort. Knobs drop, duplicate or delay a share of them, from a seeded random source.

Changes are written to the outbox (`qbo_webhook_events`) in the transaction that makes
them, whoever makes them (the API, batch, the admin merge, the seeder); a background task
(`delivery.py`) POSTs them, so a change never waits for a notification to be sent.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection, Engine

from ledgerbridge.db import utcnow
from ledgerbridge.providers.qbo.sandbox.tables import webhook_apps, webhook_events
from ledgerbridge.sandbox import tables as shared

log = logging.getLogger(__name__)

PROVIDER = "qbo"

Operation = Literal["Create", "Update", "Merge", "Delete"]
INTUIT_RETRY_DELAYS_S = (10.0, 20.0, 30.0, 300.0, 1200.0, 7200.0, 14400.0, 21600.0)
"""Intuit's documented retry intervals (webhooks best practices); then every 6 hours."""


class WebhookSettings(BaseModel):
    """One app's webhook: where and how its notifications go, and the fault knobs."""

    model_config = ConfigDict(extra="forbid")

    endpoint_url: str = Field(
        min_length=1, max_length=2000, pattern=r"^https?://", description="Where to POST."
    )
    verifier_token: str = Field(
        min_length=1, max_length=255, description="Keys the `intuit-signature` HMAC."
    )
    payload_format: Literal["cloudevents", "legacy"] = Field(
        default="cloudevents",
        description="`cloudevents` (Intuit's format since 2026) or the legacy "
        "`eventNotifications` shape.",
    )
    batch_window_ms: int = Field(
        default=500, ge=0, le=600_000, description="How long a change waits for company."
    )
    timeout_s: float = Field(
        default=3.0, gt=0, le=60, description="Intuit's deadline for the endpoint's 200."
    )
    retry_delays_s: list[float] = Field(
        default_factory=lambda: list(INTUIT_RETRY_DELAYS_S),
        min_length=1,
        description="Waits before each retry; the last repeats.",
    )
    max_attempts: int = Field(default=12, ge=1, le=1000, description="Then the batch is dropped.")
    drop_rate: float = Field(default=0.0, ge=0, le=1, description="Share never sent.")
    duplicate_rate: float = Field(default=0.0, ge=0, le=1, description="Share sent twice.")
    delay_rate: float = Field(default=0.0, ge=0, le=1, description="Share sent late.")
    max_delay_ms: int = Field(
        default=3000, ge=0, le=3_600_000, description="How late a delayed or repeated one is."
    )
    seed: int | None = Field(default=None, description="Seeds the fault knobs' random draws.")

    def retry_delay(self, attempts: int) -> float:
        """The wait after the `attempts`-th failed attempt."""
        return self.retry_delays_s[min(attempts, len(self.retry_delays_s)) - 1]


@dataclass(frozen=True)
class Change:
    """One customer change to announce."""

    entity_id: int
    operation: Operation
    deleted_id: int | None = None


@dataclass
class DeliveryStats:
    """What this process's sandbox did with notifications (the bench and tests read it)."""

    written: int = 0
    dropped: int = 0
    duplicated: int = 0
    delayed: int = 0
    posts: int = 0
    delivered: int = 0
    failed_posts: int = 0
    given_up: int = 0


STATS = DeliveryStats()

_rng_lock = threading.Lock()
_rngs: dict[tuple[str, int | None], random.Random] = {}
_wakers: dict[int, Callable[[datetime], None]] = {}


def _rng(client_id: str, seed: int | None) -> random.Random:
    with _rng_lock:
        key = (client_id, seed)
        if key not in _rngs:
            _rngs[key] = random.Random(None if seed is None else f"{client_id}:{seed}")
        return _rngs[key]


def get_webhook(connection: Connection, client_id: str) -> WebhookSettings | None:
    row = connection.execute(
        sa.select(webhook_apps.c.settings).where(webhook_apps.c.client_id == client_id)
    ).first()
    return None if row is None else WebhookSettings.model_validate(row.settings)


def app_exists(connection: Connection, client_id: str) -> bool:
    """Whether the sandbox registered this OAuth client."""
    return (
        connection.execute(
            sa.select(shared.oauth_clients.c.client_id).where(
                shared.oauth_clients.c.provider == PROVIDER,
                shared.oauth_clients.c.client_id == client_id,
            )
        ).first()
        is not None
    )


def put_webhook(
    connection: Connection, client_id: str, changes: dict[str, Any], now: datetime
) -> WebhookSettings:
    """Set the app's webhook (`changes` over the current one, if any); validated, so a
    `pydantic.ValidationError` says what is wrong."""
    current = get_webhook(connection, client_id)
    base = {} if current is None else current.model_dump(mode="json")
    settings = WebhookSettings.model_validate({**base, **changes})
    values = {"settings": settings.model_dump(mode="json"), "updated_at": now}
    if current is None:
        connection.execute(sa.insert(webhook_apps).values(client_id=client_id, **values))
    else:
        connection.execute(
            sa.update(webhook_apps).where(webhook_apps.c.client_id == client_id).values(**values)
        )
    return settings


def delete_webhook(connection: Connection, client_id: str) -> bool:
    """Forget the app's webhook and what was waiting to be sent to it."""
    connection.execute(sa.delete(webhook_events).where(webhook_events.c.client_id == client_id))
    deleted = connection.execute(
        sa.delete(webhook_apps).where(webhook_apps.c.client_id == client_id)
    )
    return deleted.rowcount > 0


def _subscribed_apps(
    connection: Connection, realm_id: str, now: datetime
) -> list[tuple[str, WebhookSettings]]:
    """Apps with a webhook and a live grant for the realm."""
    if connection.execute(sa.select(webhook_apps.c.client_id).limit(1)).first() is None:
        return []  # the common case, answered from a tiny table before the token scan
    tokens = shared.oauth_tokens
    granted = sa.select(tokens.c.client_id).where(
        tokens.c.provider == PROVIDER,
        tokens.c.tenant_id == realm_id,
        tokens.c.kind == "refresh",
        tokens.c.revoked_at.is_(None),
        tokens.c.expires_at > now,
    )
    rows = connection.execute(
        sa.select(webhook_apps.c.client_id, webhook_apps.c.settings).where(
            webhook_apps.c.client_id.in_(granted)
        )
    )
    return [(row.client_id, WebhookSettings.model_validate(row.settings)) for row in rows]


def record_changes(
    connection: Connection, realm_id: str, changes: Sequence[Change], now: datetime
) -> None:
    """Write the changes to the outbox of every app to be told, in the caller's
    transaction (so a change rolled back is never announced)."""
    if not changes:
        return
    apps = _subscribed_apps(connection, realm_id, now)
    if not apps:
        return
    # Due times run on the wall clock, not the change's time (kept to the second, as
    # QuickBooks prints it): the window opens when the change is made.
    written_at = utcnow()
    rows: list[dict[str, Any]] = []
    for client_id, settings in apps:
        rng = _rng(client_id, settings.seed)
        window = timedelta(milliseconds=settings.batch_window_ms)
        for change in changes:
            rows.extend(
                _outbox_rows(client_id, realm_id, change, settings, rng, now, written_at + window)
            )
    if rows:
        connection.execute(sa.insert(webhook_events), rows)
        STATS.written += len(rows)
        _wake(connection.engine, min(row["due_at"] for row in rows))


def _outbox_rows(
    client_id: str,
    realm_id: str,
    change: Change,
    settings: WebhookSettings,
    rng: random.Random,
    now: datetime,
    due: datetime,
) -> list[dict[str, Any]]:
    """The change's outbox rows for one app: none when the drop knob fires, two when the
    duplicate knob does; a delayed one is due later, so it may overtake nothing or be
    overtaken."""
    with _rng_lock:
        dropped = rng.random() < settings.drop_rate
        delayed = rng.random() < settings.delay_rate
        duplicated = rng.random() < settings.duplicate_rate
        lates = [rng.uniform(0, settings.max_delay_ms) for _ in range(2)]
    if dropped:
        STATS.dropped += 1
        return []
    if delayed:
        STATS.delayed += 1
        due += timedelta(milliseconds=lates[0])
    row: dict[str, Any] = {
        "client_id": client_id,
        "realm_id": realm_id,
        "event_id": str(uuid.uuid4()),
        "entity_id": str(change.entity_id),
        "operation": change.operation,
        "deleted_id": None if change.deleted_id is None else str(change.deleted_id),
        "changed_at": now,
        "due_at": due,
        "attempts": 0,
    }
    rows = [row]
    if duplicated:
        STATS.duplicated += 1
        rows.append({**row, "due_at": due + timedelta(milliseconds=lates[1])})
    return rows


def _wake(engine: Engine, due_at: datetime) -> None:
    waker = _wakers.get(id(engine))
    if waker is not None:
        waker(due_at)


def listen(engine: Engine, waker: Callable[[datetime], None] | None) -> None:
    """Have `waker(due_at)` called when changes are written through `engine` (the
    deliverer of this process), or stop (None)."""
    if waker is None:
        _wakers.pop(id(engine), None)
    else:
        _wakers[id(engine)] = waker
