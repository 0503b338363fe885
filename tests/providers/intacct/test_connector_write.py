"""Write-back: create and update from unified fields, read back whole; Intacct's refusals
as the errors the API turns into 422 and 404."""

from __future__ import annotations

import random
from collections import Counter

import httpx
import pytest

from ledgerbridge.providers.base import FatalError, ProviderValidationError
from ledgerbridge.providers.intacct.mapper import mapped
from ledgerbridge.sandbox.limits import Gate

from .test_connector import Company, company

__all__ = ["company"]


@pytest.mark.anyio
async def test_create_then_read_back(company: Company) -> None:
    parent = company.key_with_status("active")
    fields = {
        "display_name": "Gomez Manufacturers",
        "given_name": "Ana",
        "family_name": "Gomez",
        "company_name": "Gomez Manufacturers Ltd",
        "primary_email": "ana@gomez.example",
        "primary_phone": "(775) 555-0100",
        "bill_address": {"line1": "1 Main St", "city": "Reno", "state": "NV", "country": "US"},
        "credit_limit_cents": 1_234_567,
        "currency": "USD",
        "taxable": True,
        "parent_id": parent,
        "notes": "Met at the trade fair",
    }
    async with httpx.AsyncClient() as http:
        connector = company.connector(http)
        native = await connector.create(fields)

    assert native["key"].isdigit()
    assert native["audit"]["createdDateTime"]
    unified = mapped(native).payload
    assert {name: unified[name] for name in fields if name != "bill_address"} == {
        name: value for name, value in fields.items() if name != "bill_address"
    }
    assert unified["bill_address"]["city"] == "Reno"
    assert unified["active"] is True
    assert company.truth()[native["key"]][0] == unified  # what a sync will read too


@pytest.mark.anyio
async def test_update_sends_only_the_changed_fields(company: Company) -> None:
    key = company.key_with_status("active")
    before = company.truth()[key][0]
    async with httpx.AsyncClient() as http:
        connector = company.connector(http)
        native = await connector.update(
            key, {"notes": "Prefers e-mail", "primary_email": "ap@acme.example"}, current=None
        )
        deactivated = await connector.update(key, {"active": False}, current=native)

    after = mapped(native).payload
    assert after["notes"] == "Prefers e-mail"
    assert after["primary_email"] == "ap@acme.example"
    # Everything not named stays as it was, including the rest of the default contact.
    unchanged = {"given_name", "family_name", "primary_phone", "bill_address", "display_name"}
    assert {name: after[name] for name in unchanged} == {name: before[name] for name in unchanged}
    assert after["updated_at"] > before["updated_at"]
    assert mapped(deactivated).deleted is True
    assert company.truth()[key][1] is True


@pytest.mark.anyio
async def test_intacct_refusals_become_validation_and_not_found_errors(company: Company) -> None:
    requests: Counter[str] = Counter()

    async def count(response: httpx.Response) -> None:
        requests[response.request.method] += 1

    async with httpx.AsyncClient(event_hooks={"response": [count]}) as http:
        connector = company.connector(http)

        # 400: create without the one required field.
        with pytest.raises(ProviderValidationError) as missing:
            await connector.create({"notes": "no name"})
        assert missing.value.http_status == 400
        assert missing.value.code == "invalidRequest"
        assert "/name is required" in missing.value.message
        assert missing.value.request_id  # Intacct's supportId, to quote to Sage support

        # 422: a business rule (the parent does not exist).
        with pytest.raises(ProviderValidationError) as orphan:
            await connector.create({"display_name": "Orphan", "parent_id": "999999"})
        assert orphan.value.http_status == 422
        assert orphan.value.code == "operationFailed"

        # 404: no such customer.
        with pytest.raises(FatalError) as gone:
            await connector.update("999999", {"notes": "x"}, current=None)
        assert gone.value.http_status == 404

        # Read-only fields are refused before any request leaves.
        sent = sum(requests.values())
        with pytest.raises(ProviderValidationError) as read_only:
            await connector.update(company.key_with_status("active"), {"balance_cents": 5}, None)
        assert read_only.value.code == "unsupportedField"
        assert "balance_cents" in read_only.value.message
        assert sum(requests.values()) == sent


@pytest.mark.anyio
async def test_creates_retried_through_faults_happen_once(company: Company) -> None:
    company.app.state.sandbox.gate = Gate(random.Random(3))  # the same faults every time
    company.knobs(error_rate=0.4, error_statuses=[503, 429])
    before = set(company.truth())
    async with httpx.AsyncClient() as http:
        connector = company.connector(http)
        created = [await connector.create({"display_name": f"Retry {n}"}) for n in range(6)]

    new = set(company.truth()) - before
    assert new == {native["key"] for native in created}
    assert len(new) == 6
