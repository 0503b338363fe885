from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from ledgerbridge.providers.intacct.mapper import to_intacct, to_unified
from ledgerbridge.unified.customer import Address
from providers.intacct.support import SPEC_PATH


def _spec_example() -> dict[str, Any]:
    """Sage's own example of a customer object, from the published OpenAPI document."""
    spec = json.loads(SPEC_PATH.read_text())
    get = spec["paths"]["/objects/accounts-receivable/customer/{key}"]["get"]
    examples = get["responses"]["200"]["content"]["application/json"]["examples"]
    result: dict[str, Any] = next(iter(examples.values()))["value"]["ia::result"]
    return result


def test_the_published_example_maps_to_the_unified_customer() -> None:
    unified = to_unified(_spec_example())
    assert unified.id == "1"
    assert unified.display_name == "Power Aerospace Materials"
    assert (unified.given_name, unified.middle_name, unified.family_name) == (
        "Sandy",
        "E",
        "Tieber",
    )
    assert unified.primary_email == "user@domain.com"
    assert unified.primary_phone == "(408) 395-2539"
    assert unified.company_name == "Logic Solutions"
    assert unified.parent_id == "2055"
    assert unified.currency == "USD"
    assert unified.credit_limit_cents == 2_000_000
    assert unified.balance_cents == 9_999_999  # "99999.99", exact
    assert unified.notes == "Sample Notes"
    assert unified.active is True
    assert unified.taxable is True
    assert unified.bill_address is not None
    assert unified.bill_address.city == "Sacramento"
    assert unified.bill_address.postal_code == "95119-1208"
    assert unified.updated_at == datetime(2023, 12, 14, 11, 31, 6, tzinfo=UTC)


def test_inactive_customers_are_not_active_and_a_missing_contact_leaves_names_empty() -> None:
    unified = to_unified(
        {
            "key": "9",
            "name": "Bare",
            "status": "inactive",
            "totalDue": "0.10",
            "audit": {
                "createdDateTime": "2024-01-01T00:00:00Z",
                "modifiedDateTime": "2024-01-02T05:00:00+05:00",
            },
        }
    )
    assert unified.active is False
    assert unified.balance_cents == 10
    assert unified.given_name is None
    assert unified.bill_address is None
    assert unified.updated_at == datetime(2024, 1, 2, 0, 0, tzinfo=UTC)


def test_unified_changes_become_a_body_with_only_the_fields_sent() -> None:
    body = to_intacct(
        {
            "display_name": "Gomez Manufacturers",
            "active": False,
            "credit_limit_cents": 1_234_567,
            "primary_email": "ana@gomez.example",
            "bill_address": Address(line1="1 Main St", city="Reno"),
            "parent_id": "10",
        }
    )
    assert body == {
        "name": "Gomez Manufacturers",
        "status": "inactive",
        "creditLimit": 12345.67,
        "parent": {"key": "10"},
        "contacts": {
            "default": {
                "email1": "ana@gomez.example",
                "mailingAddress": {
                    "addressLine1": "1 Main St",
                    "addressLine2": None,
                    "addressLine3": None,
                    "city": "Reno",
                    "state": None,
                    "postCode": None,
                    "country": None,
                },
            }
        },
    }
    assert to_intacct({"notes": None}) == {"notes": None}
    assert to_intacct({"parent_id": None}) == {"parent": {}}
