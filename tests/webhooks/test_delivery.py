"""Deliveries to a real receiver over loopback HTTP: signed so that the README's own
receiver accepts them; a receiver down for a while, answering 500 or too slowly, gets
everything once it is back, in order per connection, nothing twice from one worker; a
receiver that keeps failing gets its subscription disabled, saying why; two workers at
once never send one delivery twice; redelivery resends the same event id."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from asgi_client import TestClient
from conftest import cancel_inside
from ledgerbridge.db import read_transaction, utcnow
from ledgerbridge.observability.metrics import REGISTRY
from ledgerbridge.tables import webhook_attempts
from ledgerbridge.webhooks.delivery import Deliverer, new_webhook_client
from ledgerbridge.webhooks.signing import SIGNATURE_HEADER, sign, verify
from webhooks.receiver import Receiver
from webhooks.support import FAST, deliver_until, deliveries, new_connection, pending, subscribe

pytestmark = pytest.mark.anyio

README = Path(__file__).parents[2] / "README.md"


def _readme_receiver(secret: str) -> dict[str, Any]:
    """The README's receiver, run as published (only its secret and last line differ)."""
    text = README.read_text()
    code = re.search(r"<!-- webhook-receiver -->\n```python\n(.*?)```", text, re.S)
    assert code is not None, "the README lost its receiver"
    lines = code.group(1).splitlines()
    assert lines[-1].startswith("HTTPServer(")
    namespace: dict[str, Any] = {}
    exec("\n".join(lines[:-1]).replace('b"whsec_..."', repr(secret.encode())), namespace)
    return namespace


def _attempts_counted(outcome: str) -> float:
    labels = {"outcome": outcome}
    return REGISTRY.get_sample_value("ledgerbridge_webhook_attempts_total", labels) or 0.0


