"""The sync engine driving the Intacct connector against a sandbox company over real
loopback HTTP, and what a user then sees in `GET /customers`: a full run, then edits,
a deactivation, a hard delete and a new child customer made on Intacct, found by one
incremental run with reconciliation; a run that finds nothing changes nothing; write-back
through the unified API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from asgi_client import TestClient
from conftest import LiveServer, sync_environment
from ledgerbridge.connect import connect_sandbox
from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.providers.intacct.sandbox import provider, store
from ledgerbridge.providers.intacct.sandbox.tables import customers
from ledgerbridge.sync.engine import SyncEnvironment, run_sync
from ledgerbridge.unified.cursor import encode_cursor
from ledgerbridge.unified.customer import MODEL_NAME
from ledgerbridge.unified.records import StoredRecord, list_records

pytestmark = pytest.mark.anyio

COMPANY = "GLOBEX"


@pytest.fixture
async def env(app: FastAPI) -> AsyncIterator[SyncEnvironment]:
    async with sync_environment(
        app, page_size=20, lag_seconds=5, extra={"reconcile_every": 1}
    ) as environment:
        yield environment


@pytest.fixture
def connection_id(app: FastAPI, live_server: LiveServer) -> str:
    """A company of 150 customers, connected the way `ledgerbridge connect` does it:
    client credentials only, the connector gets its own token."""
    provider.seed(app.state.sandbox, COMPANY, 150, seed=5)
    return connect_sandbox(
        app.state.databases,
        app.state.cipher,
        provider="intacct",
        tenant=COMPANY,
        server_url=live_server.url,
    ).id


def _records(app: FastAPI, connection_id: str) -> dict[str, StoredRecord]:
    with read_transaction(app.state.databases.main) as conn:
        page, _ = list_records(conn, connection_id=connection_id, model=MODEL_NAME, limit=1_000_000)
    return {record.external_id: record for record in page}


def _on_intacct(app: FastAPI, change: Any) -> Any:
    """Run `change(connection, now)` on the sandbox company, as a user of Intacct would."""
    context = app.state.sandbox
    with write_transaction(context.engine) as connection:
        return change(connection, context.clock())


def _statuses(app: FastAPI) -> dict[str, str]:
    with read_transaction(app.state.sandbox.engine) as connection:
        rows = connection.execute(
            sa.select(customers.c.key, customers.c.status).where(customers.c.tenant_id == COMPANY)
        )
        return {str(row.key): row.status for row in rows}


async def test_seed_sync_change_on_intacct_sync_again_exactly_those_changes(
    app: FastAPI, env: SyncEnvironment, connection_id: str, client: TestClient
) -> None:
    statuses = _statuses(app)
    inactive = sum(status == "inactive" for status in statuses.values())
    assert 0 < inactive < len(statuses) == 150

    first = await run_sync(env, connection_id)
    assert (first.status, first.kind, first.error) == ("succeeded", "full", None)
    assert (first.added, first.deleted) == (150 - inactive, inactive)
    assert first.pages >= 150 // 20
    stored = _records(app, connection_id)
    assert set(stored) == set(statuses)
    last_seq = max(record.change_seq for record in stored.values())

    # On Intacct, behind ledgerbridge's back.
    live = sorted((key for key, status in statuses.items() if status == "active"), key=int)
    with read_transaction(app.state.sandbox.engine) as connection:
        parents = set(connection.execute(sa.select(customers.c.parent_key)).scalars())
        spare = [
            key
            for key in live
            if int(key) not in parents
            and connection.execute(
                sa.select(customers.c.total_due).where(customers.c.key == int(key))
            ).scalar_one()
            == 0
        ]
    renamed, deactivated, removed = live[0], spare[0], spare[1]

    def edit(key: str, body: dict[str, Any]) -> None:
        _on_intacct(
            app,
            lambda conn, now: store.update_customer(
                conn, COMPANY, int(key), body, now=now, user="clerk"
            ),
        )

    edit(renamed, {"name": "Renamed Holdings", "contacts": {"default": {"email1": "ap@r.example"}}})
    edit(deactivated, {"status": "inactive"})
    _on_intacct(app, lambda conn, now: store.delete_customer(conn, COMPANY, int(removed)))
    child = _on_intacct(
        app,
        lambda conn, now: store.create_customer(
            conn,
            COMPANY,
            {"name": "Renamed Holdings (Reno)", "parent": {"key": renamed}},
            now=now,
            user="clerk",
        ),
    )["key"]

    second = await run_sync(env, connection_id)
    assert (second.status, second.kind, second.error) == ("succeeded", "incremental", None)
    assert (second.added, second.updated, second.deleted) == (1, 1, 2)

    headers = {"Connection-Id": connection_id}
    body = client.get(
        "/customers",
        params={"cursor": encode_cursor(last_seq, connection_id=connection_id, model="Customer")},
        headers=headers,
    ).json()
    assert body["next_cursor"] is None
    actions = {r["id"]: r["_nango_metadata"]["last_action"] for r in body["records"]}
    assert actions == {
        renamed: "UPDATED",
        deactivated: "DELETED",
        removed: "DELETED",
        child: "ADDED",
    }
    by_id = {r["id"]: r for r in body["records"]}
    assert by_id[renamed]["display_name"] == "Renamed Holdings"
    assert by_id[renamed]["primary_email"] == "ap@r.example"
    assert by_id[child]["parent_id"] == renamed
    assert by_id[deactivated]["active"] is False

    # Nothing changed on Intacct: nothing written, no cursor moves.
    before = _records(app, connection_id)
    third = await run_sync(env, connection_id)
    assert third.status == "succeeded", third.error
    assert (third.status, third.added, third.updated, third.deleted) == ("succeeded", 0, 0, 0)
    after = _records(app, connection_id)
    assert {k: r.change_seq for k, r in after.items()} == {
        k: r.change_seq for k, r in before.items()
    }


async def test_write_back_through_the_unified_api(
    app: FastAPI, env: SyncEnvironment, connection_id: str, client: TestClient
) -> None:
    await run_sync(env, connection_id)
    headers = {"Connection-Id": connection_id}

    created = client.post(
        "/customers",
        json={
            "display_name": "Write Back Ltd",
            "given_name": "Ada",
            "primary_email": "ada@example.com",
            "bill_address": {"line1": "1 Main St", "city": "Tucson", "state": "AZ"},
            "credit_limit_cents": 500_000,
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["_nango_metadata"]["last_action"] == "ADDED"
    assert record["credit_limit_cents"] == 500_000

    patched = client.patch(f"/customers/{record['id']}", json={"notes": "VIP"}, headers=headers)
    assert patched.status_code == 200, patched.text
    assert patched.json()["notes"] == "VIP"
    assert patched.json()["given_name"] == "Ada"  # nothing else moved

    nameless = client.post("/customers", json={"notes": "no name"}, headers=headers)
    assert nameless.status_code == 422, nameless.text
    assert "/name is required" in nameless.text
    opening = client.post(
        "/customers", json={"display_name": "X", "balance_cents": 100}, headers=headers
    )
    assert opening.status_code == 422, opening.text
    assert "balance_cents" in opening.text

    # The next sync reads the same customers back: nothing to change.
    again = await run_sync(env, connection_id)
    assert again.status == "succeeded", again.error
    assert (again.status, again.added, again.updated, again.deleted) == ("succeeded", 0, 0, 0)
