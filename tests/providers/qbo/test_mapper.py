"""The pure mapper on the recorded real QuickBooks response."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerbridge.providers.base import MappedCustomer, RecordVersion
from ledgerbridge.providers.qbo.mapper import (
    mapped,
    to_create_body,
    to_sparse_update_body,
    to_unified,
    unified_payload,
)
from ledgerbridge.unified.customer import Address
from providers.qbo.qbo_helpers import recorded_customers

RECORDED = {c["Id"]: c for c in recorded_customers()}


def test_seed_fields_of_a_recorded_customer() -> None:
    customer = to_unified(RECORDED["2"])
    assert customer.id == "2"
    assert customer.display_name == "Bill's Windsurf Shop"
    assert customer.given_name == "Bill"
    assert customer.family_name == "Lucchini"
    assert customer.company_name == "Bill's Windsurf Shop"
    assert customer.balance_cents == -1500
    assert customer.currency == "USD"
    assert customer.primary_email == "Surf@Intuit.com"
    assert customer.primary_phone == "(415) 444-6538"
    assert customer.created_at == datetime(2026, 3, 31, 23, 49, 28, tzinfo=UTC)
    assert customer.bill_address == Address(
        id="3", line1="12 Ocean Dr.", city="Half Moon Bay", state="CA", postal_code="94213"
    )
    assert customer.to_payload()["updated_at"] == "2026-05-05T10:08:49.000Z"


def test_money_is_exact_for_every_recorded_balance() -> None:
    for item in RECORDED.values():
        cents = to_unified(item).balance_cents
        assert cents == round(item["Balance"] * 100)
    assert to_unified(RECORDED["10"]).balance_cents == 62910  # 629.1, not 62909


def test_job_extensions() -> None:
    job = to_unified(RECORDED["8"])
    assert job.parent_id == "7"
    assert job.fully_qualified_name == "Freeman Sporting Goods:0969 Ocean View Road"
    assert to_unified(RECORDED["7"]).mobile_phone == "(973) 555-8849"


def test_every_recorded_customer_maps() -> None:
    for item in RECORDED.values():
        customer = to_unified(item)
        assert customer.active is item["Active"]
        assert customer.taxable is item["Taxable"]


def test_create_body_round_trips_through_the_mapper() -> None:
    original = to_unified(RECORDED["5"])
    body = to_create_body(original)
    assert body["DisplayName"] == original.display_name
    assert body["BillAddr"]["CountrySubDivisionCode"] == "AZ"
    assert "Id" not in body
    echoed = to_unified({**body, "Id": "5", "MetaData": RECORDED["5"]["MetaData"]})
    assert echoed.model_dump(exclude={"fully_qualified_name"}) == original.model_dump(
        exclude={"fully_qualified_name"}
    )


def test_every_address_field_round_trips_through_the_mapper() -> None:
    """The address is read by one mapping and written by another (`_ADDRESS_MAP`): every
    field, each with its own value, comes back where it went."""
    fields = ["id", "line1", "line2", "line3", "city", "state", "postal_code", "country"]
    address = Address(**{name: f"{name}-value" for name in fields})
    original = to_unified(RECORDED["5"]).model_copy(
        update={"bill_address": address, "ship_address": address}
    )
    body = to_create_body(original)
    echoed = to_unified({**body, "Id": "5", "MetaData": RECORDED["5"]["MetaData"]})
    assert echoed.bill_address == echoed.ship_address == address


def test_sparse_update_body() -> None:
    body = to_sparse_update_body("5", "3", {"notes": None, "primary_email": "a@b.co"})
    assert body == {
        "Id": "5",
        "SyncToken": "3",
        "sparse": True,
        "Notes": "",
        "PrimaryEmailAddr": {"Address": "a@b.co"},
    }


_TEXT = st.one_of(st.none(), st.just(""), st.just("   "), st.text(max_size=12), st.integers())
_MONEY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**9), 10**9),
    st.decimals(-(10**7), 10**7, places=2).map(float),
    st.decimals(-(10**7), 10**7, places=2).map(str),
)
_TIME = st.datetimes(
    min_value=datetime(1990, 1, 1),
    max_value=datetime(2090, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7)), timezone(timedelta(hours=5))]),
).map(lambda moment: moment.isoformat())
_ADDRESS = st.one_of(
    st.none(),
    st.just("12 Ocean Dr."),
    st.dictionaries(
        st.sampled_from(["Id", "Line1", "Line2", "Line3", "City", "Country", "PostalCode"]),
        _TEXT,
    ),
)


def _ref(field: str) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.just("x"), st.fixed_dictionaries({}, optional={field: _TEXT}))


_CUSTOMER = st.fixed_dictionaries(
    {
        "Id": st.one_of(st.integers(1, 10**6), st.text(min_size=1, max_size=6)),
        "MetaData": st.fixed_dictionaries({"CreateTime": _TIME, "LastUpdatedTime": _TIME}),
    },
    optional={
        "SyncToken": st.one_of(st.integers(0, 99), st.just("3")),
        "GivenName": _TEXT,
        "DisplayName": _TEXT,
        "FamilyName": _TEXT,
        "MiddleName": _TEXT,
        "CompanyName": _TEXT,
        "FullyQualifiedName": _TEXT,
        "Notes": _TEXT,
        "Active": st.one_of(st.booleans(), st.none()),
        "Taxable": st.one_of(st.booleans(), st.none()),
        "Balance": _MONEY,
        "CreditLimit": _MONEY,
        "PrimaryEmailAddr": _ref("Address"),
        "PrimaryPhone": _ref("FreeFormNumber"),
        "Mobile": _ref("FreeFormNumber"),
        "CurrencyRef": _ref("value"),
        "ParentRef": _ref("value"),
        "BillAddr": _ADDRESS,
        "ShipAddr": _ADDRESS,
    },
)


def _as_synced(customer: dict[str, Any]) -> MappedCustomer:
    """What a sync stored before the direct payload: through the Pydantic model."""
    unified = to_unified(customer)
    token = customer.get("SyncToken")
    return MappedCustomer(
        external_id=unified.id,
        payload=unified.to_payload(),
        native=customer,
        deleted=customer.get("Active", True) is False,
        version=RecordVersion(None if token is None else str(token), unified.updated_at),
    )


def _same_mapping(customer: dict[str, Any]) -> None:
    direct, through_model = mapped(customer), _as_synced(customer)
    assert direct == through_model
    # Same keys in the same order (the stored JSON, its content hash and GET /customers
    # follow it).
    assert orjson.dumps(direct.payload) == orjson.dumps(through_model.payload)
    assert orjson.dumps(unified_payload(customer)) == orjson.dumps(through_model.payload)


def test_a_synced_payload_is_the_unified_models_for_every_recorded_customer() -> None:
    for item in RECORDED.values():
        _same_mapping(item)


@settings(max_examples=600, deadline=None)
@given(customer=_CUSTOMER)
def test_a_synced_payload_is_the_unified_models_for_any_customer(
    customer: dict[str, Any],
) -> None:
    _same_mapping(customer)
