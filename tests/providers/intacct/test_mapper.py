from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerbridge.providers.base import MappedCustomer, RecordVersion
from ledgerbridge.providers.intacct.mapper import mapped, to_intacct, to_unified
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


@pytest.mark.parametrize(("total_due", "cents"), [("12.345", 1234), ("", 0), (None, 0), ("7", 700)])
def test_the_balance_is_total_due_in_exact_cents(total_due: str | None, cents: int) -> None:
    """Exact, half to even; blank or absent is no balance (as for QuickBooks)."""
    customer = {
        "key": "9",
        "totalDue": total_due,
        "audit": {
            "createdDateTime": "2024-01-01T00:00:00Z",
            "modifiedDateTime": "2024-01-02T00:00:00Z",
        },
    }
    assert to_unified(customer).balance_cents == cents
    assert mapped(customer).payload["balance_cents"] == cents


def test_every_address_field_round_trips_through_the_mapper() -> None:
    """The address is read by one mapping (`_address_payload`) and written by another
    (`_ADDRESS_FIELDS`): every field, each with its own value, comes back where it went."""
    names = ["line1", "line2", "line3", "city", "state", "postal_code", "country"]
    address = Address(**{name: f"{name}-value" for name in names})
    body = to_intacct({"bill_address": address})
    echoed = {
        **body,
        "key": "1",
        "audit": {
            "createdDateTime": "2024-01-01T00:00:00Z",
            "modifiedDateTime": "2024-01-02T00:00:00Z",
        },
    }
    assert to_unified(echoed).bill_address == address
    assert mapped(echoed).payload["bill_address"] == address.model_dump()


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


_TEXT = st.one_of(st.none(), st.just(""), st.just("  "), st.text(max_size=10), st.integers())
_AMOUNT = st.one_of(
    st.none(), st.just(""), st.decimals(-(10**7), 10**7, places=2).map(str), st.integers(-99, 99)
)
_TIME = st.one_of(
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)).map(
        lambda moment: moment.isoformat()
    ),
    st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
    ).map(lambda moment: moment.isoformat().replace("+00:00", "Z")),
)


def _fields(*names: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=dict.fromkeys(names, _TEXT))


_CONTACT = st.fixed_dictionaries(
    {},
    optional={
        **dict.fromkeys(
            ("firstName", "lastName", "middleName", "companyName", "email1", "phone1", "mobile"),
            _TEXT,
        ),
        "mailingAddress": st.one_of(
            st.none(),
            st.just("x"),
            _fields("addressLine1", "addressLine2", "addressLine3", "city", "state", "postCode"),
        ),
        "tax": st.one_of(st.none(), st.fixed_dictionaries({}, optional={"isTaxable": _TEXT})),
    },
)
_CUSTOMER = st.fixed_dictionaries(
    {
        "key": st.one_of(st.integers(1, 10**6), st.text(min_size=1, max_size=5)),
        "audit": st.fixed_dictionaries({"createdDateTime": _TIME, "modifiedDateTime": _TIME}),
    },
    optional={
        "name": _TEXT,
        "status": st.sampled_from(["active", "inactive", "other"]),
        "currency": _TEXT,
        "notes": _TEXT,
        "totalDue": _AMOUNT,
        "creditLimit": _AMOUNT,
        "parent": st.one_of(st.none(), st.fixed_dictionaries({}, optional={"key": _TEXT})),
        "contacts": st.one_of(
            st.none(),
            st.fixed_dictionaries({}, optional={"default": st.one_of(st.none(), _CONTACT)}),
        ),
    },
)


def _through_model(customer: dict[str, Any]) -> MappedCustomer:
    """What a sync stored before the direct payload: through the Pydantic model."""
    unified = to_unified(customer)
    modified = customer["audit"]["modifiedDateTime"]
    return MappedCustomer(
        external_id=unified.id,
        payload=unified.to_payload(),
        native=customer,
        deleted=customer.get("status") == "inactive",
        version=RecordVersion(str(modified), unified.updated_at),
    )


@settings(max_examples=600, deadline=None)
@given(customer=_CUSTOMER)
def test_a_synced_payload_is_the_unified_models_for_any_customer(
    customer: dict[str, Any],
) -> None:
    direct, through_model = mapped(customer), _through_model(customer)
    assert direct == through_model
    # Same keys in the same order (the stored JSON, its content hash and GET /customers
    # follow it).
    assert orjson.dumps(direct.payload) == orjson.dumps(through_model.payload)
