"""The sync engine driving the QuickBooks Online connector against the sandbox over real
loopback HTTP: full and incremental runs with sub-customers, exactly the changes, no-op
runs, a full run on request. Faults are in the connector contract suite."""

from __future__ import annotations

from typing import Any

import pytest

from asgi_client import TestClient
from ledgerbridge.sync.engine import SyncEnvironment, run_sync
from ledgerbridge.unified.cursor import encode_cursor
from providers.qbo.live_sync import SyncSetup, seed_realm

pytestmark = pytest.mark.anyio


def _active_count(qbo: SyncSetup) -> tuple[int, int]:
    """(every customer, the inactive ones) as QuickBooks counts them."""
    all_customers = qbo.realm.query(
        "SELECT * FROM Customer WHERE Active IN (true, false) MAXRESULTS 1000"
    )
    inactive = sum(1 for c in all_customers if not c.get("Active", True))
    return len(all_customers), inactive


@pytest.mark.slow
async def test_full_sync_then_exactly_the_changes(
    qbo: SyncSetup, env: SyncEnvironment, client: TestClient
) -> None:
    seed_realm(qbo.app, 240)
    total, inactive = _active_count(qbo)
    assert inactive > 0

    first = await run_sync(env, qbo.connection_id)
    assert (first.status, first.kind, first.error) == ("succeeded", "full", None)
    assert first.added == total - inactive
    assert first.deleted == inactive
    assert first.pages >= total // 50
    stored = qbo.records()
    assert len(stored) == total
    assert {r.last_action for r in stored.values() if r.deleted_at} == {"DELETED"}
    assert all(r.payload["active"] is False for r in stored.values() if r.deleted_at)

    # Behind our back, in QuickBooks: rename, deactivate, reactivate, create, sub-customer.
    live = [r for r in stored.values() if r.deleted_at is None and r.payload["balance_cents"] == 0]
    renamed, deactivated = live[0].external_id, live[1].external_id
    reactivated = next(r.external_id for r in stored.values() if r.deleted_at is not None)
    realm = qbo.realm

    def sparse(customer_id: str, **fields: Any) -> None:
        current = realm.get(customer_id)
        realm.save({"Id": customer_id, "SyncToken": current["SyncToken"], "sparse": True, **fields})

    sparse(renamed, DisplayName="Renamed Customer Ltd")
    sparse(deactivated, Active=False)
    sparse(reactivated, Active=True)
    created = realm.save({"DisplayName": "Brand New Co", "BillAddr": {"Line1": "1 Main St"}})
    child = realm.save(
        {
            "DisplayName": "Brand New Co Job",
            "Job": True,
            "ParentRef": {"value": created["Id"]},
            "BillAddr": {"Line1": "1 Main St"},
        }
    )
    last_cursor = max(r.change_seq for r in stored.values())

    second = await run_sync(env, qbo.connection_id)
    assert (second.status, second.kind) == ("succeeded", "incremental")
    assert (second.added, second.updated, second.deleted) == (3, 1, 1)

    headers = {"Connection-Id": qbo.connection_id}
    body = client.get(
        "/customers",
        params={
            "cursor": encode_cursor(last_cursor, connection_id=qbo.connection_id, model="Customer")
        },
        headers=headers,
    ).json()
    actions = {r["id"]: r["_nango_metadata"]["last_action"] for r in body["records"]}
    assert actions == {
        renamed: "UPDATED",
        deactivated: "DELETED",
        reactivated: "ADDED",
        created["Id"]: "ADDED",
        child["Id"]: "ADDED",
    }
    assert body["next_cursor"] is None
    by_id = {r["id"]: r for r in body["records"]}
    assert by_id[renamed]["display_name"] == "Renamed Customer Ltd"
    assert by_id[child["Id"]]["parent_id"] == created["Id"]
    assert by_id[child["Id"]]["fully_qualified_name"] == "Brand New Co:Brand New Co Job"
    assert by_id[deactivated]["active"] is False
    deleted = client.get("/customers", params={"filter": "deleted"}, headers=headers).json()
    deleted_ids = {r["id"] for r in deleted["records"]}
    assert deactivated in deleted_ids
    assert reactivated not in deleted_ids

    # Nothing changed: nothing written, no cursor moves.
    before = qbo.records()
    third = await run_sync(env, qbo.connection_id)
    assert (third.status, third.added, third.updated, third.deleted) == ("succeeded", 0, 0, 0)
    after = qbo.records()
    assert {k: r.change_seq for k, r in after.items()} == {
        k: r.change_seq for k, r in before.items()
    }


@pytest.mark.slow
async def test_full_sync_on_request_reads_everything_again(
    qbo: SyncSetup, env: SyncEnvironment
) -> None:
    seed_realm(qbo.app, 60)
    await run_sync(env, qbo.connection_id)
    again = await run_sync(env, qbo.connection_id, full=True)
    assert (again.kind, again.status) == ("full", "succeeded")
    assert again.unchanged == 60
    assert again.added == again.updated == 0
