"""Writing customers with the QuickBooks Online connector over loopback HTTP: create from
unified fields, sparse updates on the SyncToken, and the refusals a user must act on."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from ledgerbridge.providers.base import ConflictError, FatalError, ProviderValidationError
from ledgerbridge.providers.qbo.mapper import to_unified
from ledgerbridge.unified.customer import Address
from providers.qbo.connector_support import QboConnection, Recorder, run

FIELDS: dict[str, Any] = {
    "display_name": "Ada Lovelace Consulting",
    "given_name": "Ada",
    "family_name": "Lovelace",
    "primary_email": "ada@example.com",
    "bill_address": Address(line1="12 Ocean Dr.", city="Half Moon Bay", state="CA"),
    "balance_cents": 1234567,  # an opening balance of 12,345.67
    "currency": "EUR",
}


def test_create_get_and_update(qbo_connection: QboConnection) -> None:
    recorder = Recorder()

    connectors = []

    async def scenario(http: httpx.AsyncClient) -> list[dict[str, Any]]:
        connector = qbo_connection.connector(http)
        connectors.append(connector)
        created = await connector.create(FIELDS)
        fetched = await connector.get(created["Id"])
        # With the customer as last read: its SyncToken goes along.
        renamed = await connector.update(
            created["Id"], {"display_name": "Lovelace & Co", "notes": "Pays on time"}, fetched
        )
        # Without it: the connector reads the current SyncToken first.
        phoned = await connector.update(created["Id"], {"primary_phone": "(650) 555-0101"}, None)
        return [created, fetched, renamed, phoned]

    created, fetched, renamed, phoned = run(scenario, recorder)
    assert created == fetched
    assert created["SyncToken"] == "0"
    assert created["Balance"] == 12345.67
    unified = to_unified(created)
    assert unified.balance_cents == 1234567
    assert unified.bill_address is not None
    assert unified.bill_address.city == "Half Moon Bay"
    assert unified.currency == "EUR"
    assert (renamed["SyncToken"], renamed["DisplayName"], renamed["Notes"]) == (
        "1",
        "Lovelace & Co",
        "Pays on time",
    )
    assert renamed["PrimaryEmailAddr"] == {"Address": "ada@example.com"}  # sparse: kept
    assert phoned["SyncToken"] == "2"
    assert to_unified(phoned).primary_phone == "(650) 555-0101"
    assert phoned["Notes"] == "Pays on time"

    writes = [r for r in recorder.requests if r.method == "POST" and "/customer" in r.url.path]
    create_body = orjson.loads(writes[0].content)
    assert create_body["Balance"] == 12345.67
    assert "Id" not in create_body
    update_body = orjson.loads(writes[1].content)
    assert update_body == {
        "Id": created["Id"],
        "SyncToken": "0",
        "sparse": True,
        "DisplayName": "Lovelace & Co",
        "Notes": "Pays on time",
    }
    assert all(w.url.params["requestid"] for w in writes)
    assert len({w.url.params["requestid"] for w in writes}) == len(writes)
    assert [c for c in recorder.api_calls() if c.startswith("GET")] == [
        f"GET customer/{created['Id']}",
        f"GET customer/{created['Id']}",  # the update without `current`
    ]


def test_a_duplicate_name_is_a_validation_error(qbo_connection: QboConnection) -> None:
    async def scenario(http: httpx.AsyncClient) -> None:
        connector = qbo_connection.connector(http)
        await connector.create(FIELDS)
        await connector.create({**FIELDS, "display_name": FIELDS["display_name"].upper()})

    recorder = Recorder()
    with pytest.raises(ProviderValidationError) as raised:
        run(scenario, recorder)
    assert raised.value.code == "6240"
    assert raised.value.http_status == 400
    assert "Duplicate Name Exists Error" in str(raised.value)
    assert recorder.statuses == [200, 400]  # refused data is not retried


def test_a_stale_sync_token_is_a_conflict(qbo_connection: QboConnection) -> None:
    async def scenario(http: httpx.AsyncClient) -> None:
        connector = qbo_connection.connector(http)
        created = await connector.create(FIELDS)
        await connector.update(created["Id"], {"notes": "first"}, created)
        # Someone changed it since `created` was read: SyncToken 0 is stale now.
        await connector.update(created["Id"], {"notes": "second"}, created)

    with pytest.raises(ConflictError) as raised:
        run(scenario, Recorder())
    assert raised.value.code == "5010"
    assert "Re-read the customer" in str(raised.value)


def test_a_missing_customer_is_fatal_with_404(qbo_connection: QboConnection) -> None:
    with pytest.raises(FatalError) as raised:
        run(lambda http: qbo_connection.connector(http).get("999"), Recorder())
    assert raised.value.code == "610"
    assert raised.value.http_status == 404


def test_a_customer_without_an_address_is_refused(qbo_connection: QboConnection) -> None:
    with pytest.raises(ProviderValidationError) as raised:
        run(
            lambda http: qbo_connection.connector(http).create({"display_name": "No Address"}),
            Recorder(),
        )
    assert raised.value.code == "6000"
    assert "address" in raised.value.message
