"""Webhook subscriptions: where to send which events, within one environment. The API, the
CLI and the dashboard all call these functions; a subscription of another environment is
reported as not existing.

The signing secret is encrypted at rest (like connection credentials) and shown once, in
the answer to its creation; the deliverer decrypts it to sign.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerbridge.crypto import CredentialCipher
from ledgerbridge.errors import NotFoundError
from ledgerbridge.tables import webhook_subscriptions
from ledgerbridge.webhooks.events import EVENT_TYPES
from ledgerbridge.webhooks.signing import new_secret

MAX_URL_LENGTH = 2000


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host; `ValueError` saying what is wrong otherwise."""
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (reading it validates it)
    except ValueError:
        raise ValueError("not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            "use an absolute http:// or https:// URL, e.g. https://app.example.com/hooks"
        )
    if any(c.isspace() or ord(c) < 0x20 for c in url):
        raise ValueError("a URL has no spaces or control characters")
    return url


def check_events(names: Sequence[str]) -> list[str]:
    """Known event types, each once, in the order given; at least one."""
    unknown = [name for name in names if name not in EVENT_TYPES]
    if unknown:
        raise ValueError(f"unknown events {unknown}; use any of {', '.join(EVENT_TYPES)}")
    if not names:
        raise ValueError(f"name at least one event: {', '.join(EVENT_TYPES)}")
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class Subscription:
    id: str
    environment: str
    url: str
    events: list[str]
    include_empty_syncs: bool
    description: str
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


_PUBLIC = [getattr(webhook_subscriptions.c, name) for name in Subscription.__dataclass_fields__]


def _subscription(row: Any) -> Subscription:
    values = dict(row._mapping)
    return Subscription(**{**values, "events": list(values["events"])})


def create_subscription(
    conn: Connection,
    cipher: CredentialCipher,
    *,
    environment: str,
    url: str,
    events: Sequence[str],
    include_empty_syncs: bool = False,
    description: str = "",
    now: datetime,
) -> tuple[Subscription, str]:
    """A new, enabled subscription and its signing secret (the only time it is returned)."""
    subscription_id = "wh_" + secrets.token_hex(8)
    secret = new_secret()
    conn.execute(
        sa.insert(webhook_subscriptions).values(
            id=subscription_id,
            environment=environment,
            url=check_url(url),
            events=check_events(events),
            secret=cipher.encrypt({"secret": secret}),
            include_empty_syncs=include_empty_syncs,
            description=description,
            created_at=now,
            updated_at=now,
        )
    )
    return get_subscription(conn, subscription_id, environment=environment), secret


def get_subscription(conn: Connection, subscription_id: str, *, environment: str) -> Subscription:
    row = conn.execute(
        sa.select(*_PUBLIC).where(
            webhook_subscriptions.c.id == subscription_id,
            webhook_subscriptions.c.environment == environment,
        )
    ).first()
    if row is None:
        raise NotFoundError(f"webhook subscription {subscription_id!r} does not exist")
    return _subscription(row)


def list_subscriptions(conn: Connection, *, environment: str) -> list[Subscription]:
    rows = conn.execute(
        sa.select(*_PUBLIC)
        .where(webhook_subscriptions.c.environment == environment)
        .order_by(webhook_subscriptions.c.created_at, webhook_subscriptions.c.id)
    )
    return [_subscription(row) for row in rows]


def update_subscription(
    conn: Connection,
    subscription_id: str,
    *,
    environment: str,
    changes: dict[str, Any],
    now: datetime,
) -> Subscription:
    """Change any of `url`, `events`, `include_empty_syncs`, `description`, `enabled`.
    Enabling clears the reason it was disabled; its pending deliveries resume."""
    get_subscription(conn, subscription_id, environment=environment)
    values = dict(changes)
    if "url" in values:
        values["url"] = check_url(values["url"])
    if "events" in values:
        values["events"] = check_events(values["events"])
    if values.get("enabled") is True:
        values["disabled_reason"] = None
    elif values.get("enabled") is False:
        values["disabled_reason"] = "disabled through the API"
    conn.execute(
        sa.update(webhook_subscriptions)
        .where(webhook_subscriptions.c.id == subscription_id)
        .values(**values, updated_at=now)
    )
    return get_subscription(conn, subscription_id, environment=environment)


def rotate_secret(
    conn: Connection,
    cipher: CredentialCipher,
    subscription_id: str,
    *,
    environment: str,
    now: datetime,
) -> tuple[Subscription, str]:
    """A new signing secret, effective for every attempt from now on; returned this once."""
    get_subscription(conn, subscription_id, environment=environment)
    secret = new_secret()
    conn.execute(
        sa.update(webhook_subscriptions)
        .where(webhook_subscriptions.c.id == subscription_id)
        .values(secret=cipher.encrypt({"secret": secret}), updated_at=now)
    )
    return get_subscription(conn, subscription_id, environment=environment), secret


def delete_subscription(conn: Connection, subscription_id: str, *, environment: str) -> None:
    """Delete it with its deliveries and their attempts (events stay in the outbox)."""
    get_subscription(conn, subscription_id, environment=environment)
    conn.execute(
        sa.delete(webhook_subscriptions).where(webhook_subscriptions.c.id == subscription_id)
    )


def disable(conn: Connection, subscription_id: str, reason: str, *, now: datetime) -> None:
    """Stop sending to it (its deliveries keep failing), saying why."""
    conn.execute(
        sa.update(webhook_subscriptions)
        .where(webhook_subscriptions.c.id == subscription_id)
        .values(enabled=False, disabled_reason=reason, updated_at=now)
    )


def signing_secret(conn: Connection, cipher: CredentialCipher, subscription_id: str) -> str:
    token = conn.execute(
        sa.select(webhook_subscriptions.c.secret).where(
            webhook_subscriptions.c.id == subscription_id
        )
    ).scalar_one()
    secret: str = cipher.decrypt(token)["secret"]
    return secret
