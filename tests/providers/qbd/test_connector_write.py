"""Write-back through the QuickBooks Desktop connector against the Conductor sandbox, and
how each of Conductor's answers is classified."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from ledgerbridge.providers.base import (
    AuthError,
    ConflictError,
    FatalError,
    ProviderValidationError,
    RetriableError,
    ThrottledError,
)
from ledgerbridge.providers.qbd import mapper
from ledgerbridge.providers.qbd.connector import CursorLostError, QbdConnector, classify
from providers.qbd.test_connector import Company, open_company


@pytest.fixture
def company(app: FastAPI, live_server: Any) -> Company:
    return open_company(app, live_server.url, 20)


@pytest.fixture
async def connector(company: Company) -> AsyncIterator[QbdConnector]:
    async with httpx.AsyncClient() as http:
        yield company.connector(http)


@pytest.mark.anyio
async def test_create_then_update_then_a_stale_update(connector: QbdConnector) -> None:
    created = await connector.create(
        {
            "display_name": "Heron Studio",
            "given_name": "Ada",
            "primary_email": "ada@example.com",
            "mobile_phone": "555-0100",
            "bill_address": {"line1": "1 Main St", "city": "Oakland", "state": "CA"},
            "balance_cents": 125050,
            "taxable": False,
        }
    )
    unified = mapper.to_unified(created)
    assert (unified.display_name, unified.given_name, unified.mobile_phone) == (
        "Heron Studio",
        "Ada",
        "555-0100",
    )
    assert unified.balance_cents == 125050  # the opening balance
    assert unified.bill_address is not None
    assert unified.bill_address.city == "Oakland"

    updated = await connector.update(
        created["id"], {"family_name": "Lovelace", "primary_email": None}, current=created
    )
    assert updated["revisionNumber"] != created["revisionNumber"]
    after = mapper.to_unified(updated)
    assert (after.family_name, after.primary_email) == ("Lovelace", None)  # null clears

    with pytest.raises(ConflictError) as stale:
        await connector.update(created["id"], {"notes": "late"}, current=created)
    assert (stale.value.code, stale.value.http_status) == ("3200", 400)
    # Without `current` the connector reads the revision first.
    fetched = await connector.update(created["id"], {"notes": "fresh"}, current=None)
    assert mapper.to_unified(fetched).notes == "fresh"


@pytest.mark.anyio
async def test_a_new_mobile_number_keeps_the_other_contact_fields(
    company: Company, connector: QbdConnector
) -> None:
    customer = company.all_customers()[0]
    others = [f for f in customer["customContactFields"] if f["name"] != "Mobile"]
    assert others
    updated = await connector.update(customer["id"], {"mobile_phone": "555-0199"}, customer)
    assert updated["customContactFields"] == [*others, {"name": "Mobile", "value": "555-0199"}]


@pytest.mark.anyio
async def test_a_duplicate_name_and_a_bad_field_are_the_data(connector: QbdConnector) -> None:
    await connector.create({"display_name": "Twin Pines"})
    with pytest.raises(ProviderValidationError) as duplicate:
        await connector.create({"display_name": "twin pines"})
    assert duplicate.value.code == "3100"
    assert "already in use" in duplicate.value.message
    with pytest.raises(ProviderValidationError) as too_long:
        await connector.create({"display_name": "Long", "given_name": "G" * 30})
    assert (too_long.value.code, too_long.value.http_status) == ("INVALID_REQUEST", 400)
    assert "firstName" in too_long.value.message
    with pytest.raises(ProviderValidationError) as nameless:
        await connector.create({"given_name": "Ada"})
    assert nameless.value.code == "NAME_REQUIRED"


@pytest.mark.parametrize(
    ("changes", "refused"),
    [
        ({"currency": "EUR"}, "currency"),  # a currencyId of the company's list
        ({"taxable": True}, "taxable"),  # a salesTaxCodeId of the company's list
        ({"balance_cents": 1}, "balance_cents"),  # computed from transactions
        ({"display_name": None}, "display_name"),  # QuickBooks needs a name
    ],
)
@pytest.mark.anyio
async def test_fields_conductor_cannot_set_are_refused_before_sending(
    company: Company, connector: QbdConnector, changes: dict[str, Any], refused: str
) -> None:
    customer = next(c for c in company.all_customers() if c["salesTaxCode"]["fullName"] == "Non")
    with pytest.raises(ProviderValidationError) as caught:
        await connector.update(customer["id"], changes, customer)
    assert caught.value.code == "UNSUPPORTED_FIELDS"
    assert refused in caught.value.message
    after = next(c for c in company.all_customers() if c["id"] == customer["id"])
    assert after["revisionNumber"] == customer["revisionNumber"]  # nothing was sent


@pytest.mark.anyio
async def test_a_missing_customer_is_404(connector: QbdConnector) -> None:
    with pytest.raises(FatalError) as missing:
        await connector.get("80009999-1700000000")
    assert (missing.value.http_status, missing.value.code) == (404, "RESOURCE_MISSING")
    assert str(missing.value.request_id).startswith("req_")


def _answer(status: int, body: Any, url: str = "https://api.conductor.is/v1/x") -> httpx.Response:
    request = httpx.Request("GET", url)
    if isinstance(body, bytes):
        return httpx.Response(status, content=body, request=request)
    return httpx.Response(status, json=body, request=request)


def _e(type_: str, code: str, integration_code: str | None = None) -> dict[str, Any]:
    error = {"message": "m", "userFacingMessage": "u", "type": type_, "code": code}
    if integration_code is not None:
        error["integrationCode"] = integration_code
    return {"error": {**error, "requestId": "req_1"}}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        # QuickBooks' own codes, passed through as integrationCode.
        (400, _e("INTEGRATION_ERROR", "QBD_REQUEST_ERROR", "3200"), ConflictError),
        (400, _e("INTEGRATION_ERROR", "QBD_REQUEST_ERROR", "3100"), ProviderValidationError),
        (400, _e("INVALID_REQUEST_ERROR", "INVALID_REQUEST"), ProviderValidationError),
        (404, _e("INVALID_REQUEST_ERROR", "RESOURCE_MISSING"), FatalError),
        # The desktop unreachable, Conductor down, a request timed out or already running.
        (502, _e("INTEGRATION_CONNECTION_ERROR", "QBD_CONNECTION_ERROR"), RetriableError),
        (500, _e("INTERNAL_ERROR", "INTERNAL_SERVER_ERROR"), RetriableError),
        (503, b"<html>Service Unavailable</html>", RetriableError),
        (408, _e("INTERNAL_ERROR", "REQUEST_TIMEOUT"), RetriableError),
        (409, _e("INVALID_REQUEST_ERROR", "CONCURRENT_REQUEST"), RetriableError),
        (429, _e("INVALID_REQUEST_ERROR", "TOO_MANY_REQUESTS"), ThrottledError),
        # Keys, permissions, an end user who never finished the auth flow: a person's job.
        (401, _e("AUTHENTICATION_ERROR", "API_KEY_INVALID"), AuthError),
        (403, _e("PERMISSION_ERROR", "FORBIDDEN"), AuthError),
        (409, _e("INTEGRATION_CONNECTION_ERROR", "INTEGRATION_CONNECTION_NOT_SET_UP"), AuthError),
        (418, _e("INTERNAL_ERROR", "TEAPOT"), FatalError),
    ],
)
def test_classification(status: int, body: Any, expected: type[Exception]) -> None:
    with pytest.raises(expected) as caught:
        classify(_answer(status, body))
    assert type(caught.value) is expected
    assert caught.value.http_status == status  # type: ignore[attr-defined]


def test_an_invalid_request_for_a_cursor_loses_the_cursor() -> None:
    answer = _answer(
        400, _e("INVALID_REQUEST_ERROR", "INVALID_CURSOR"), "https://h/v1/x?cursor=abc"
    )
    with pytest.raises(CursorLostError):
        classify(answer)
    ok = classify(_answer(200, {"objectType": "list", "data": []}))
    assert ok == {"objectType": "list", "data": []}
