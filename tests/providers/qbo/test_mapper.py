"""The pure mapper on the recorded real QuickBooks response."""

from __future__ import annotations

from datetime import UTC, datetime

from ledgerbridge.providers.qbo.mapper import to_create_body, to_sparse_update_body, to_unified
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


def test_sparse_update_body() -> None:
    body = to_sparse_update_body("5", "3", {"notes": None, "primary_email": "a@b.co"})
    assert body == {
        "Id": "5",
        "SyncToken": "3",
        "sparse": True,
        "Notes": "",
        "PrimaryEmailAddr": {"Address": "a@b.co"},
    }
