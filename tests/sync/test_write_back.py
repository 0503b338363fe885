"""Write-back through the unified API into the QuickBooks Online sandbox: create, update,
the provider's validation errors (422) and a stale SyncToken (409), each leaving the
record store as it was when refused."""

from __future__ import annotations

import pytest

from asgi_client import TestClient
from ledgerbridge.sync.engine import SyncEnvironment, run_sync
from providers.qbo.live_sync import SyncSetup, seed_realm

pytestmark = pytest.mark.anyio


@pytest.mark.slow
async def test_create_update_and_refusals(
    qbo: SyncSetup, env: SyncEnvironment, app_client: TestClient
) -> None:
    seed_realm(qbo.app, 10)
    await run_sync(env, qbo.connection_id)
    headers = {"Connection-Id": qbo.connection_id}
    client = app_client

    created = client.post(
        "/customers",
        json={
            "display_name": "Write Back Ltd",
            "given_name": "Ada",
            "primary_email": "ada@example.com",
            "bill_address": {"line1": "1 Main St", "city": "Tucson", "state": "AZ"},
            "balance_cents": 12345,
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["display_name"] == "Write Back Ltd"
    assert record["balance_cents"] == 12345
    assert record["_nango_metadata"]["last_action"] == "ADDED"
    in_qbo = qbo.realm.get(record["id"])
    assert in_qbo["PrimaryEmailAddr"]["Address"] == "ada@example.com"
    listed = client.get("/customers", params={"ids": record["id"]}, headers=headers).json()
    assert [r["display_name"] for r in listed["records"]] == ["Write Back Ltd"]

    patched = client.patch(
        f"/customers/{record['id']}", json={"given_name": "Grace"}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["given_name"] == "Grace"
    assert patched.json()["display_name"] == "Write Back Ltd"  # sparse: nothing else moved
    assert qbo.realm.get(record["id"])["GivenName"] == "Grace"

    before = client.get(f"/customers/{record['id']}", headers=headers).json()
    duplicate = client.post(
        "/customers",
        json={"display_name": "Write Back Ltd", "bill_address": {"line1": "2 Main St"}},
        headers=headers,
    )
    assert duplicate.status_code == 422, duplicate.text
    error = duplicate.json()["error"]
    assert error["code"] == "provider_validation"
    assert error["errors"][0]["code"] == "6240"

    # Someone edits the customer in QuickBooks: our SyncToken is now stale.
    current = qbo.realm.get(record["id"])
    qbo.realm.save(
        {"Id": record["id"], "SyncToken": current["SyncToken"], "sparse": True, "Notes": "x"}
    )
    stale = client.patch(f"/customers/{record['id']}", json={"notes": "mine"}, headers=headers)
    assert stale.status_code == 409, stale.text
    assert stale.json()["error"]["code"] == "stale_record"
    assert stale.json()["error"]["errors"][0]["code"] == "5010"
    assert client.get(f"/customers/{record['id']}", headers=headers).json() == before


def test_bad_write_bodies_are_refused_and_change_nothing(
    qbo: SyncSetup, app_client: TestClient
) -> None:
    headers = {"Connection-Id": qbo.connection_id}
    for body in (
        {},
        {"id": "1"},
        {"display_name": 5},
        {"primary_email": "not-an-email"},
        {"currency": "dollars"},
        {"unknown": True},
    ):
        response = app_client.post("/customers", json=body, headers=headers)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]["code"] == "invalid_body"
    missing = app_client.patch("/customers/999999", json={"notes": "x"}, headers=headers)
    assert missing.status_code == 404
    assert app_client.get("/customers", headers=headers).json()["records"] == []
    assert qbo.realm.query("SELECT * FROM Customer WHERE Active IN (true, false)") == []
