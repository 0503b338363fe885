"""Events from real syncs: the sync engine runs against the QuickBooks Online sandbox over
loopback, and the receiver hears `sync.succeeded` with the run's counts and a cursor that
reads exactly what changed since the run began; a run that changed nothing only where
asked for; `sync.failed` with the error and whether it will be retried; and a connection
whose credentials are refused announces `connection.needs_reauth`."""

from __future__ import annotations

from typing import Any

import pytest

from asgi_client import TestClient
from ledgerbridge.connections import read_credentials, write_credentials
from ledgerbridge.db import write_transaction
from ledgerbridge.sync.engine import SyncEnvironment, run_sync
from ledgerbridge.webhooks.delivery import Deliverer
from providers.qbo.live_sync import SyncSetup, env, qbo, seed_realm
from webhooks.receiver import Receiver
from webhooks.support import deliver_until, pending, subscribe

pytestmark = pytest.mark.anyio

__all__ = ["env", "qbo"]  # fixtures

CHANGES, EVERY_RUN = "/changes", "/every-run"


def _read_from(client: TestClient, connection_id: str, cursor: str) -> list[dict[str, Any]]:
    answer = client.get(
        "/customers", params={"cursor": cursor}, headers={"Connection-Id": connection_id}
    )
    assert answer.status_code == 200, answer.text
    records: list[dict[str, Any]] = answer.json()["records"]
    return records


async def test_sync_events_carry_counts_and_a_cursor_and_empty_runs_only_where_asked(
    qbo: SyncSetup,
    env: SyncEnvironment,
    client: TestClient,
    receiver: Receiver,
    deliverer: Deliverer,
) -> None:
    base = f"http://127.0.0.1:{receiver.port}"
    subscribe(client, base + CHANGES, ["sync.succeeded", "sync.failed"])
    subscribe(client, base + EVERY_RUN, ["sync.succeeded"], include_empty_syncs=True)
    seed_realm(qbo.app, 30)
    first = await run_sync(env, qbo.connection_id, trigger="api")
    assert first.status == "succeeded"
    await deliver_until(lambda: pending(qbo.app) == 0, deliverer)
    (event,) = receiver.events(CHANGES)
    assert receiver.events(EVERY_RUN) == [event]  # the same event id to both
    data = event["data"]
    assert event["type"] == "sync.succeeded"
    assert (data["connection_id"], data["provider"], data["model"]) == (
        qbo.connection_id,
        "qbo",
        "Customer",
    )
    assert (data["run_id"], data["trigger"], data["kind"]) == (first.id, "api", "full")
    assert (data["added"], data["updated"], data["deleted"]) == (first.added, 0, first.deleted)
    assert first.added + first.deleted == 30
    assert data["started_at"] <= data["finished_at"]
    assert len(_read_from(client, qbo.connection_id, data["cursor"])) == 30

    # Nothing changed: only the subscription that asked hears of it.
    await run_sync(env, qbo.connection_id)
    await deliver_until(lambda: pending(qbo.app) == 0, deliverer)
    assert len(receiver.events(CHANGES)) == 1
    empty = receiver.events(EVERY_RUN)[-1]["data"]
    assert (empty["kind"], empty["added"], empty["updated"], empty["deleted"]) == (
        "incremental",
        0,
        0,
        0,
    )

    # One customer changed: the cursor reads that one change.
    customer = qbo.realm.query("select * from Customer where Active = true maxresults 1")[0]
    qbo.realm.save(
        {"Id": customer["Id"], "SyncToken": customer["SyncToken"], "Notes": "new", "sparse": True}
    )
    await run_sync(env, qbo.connection_id)
    await deliver_until(lambda: len(receiver.events(CHANGES)) == 2, deliverer)
    changed = receiver.events(CHANGES)[-1]["data"]
    assert changed["updated"] == 1
    (record,) = _read_from(client, qbo.connection_id, changed["cursor"])
    assert record["id"] == customer["Id"]


async def test_failed_syncs_say_why_and_whether_they_will_be_retried(
    qbo: SyncSetup,
    env: SyncEnvironment,
    client: TestClient,
    receiver: Receiver,
    deliverer: Deliverer,
) -> None:
    subscribe(client, receiver.url, ["sync.failed", "connection.needs_reauth", "connection.error"])
    seed_realm(qbo.app, 5)
    qbo.realm.configure(error_rate=1.0, error_statuses=[503])  # the platform is down
    for _ in range(3):  # the third failure in a row turns the connection to `error`
        assert (await run_sync(env, qbo.connection_id)).status == "failed"
    await deliver_until(lambda: pending(qbo.app) == 0, deliverer)
    # A status change is announced before the failed run that caused it (one transaction).
    types = [e["type"] for e in receiver.events()]
    assert types == ["sync.failed", "sync.failed", "connection.error", "sync.failed"]
    failed = receiver.events()[0]["data"]
    assert "503" in failed["error"]
    assert failed["will_retry"] is True
    assert "cursor" not in failed
    error = receiver.events()[2]["data"]
    assert (error["status"], error["consecutive_failures"]) == ("error", 3)
    assert "the last 3 syncs failed" in error["status_message"]

    # The platform refuses the credentials (another company's realm): a person must act.
    qbo.realm.configure(error_rate=0.0)
    engine, cipher = qbo.app.state.databases.main, qbo.app.state.cipher
    with write_transaction(engine) as conn:
        stored = read_credentials(conn, cipher, qbo.connection_id)
        write_credentials(conn, cipher, qbo.connection_id, {**stored, "realm_id": "555"})
    assert (await run_sync(env, qbo.connection_id)).status == "failed"
    await deliver_until(lambda: pending(qbo.app) == 0, deliverer)
    reauth, last = receiver.events()[-2:]
    assert reauth["type"] == "connection.needs_reauth"
    assert reauth["data"]["status"] == "needs_reauth"
    assert (last["type"], last["data"]["will_retry"]) == ("sync.failed", False)