async def test_deliveries_are_signed_as_the_readme_receiver_verifies(
    app: FastAPI, client: TestClient, deliverer: Deliverer
) -> None:
    server = HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    created = subscribe(client, url, ["connection.created"])
    recipe = _readme_receiver(created["secret"])
    server.RequestHandlerClass = type(
        "QuietReceiver", (recipe["Receiver"],), {"log_message": lambda *args: None}
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        new_connection(app)
        await deliver_until(lambda: pending(app) == 0, deliverer)
        (made,) = deliveries(client, created["id"])
        # The recipe answers 400 to anything it cannot verify: this one it accepted.
        assert (made["status"], made["attempts"][0]["status_code"]) == ("succeeded", 200)
        body, now = b'{"id": "evt_x"}', int(time.time())
        signed = sign(created["secret"], body, now)
        assert recipe["verify"](signed, body)
        assert not recipe["verify"](signed, body + b" ")  # tampered
        assert not recipe["verify"](sign("whsec_other", body, now), body)  # another secret
        assert not recipe["verify"](sign(created["secret"], body, now - 301), body)  # replayed
        async with httpx.AsyncClient() as http:
            refused = await http.post(url, content=body, headers={SIGNATURE_HEADER: signed[:-1]})
        assert refused.status_code == 400
    finally:
        server.shutdown()
        server.server_close()


async def test_every_event_has_the_documented_shape_and_headers(
    app: FastAPI, client: TestClient, receiver: Receiver, deliverer: Deliverer
) -> None:
    created = subscribe(client, receiver.url, ["connection.created", "connection.deleted"])
    connection_id = new_connection(app)
    assert client.delete(f"/connections/{connection_id}").status_code == 204
    await deliver_until(lambda: len(receiver.events()) == 2, deliverer)
    first = receiver.requests[0]
    assert first.headers["Content-Type"] == "application/json"
    signature = first.headers[SIGNATURE_HEADER]
    assert verify(created["secret"], first.body, signature, now=int(time.time()))
    assert [e["type"] for e in receiver.events()] == ["connection.created", "connection.deleted"]
    event = first.event
    assert set(event) == {"id", "type", "created_at", "data"}
    assert event["id"].startswith("evt_")
    assert (event["data"]["connection_id"], event["data"]["provider"]) == (connection_id, "qbo")
    assert event["data"]["status"] == "active"


async def test_a_receiver_down_then_back_gets_everything_once_in_order(
    app: FastAPI, client: TestClient, receiver: Receiver, deliverer: Deliverer
) -> None:
    created = subscribe(client, receiver.url, ["connection.created", "connection.deleted"])
    receiver.stop()  # nothing listens: connections are refused
    connections = [new_connection(app) for _ in range(3)]
    for connection_id in connections[:2]:
        assert client.delete(f"/connections/{connection_id}").status_code == 204

    def each_connection_tried_twice() -> bool:
        made = deliveries(client, created["id"])
        return sum(len(d["attempts"]) >= 2 for d in made) == 3

    await deliver_until(each_connection_tried_twice, deliverer)
    assert receiver.requests == []
    assert REGISTRY.get_sample_value("ledgerbridge_webhook_outbox_backlog") == 5
    receiver.start()  # back, on the same port
    await deliver_until(lambda: pending(app) == 0, deliverer)
    events = receiver.events()
    assert len(events) == 5
    assert max(Counter(e["id"] for e in events).values()) == 1  # nothing twice
    for connection_id in connections[:2]:
        types = [e["type"] for e in events if e["data"]["connection_id"] == connection_id]
        assert types == ["connection.created", "connection.deleted"]
    made = deliveries(client, created["id"])
    assert all(d["status"] == "succeeded" for d in made)
    refused = [a for d in made for a in d["attempts"] if a["status_code"] is None]
    assert refused
    assert all("Connect" in a["error"] for a in refused), refused


async def test_500s_and_timeouts_are_retried_and_recorded_then_delivered(
    app: FastAPI, client: TestClient, receiver: Receiver
) -> None:
    # A 500 must come back inside the timeout even on a loaded machine; the slow answer
    # must outlast it by far.
    policy = replace(FAST, timeout_s=0.6)
    created = subscribe(client, receiver.url, ["connection.created"])
    receiver.behaviour.script = [(500, 0.0), (500, 0.0), (200, 2.0)]  # the last one too slow
    new_connection(app)
    before = {o: _attempts_counted(o) for o in ("succeeded", "failed")}
    async with new_webhook_client(policy) as http:
        worker = Deliverer(app.state.databases.main, app.state.cipher, http, "worker-a", policy)
        await deliver_until(lambda: pending(app) == 0, worker)
    (made,) = deliveries(client, created["id"])
    attempts = made["attempts"]
    assert made["status"] == "succeeded"
    assert [a["status_code"] for a in attempts[:2]] == [500, 500]
    assert (attempts[0]["response_snippet"], attempts[0]["error"]) == (
        "receiver failed",
        "HTTP 500",
    )
    timed_out = [a for a in attempts if a["status_code"] is None]
    assert timed_out
    assert "Timeout" in timed_out[0]["error"]
    assert timed_out[0]["latency_ms"] >= 600
    assert attempts[-1]["status_code"] == 200
    assert attempts[-1]["response_snippet"] == '{"received": true}'
    assert _attempts_counted("succeeded") - before["succeeded"] == 1
    assert _attempts_counted("failed") - before["failed"] == len(attempts) - 1


async def test_a_later_event_waits_while_an_earlier_one_is_retried(
    app: FastAPI, client: TestClient, receiver: Receiver, deliverer: Deliverer
) -> None:
    created = subscribe(client, receiver.url, ["connection.created", "connection.deleted"])
    receiver.behaviour.status = 503
    connection_id = new_connection(app)
    other = new_connection(app)
    assert client.delete(f"/connections/{connection_id}").status_code == 204

    def made() -> dict[str, dict[str, Any]]:
        return {
            f"{d['event_type']} {d['connection_id']}": d for d in deliveries(client, created["id"])
        }

    await deliver_until(
        lambda: len(made()[f"connection.created {connection_id}"]["attempts"]) >= 3, deliverer
    )
    # The deletion waited behind the creation; the other connection did not wait for it.
    assert made()[f"connection.deleted {connection_id}"]["attempts"] == []
    assert made()[f"connection.created {other}"]["attempts"]
    receiver.behaviour.status = 200
    await deliver_until(lambda: pending(app) == 0, deliverer)
    mine = [e["type"] for e in receiver.events() if e["data"]["connection_id"] == connection_id]
    assert mine == ["connection.created", "connection.deleted"]


async def test_a_subscription_failing_past_the_window_is_disabled_saying_why(
    app: FastAPI, client: TestClient, receiver: Receiver
) -> None:
    # Long enough that a first attempt made late on a loaded machine is still retried.
    policy = replace(FAST, retry_window=timedelta(milliseconds=1500))
    created = subscribe(client, receiver.url, ["connection.created"])
    receiver.behaviour.status = 500
    new_connection(app)

    def shown() -> dict[str, Any]:
        webhook: dict[str, Any] = client.get(f"/webhooks/{created['id']}").json()
        return webhook

    async with new_webhook_client(policy) as http:
        worker = Deliverer(app.state.databases.main, app.state.cipher, http, "worker-a", policy)
        await deliver_until(lambda: not shown()["enabled"], worker)
        assert "HTTP 500" in shown()["disabled_reason"]
        (made,) = deliveries(client, created["id"])
        assert made["status"] == "failed"
        assert len(made["attempts"]) >= 2
        new_connection(app)  # disabled: new events are not queued for it
        assert len(deliveries(client, created["id"])) == 1
        # Enabled again, a redelivery of what it missed goes through.
        receiver.behaviour.status = 200
        enabled = client.patch(f"/webhooks/{created['id']}", json={"enabled": True}).json()
        assert (enabled["enabled"], enabled["disabled_reason"]) == (True, None)
        again = client.post(f"/webhooks/{created['id']}/deliveries/{made['id']}/redeliver")
        assert again.status_code == 202, again.text
        await deliver_until(lambda: pending(app) == 0, worker)
    assert [e["id"] for e in receiver.events()] == [made["event_id"]]


async def test_redelivery_resends_the_same_event_id(
    app: FastAPI, client: TestClient, receiver: Receiver, deliverer: Deliverer
) -> None:
    created = subscribe(client, receiver.url, ["connection.created"])
    new_connection(app)
    await deliver_until(lambda: pending(app) == 0, deliverer)
    (made,) = deliveries(client, created["id"])
    again = client.post(f"/webhooks/{created['id']}/deliveries/{made['id']}/redeliver")
    assert again.status_code == 202, again.text
    assert (again.json()["event_id"], again.json()["status"]) == (made["event_id"], "pending")
    await deliver_until(lambda: pending(app) == 0, deliverer)
    first, second = receiver.requests
    assert first.body == second.body  # the same event, byte for byte
    assert [d["id"] for d in deliveries(client, created["id"])] == [again.json()["id"], made["id"]]


async def test_two_workers_at_once_never_send_a_delivery_twice(
    app: FastAPI, client: TestClient, receiver: Receiver, deliverer: Deliverer
) -> None:
    subscribe(client, receiver.url, ["connection.created", "connection.deleted"])
    receiver.behaviour.failure_rate = 0.3
    connections = [new_connection(app) for _ in range(12)]
    for connection_id in connections[::2]:
        assert client.delete(f"/connections/{connection_id}").status_code == 204
    async with new_webhook_client(FAST) as http:
        other = Deliverer(app.state.databases.main, app.state.cipher, http, "worker-b", FAST)
        await deliver_until(lambda: pending(app) == 0, deliverer, other)
    events = receiver.events()  # answered 2xx
    assert len(events) == 18
    assert max(Counter(e["id"] for e in events).values()) == 1
    with read_transaction(app.state.databases.main) as conn:
        workers = Counter(conn.execute(sa.select(webhook_attempts.c.worker)).scalars())
    assert set(workers) == {"worker-a", "worker-b"}, workers
    for connection_id in connections[::2]:
        types = [e["type"] for e in events if e["data"]["connection_id"] == connection_id]
        assert types == ["connection.created", "connection.deleted"]


@pytest.mark.anyio
async def test_a_deliverer_stopped_while_claiming_hands_the_round_back(
    app: FastAPI, client: TestClient, receiver: Receiver, deliverer: Deliverer
) -> None:
    """Stopped (cancelled) while its claim runs in a thread: the thread commits the claim
    all the same, so the round is handed back, and another worker sends it at once
    instead of after the lease expires."""
    subscribe(client, receiver.url, ["connection.created"])
    new_connection(app)
    claiming, go_on = threading.Event(), threading.Event()

    class HeldInItsClaim(Deliverer):
        def _claim(self) -> Any:
            claiming.set()
            go_on.wait(10)
            return super()._claim()

    held = HeldInItsClaim(deliverer.engine, deliverer.cipher, deliverer.http, "worker-a", FAST)
    await cancel_inside(held.deliver_due(), claiming, go_on)
    other = replace(deliverer, owner="worker-b")
    assert await other.deliver_due() == 1
    assert len(receiver.events()) == 1


@pytest.mark.anyio
async def test_a_deliverer_stopped_while_recording_still_counts_what_it_recorded(
    app: FastAPI, client: TestClient, receiver: Receiver, deliverer: Deliverer
) -> None:
    """Stopped (cancelled) while its round's attempts are being recorded: the thread
    commits them all the same, and they are counted and logged too (they were recorded
    but never counted when the counting waited for the thread to come back)."""
    created = subscribe(client, receiver.url, ["connection.created"])
    new_connection(app)
    recording, go_on = threading.Event(), threading.Event()
    calls = 0

    def clock() -> datetime:  # read by the claim, then inside the record's transaction
        nonlocal calls
        calls += 1
        if calls == 2:
            recording.set()
            go_on.wait(10)
        return utcnow()

    held = replace(deliverer, clock=clock)
    before = _attempts_counted("succeeded")
    await cancel_inside(held.deliver_due(), recording, go_on)
    (made,) = deliveries(client, created["id"])
    assert made["status"] == "succeeded"
    assert len(made["attempts"]) == 1
    assert _attempts_counted("succeeded") - before == 1
