"""A `ledgerbridge worker` process delivers webhooks, and one SIGKILLed in the middle of a
delivery loses nothing: its lease expires, another worker sends the event again (the same
event id: at least once), and the delivery is recorded as made once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import anyio
import pytest
from fastapi import FastAPI

from asgi_client import TestClient
from ledgerbridge.config import Settings
from ledgerbridge.webhooks.delivery import Deliverer
from webhooks.receiver import Receiver
from webhooks.support import deliver_until, deliveries, new_connection, pending, subscribe

pytestmark = pytest.mark.anyio


def _worker(settings: Settings, **extra: str) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LEDGERBRIDGE_")},
        "LEDGERBRIDGE_DATA_DIR": str(settings.data_dir),
        "LEDGERBRIDGE_DATABASE_URL": settings.main_database_url,
        "LEDGERBRIDGE_SANDBOX_DATABASE_URL": settings.sandbox_url,
        **extra,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "ledgerbridge", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
async def test_a_worker_killed_mid_delivery_loses_nothing(
    app: FastAPI,
    client: TestClient,
    settings: Settings,
    receiver: Receiver,
    deliverer: Deliverer,
) -> None:
    created = subscribe(client, receiver.url, ["connection.created"])
    receiver.behaviour.hang_s = 20.0  # the worker's request is in flight until it dies
    worker = _worker(
        settings, LEDGERBRIDGE_WEBHOOK_LEASE_S="2", LEDGERBRIDGE_WEBHOOK_TIMEOUT_S="30"
    )
    try:
        new_connection(app)
        deadline = time.monotonic() + 60
        while not receiver.arrived:
            assert worker.poll() is None, "the worker died"
            assert time.monotonic() < deadline, "the worker never sent the event"
            await anyio.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        assert worker.wait(timeout=10) == -signal.SIGKILL
    finally:
        worker.kill()
        worker.wait()
    receiver.behaviour.hang_s = 0.0
    (held,) = deliveries(client, created["id"])
    assert (held["status"], held["attempts"]) == ("pending", [])  # it died before recording
    started = time.monotonic()
    await deliver_until(lambda: pending(app) == 0, deliverer)
    assert time.monotonic() - started < 10  # taken over once the 2 s lease expired
    (made,) = deliveries(client, created["id"])
    assert made["status"] == "succeeded"
    assert [a["status_code"] for a in made["attempts"]] == [200]
    # Sent twice (at least once), the same event both times: receivers de-duplicate on `id`.
    assert len(receiver.arrived) == 2
    assert receiver.arrived[0] == receiver.arrived[1]
    assert receiver.events()[0]["id"] == made["event_id"]


@pytest.mark.slow
def test_a_worker_process_delivers_and_stops_cleanly(
    app: FastAPI, client: TestClient, settings: Settings, receiver: Receiver
) -> None:
    subscribe(client, receiver.url, ["connection.created"])
    worker = _worker(settings)
    try:
        for _ in range(3):
            new_connection(app)
        receiver.wait_for(3, timeout=60)
        deadline = time.monotonic() + 20
        while pending(app):  # answered; recorded a moment later
            assert time.monotonic() < deadline, "the deliveries were never recorded"
            time.sleep(0.05)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        worker.kill()
        worker.wait()
    assert len({e["id"] for e in receiver.events()}) == 3
