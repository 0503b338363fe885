"""What the webhook tests share: subscribing through the API, making events happen,
running deliverers until a condition holds, and reading deliveries."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import FastAPI

from asgi_client import TestClient
from ledgerbridge.connections import create_connection
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.sync import leases
from ledgerbridge.webhooks.deliveries import backlog
from ledgerbridge.webhooks.delivery import Deliverer, DeliveryPolicy

FAST = DeliveryPolicy(
    retry_window=timedelta(minutes=5),
    retry_base=timedelta(milliseconds=50),
    retry_cap=timedelta(milliseconds=200),
    timeout_s=2.0,
    lease_ttl=timedelta(seconds=10),
    poll_interval_s=0.02,
)
"""Retries within milliseconds, a short time-out: production's rules, without the waiting."""


def subscribe(client: TestClient, url: str, events: list[str], **options: Any) -> dict[str, Any]:
    answer = client.post("/webhooks", json={"url": url, "events": events, **options})
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def new_connection(app: FastAPI) -> str:
    """A connection (its creation is an event); not due, so no worker's scheduler syncs it."""
    now = utcnow()
    with write_transaction(app.state.databases.main) as conn:
        connection_id = create_connection(
            conn,
            app.state.cipher,
            provider="qbo",
            base_url="http://127.0.0.1:9/sandbox/qbo",
            credentials={"realm_id": "1"},
            sync_frequency_s=3600,
            now=now,
        ).id
        leases.schedule(conn, connection_id, now + timedelta(days=1))
    return connection_id


def pending(app: FastAPI) -> int:
    with read_transaction(app.state.databases.main) as conn:
        return backlog(conn)


async def deliver_until(condition: Callable[[], bool], *deliverers: Deliverer) -> None:
    """Run the deliverers' loops, side by side, until `condition` holds (20 s at most)."""
    tasks = [asyncio.create_task(d.run_forever()) for d in deliverers]
    try:
        deadline = time.monotonic() + 20.0
        while not await asyncio.to_thread(condition):
            assert time.monotonic() < deadline, "the condition never held"
            await asyncio.sleep(0.02)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def deliveries(client: TestClient, webhook_id: str) -> list[dict[str, Any]]:
    answer = client.get(f"/webhooks/{webhook_id}/deliveries", params={"limit": 500})
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["deliveries"]
    return found
