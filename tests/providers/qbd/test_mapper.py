"""The QuickBooks Desktop mapper on the seed's example `qbd_customer` (Conductor's own)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ledgerbridge.providers.base import MappedCustomer, RecordVersion
from ledgerbridge.providers.qbd.mapper import (
    currency_code,
    mapped,
    to_create_body,
    to_unified,
    to_update_body,
)
from ledgerbridge.unified.customer import Address

SEED = Path(__file__).parent / "data" / "seed_customer.json"


@pytest.fixture
def native() -> dict[str, Any]:
    customer: dict[str, Any] = json.loads(SEED.read_text())
    return customer


def test_seed_example_maps_every_unified_field(native: dict[str, Any]) -> None:
    customer = to_unified(native)
    assert customer.id == "80000001-1234567890"
    assert customer.created_at == datetime(2021, 10, 1, 17, 34, 56, tzinfo=UTC)
    assert customer.updated_at == datetime(2021, 10, 1, 20, 45, 30, tzinfo=UTC)
    assert (customer.given_name, customer.middle_name, customer.family_name) == (
        "John",
        "A.",
        "Doe",
    )
    assert customer.display_name == "Website Redesign Project"
    assert customer.fully_qualified_name == "ABC Corporation:Website Redesign Project"
    assert customer.company_name == "Acme Corporation"
    assert customer.parent_id == "80000001-1234567890"
    assert customer.active is True
    # `balance` is the customer's own; `totalBalance` (5000.00) includes its jobs.
    assert customer.balance_cents == 100000
    assert customer.credit_limit_cents == 500000
    assert customer.taxable is False  # sales-tax code "Non"
    assert customer.primary_email == "customer@example.com"
    assert customer.primary_phone == "+1-555-123-4567"
    assert customer.currency == "USD"
    assert customer.notes == "Our favorite customer."
    assert customer.mobile_phone is None  # its only contact field is "Main Phone"
    assert customer.bill_address == Address(
        line1="Conductor Labs Inc.",
        line2="540 Market St.",
        line3="Suite 100",
        city="San Francisco",
        state="CA",
        postal_code="94110",
        country="United States",
    )
    assert customer.ship_address == customer.bill_address


def test_local_times_become_utc_and_money_stays_exact(native: dict[str, Any]) -> None:
    native |= {
        "updatedAt": "2024-03-10T01:59:59-08:00",
        "balance": "0.29",
        "creditLimit": "12345678901.15",
        "customContactFields": [{"name": "Mobile", "value": "+1-555-000-1111"}],
        "salesTaxCode": {"id": "1", "fullName": "Tax"},
        "currency": {"id": "2", "fullName": "Canadian Dollar"},
        "parent": None,
        "billingAddress": None,
    }
    customer = to_unified(native)
    assert customer.updated_at == datetime(2024, 3, 10, 9, 59, 59, tzinfo=UTC)
    assert customer.balance_cents == 29  # float arithmetic would give 28
    assert customer.credit_limit_cents == 1234567890115
    assert customer.mobile_phone == "+1-555-000-1111"
    assert customer.taxable is True
    assert customer.currency == "CAD"
    assert customer.parent_id is None
    assert customer.bill_address is None


@pytest.mark.parametrize(
    ("full_name", "code"),
    [
        ("USD", "USD"),  # the seed's example
        ("US Dollar", "USD"),  # QuickBooks Desktop's own currency names
        ("British Pound Sterling", "GBP"),
        ("Klingon Darsek", None),  # unknown: no guess
        (None, None),
    ],
)
def test_currency_codes(full_name: str | None, code: str | None) -> None:
    assert currency_code(full_name) == code


def test_create_body_from_unified_fields() -> None:
    body = to_create_body(
        {
            "display_name": "A" * 50,
            "given_name": "Ada",
            "family_name": "Lovelace",
            "primary_email": "ada@example.com",
            "bill_address": Address(line1="1 Main St", line2="Floor 2", state="CA"),
            "credit_limit_cents": 123456,
            "mobile_phone": "+1-555-2",
            "parent_id": "80000002-1700000000",
            "active": False,
        }
    )
    assert body == {
        "name": "A" * 41,  # Conductor refuses names over 41 characters
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": "ada@example.com",
        "parentId": "80000002-1700000000",
        "isActive": False,
        "billingAddress": {"line1": "1 Main St", "line2": "Floor 2", "state": "CA"},
        "creditLimit": "1234.56",
        "customContactFields": [{"name": "Mobile", "value": "+1-555-2"}],
    }


def test_create_needs_a_name_and_update_carries_the_revision() -> None:
    with pytest.raises(ValueError, match="display_name"):
        to_create_body({"given_name": "Ada"})
    assert to_update_body({"notes": "hi"}, "1721172183") == {
        "revisionNumber": "1721172183",
        "note": "hi",
    }


def test_round_trip_of_the_seed_through_the_create_body(native: dict[str, Any]) -> None:
    unified = to_unified(native)
    body = to_create_body(unified.model_dump())
    assert body["name"] == native["name"]
    assert body["billingAddress"]["line3"] == "Suite 100"
    assert body["creditLimit"] == native["creditLimit"]


_TEXT = st.one_of(st.none(), st.just(""), st.just("  "), st.text(max_size=10), st.integers())
_AMOUNT = st.one_of(
    st.none(), st.just(""), st.decimals(-(10**7), 10**7, places=2).map(str), st.integers(-99, 99)
)
_TIME = st.datetimes(
    min_value=datetime(1990, 1, 1),
    max_value=datetime(2090, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-8))]),
).map(lambda moment: moment.isoformat())
_ADDRESS = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional=dict.fromkeys(
            ("line1", "line2", "line3", "city", "state", "postalCode", "country"), _TEXT
        ),
    ),
)
_NAMED = st.fixed_dictionaries({}, optional={"id": _TEXT, "fullName": _TEXT})
_CUSTOMER = st.fixed_dictionaries(
    {
        "id": st.one_of(st.text(min_size=1, max_size=8), st.integers(1, 99)),
        "createdAt": _TIME,
        "updatedAt": _TIME,
    },
    optional={
        **dict.fromkeys(
            (
                "firstName",
                "middleName",
                "lastName",
                "name",
                "companyName",
                "fullName",
                "email",
                "phone",
                "note",
            ),
            _TEXT,
        ),
        "revisionNumber": st.one_of(st.none(), st.integers(0, 99), st.just("7")),
        "isActive": st.one_of(st.booleans(), st.none()),
        "balance": _AMOUNT,
        "creditLimit": _AMOUNT,
        "parent": st.one_of(st.none(), _NAMED),
        "salesTaxCode": st.one_of(
            st.none(), st.fixed_dictionaries({"fullName": st.sampled_from(["Tax", "Non", " non "])})
        ),
        "currency": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {"fullName": st.sampled_from(["US Dollar", "usd", "Euro", "", "Zloty"])}
            ),
        ),
        "customContactFields": st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(["Mobile", " mobile", "Fax"]), "value": _TEXT}
            ),
            max_size=3,
        ),
        "billingAddress": _ADDRESS,
        "shippingAddress": _ADDRESS,
    },
)


def _through_model(customer: dict[str, Any]) -> MappedCustomer:
    """What a sync stored before the direct payload: through the Pydantic model."""
    unified = to_unified(customer)
    revision = customer.get("revisionNumber")
    return MappedCustomer(
        external_id=unified.id,
        payload=unified.to_payload(),
        native=customer,
        deleted=not customer.get("isActive", True),
        version=RecordVersion(None if revision is None else str(revision), unified.updated_at),
    )


@settings(max_examples=600, deadline=None)
@given(customer=_CUSTOMER)
def test_a_synced_payload_is_the_unified_models_for_any_customer(
    customer: dict[str, Any],
) -> None:
    try:
        expected = _through_model(customer)
    except ValidationError:
        with pytest.raises(ValidationError):
            mapped(customer)
        return
    direct = mapped(customer)
    assert direct == expected
    # Same keys in the same order (the stored JSON, its content hash and GET /customers
    # follow it).
    assert orjson.dumps(direct.payload) == orjson.dumps(expected.payload)
