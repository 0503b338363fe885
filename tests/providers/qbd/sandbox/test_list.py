"""`GET /quickbooks-desktop/customers`: every parameter, the envelope and Conductor's paging."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from providers.qbd.support import (
    CUSTOMER_SCHEMA,
    LIST_SCHEMA,
    SEEDED,
    Conductor,
    assert_error,
)

LIST = "/quickbooks-desktop/customers"


def test_pages_share_one_cursor_and_end_with_null(conductor: Conductor) -> None:
    first = conductor.get(LIST, params={"status": "all", "limit": 50}).json()
    LIST_SCHEMA.validate(first)
    assert (len(first["data"]), first["remainingCount"], first["hasMore"]) == (
        50,
        SEEDED - 50,
        True,
    )
    cursor = first["nextCursor"]
    second = conductor.get(LIST, params={"status": "all", "limit": 50, "cursor": cursor}).json()
    assert (second["nextCursor"], second["remainingCount"], second["hasMore"]) == (cursor, 20, True)
    last = conductor.get(LIST, params={"status": "all", "limit": 50, "cursor": cursor}).json()
    LIST_SCHEMA.validate(last)
    assert (len(last["data"]), last["nextCursor"], last["remainingCount"], last["hasMore"]) == (
        20,
        None,
        0,
        False,
    )
    ids = [c["id"] for page in (first, second, last) for c in page["data"]]
    assert len(set(ids)) == SEEDED
    past_end = conductor.get(LIST, params={"status": "all", "limit": 50, "cursor": cursor})
    assert_error(past_end, 400, "INVALID_REQUEST_ERROR", "INVALID_CURSOR")


def test_a_single_page_has_no_cursor(conductor: Conductor) -> None:
    page = conductor.get(LIST, params={"status": "all"}).json()
    assert (len(page["data"]), page["nextCursor"], page["remainingCount"], page["hasMore"]) == (
        SEEDED,
        None,
        0,
        False,
    )


def test_cursor_expires_after_its_lifetime_and_the_knob_changes_it(conductor: Conductor) -> None:
    cursor = conductor.get(LIST, params={"limit": 10}).json()["nextCursor"]
    conductor.clock.advance(9)
    assert conductor.get(LIST, params={"limit": 10, "cursor": cursor}).status_code == 200
    conductor.clock.advance(10.5)  # each page restarts the 10 s
    expired = conductor.get(LIST, params={"limit": 10, "cursor": cursor})
    assert_error(expired, 400, "INVALID_REQUEST_ERROR", "INVALID_CURSOR")
    conductor.configure(extra={"cursor_lifetime_s": 60})
    cursor = conductor.get(LIST, params={"limit": 10}).json()["nextCursor"]
    conductor.clock.advance(30)
    assert conductor.get(LIST, params={"limit": 10, "cursor": cursor}).status_code == 200
    unknown = conductor.get(LIST, params={"cursor": "not-a-cursor"})
    assert_error(unknown, 400, "INVALID_REQUEST_ERROR", "INVALID_CURSOR")


def test_the_result_set_is_fixed_when_paging_starts(conductor: Conductor) -> None:
    first = conductor.get(LIST, params={"limit": 100}).json()
    created = conductor.post(LIST, json={"name": "AAAA First In Line"})
    assert created.status_code == 200
    rest = conductor.get(LIST, params={"limit": 100, "cursor": first["nextCursor"]}).json()
    assert created.json()["id"] not in {c["id"] for c in first["data"] + rest["data"]}


def test_status_filter(conductor: Conductor) -> None:
    every = conductor.all_customers(status="all")
    active = conductor.all_customers()  # default is active
    inactive = conductor.all_customers(status="inactive")
    assert all(c["isActive"] for c in active)
    assert inactive
    assert not any(c["isActive"] for c in inactive)
    assert len(active) + len(inactive) == len(every) == SEEDED


def test_every_customer_is_complete_and_valid(conductor: Conductor) -> None:
    customers = conductor.all_customers(status="all")
    for customer in customers:
        CUSTOMER_SCHEMA.validate(customer)
        assert len(customer) == 56
    jobs = [c for c in customers if c["parent"] is not None]
    assert jobs
    assert any(c["sublevel"] == 2 for c in jobs)
    by_id = {c["id"]: c for c in customers}
    for job in jobs:
        parent = by_id[job["parent"]["id"]]
        assert job["fullName"] == f"{parent['fullName']}:{job['name']}"
        assert job["parent"]["fullName"] == parent["fullName"]
        assert job["sublevel"] == parent["sublevel"] + 1
        assert job["jobStatus"] is not None
        assert job["currency"] == parent["currency"]
    for customer in customers:
        children = [c for c in customers if (c["parent"] or {}).get("id") == customer["id"]]
        expected = Decimal(customer["balance"]) + sum(Decimal(c["totalBalance"]) for c in children)
        assert Decimal(customer["totalBalance"]) == expected
    # The seed is as rich as the issue asks.
    assert any(c["customFields"] for c in customers)
    assert any(c["additionalContacts"] for c in customers)
    assert any(c["alternateShippingAddresses"] for c in customers)
    assert any(c["currency"]["fullName"] != "US Dollar" for c in customers)
    assert any(c["companyName"] and c["sublevel"] == 0 for c in customers)
    assert any(c["companyName"] is None for c in customers)


def test_ids_and_full_names_repeated_or_comma_joined_ignore_other_filters(
    conductor: Conductor,
) -> None:
    customers = conductor.all_customers(status="all")
    inactive = next(c for c in customers if not c["isActive"])
    other = next(c for c in customers if c["isActive"])
    for query in (
        [("ids", inactive["id"]), ("ids", other["id"])],  # current SDKs
        [("ids", f"{inactive['id']},{other['id']}")],  # older SDK
        [("fullNames", inactive["fullName"].upper()), ("fullNames", other["fullName"])],
    ):
        # status=active is ignored: ids win.
        page = conductor.get(LIST, params=[*query, ("status", "active"), ("limit", "1")]).json()
        assert {c["id"] for c in page["data"]} == {inactive["id"], other["id"]}
        assert page["nextCursor"] is None
    missing = conductor.get(LIST, params=[("ids", other["id"]), ("ids", "80009999-1")])
    assert_error(missing, 404, "INVALID_REQUEST_ERROR", "RESOURCE_MISSING")


def _names(conductor: Conductor, **params: Any) -> list[str]:
    return [c["name"] for c in conductor.all_customers(status="all", **params)]


def test_name_filters(conductor: Conductor) -> None:
    names = _names(conductor)
    sample = sorted(names)[len(names) // 2]
    needle = sample[1:4]
    assert set(_names(conductor, nameContains=needle.upper())) == {
        n for n in names if needle.lower() in n.lower()
    }
    assert set(_names(conductor, nameStartsWith=sample[:2].lower())) == {
        n for n in names if n.lower().startswith(sample[:2].lower())
    }
    assert set(_names(conductor, nameEndsWith=sample[-3:])) == {
        n for n in names if n.lower().endswith(sample[-3:].lower())
    }
    ranged = _names(conductor, nameFrom="b", nameTo="d")
    assert ranged
    assert set(ranged) == {n for n in names if "b" <= n.lower() <= "d"}
    both = conductor.get(LIST, params={"nameContains": "a", "nameEndsWith": "b"})
    assert_error(both, 400, "INVALID_REQUEST_ERROR", "INVALID_REQUEST")


@pytest.mark.parametrize(
    ("param", "keep"),
    [
        ("totalBalance", lambda total, x: total == x),
        ("totalBalanceGreaterThan", lambda total, x: total > x),
        ("totalBalanceGreaterThanOrEqualTo", lambda total, x: total >= x),
        ("totalBalanceLessThan", lambda total, x: total < x),
        ("totalBalanceLessThanOrEqualTo", lambda total, x: total <= x),
    ],
)
def test_total_balance_filters(conductor: Conductor, param: str, keep: Any) -> None:
    customers = conductor.all_customers(status="all")
    amount = sorted(Decimal(c["totalBalance"]) for c in customers)[-20]
    found = {c["id"] for c in conductor.all_customers(status="all", **{param: str(amount)})}
    assert found == {c["id"] for c in customers if keep(Decimal(c["totalBalance"]), amount)}
    assert found


def test_only_one_total_balance_filter_and_decimals_only(conductor: Conductor) -> None:
    two = conductor.get(LIST, params={"totalBalance": "1", "totalBalanceLessThan": "2"})
    assert_error(two, 400, "INVALID_REQUEST_ERROR", "INVALID_REQUEST")
    bad = conductor.get(LIST, params={"totalBalance": "ten"})
    assert_error(bad, 400, "INVALID_REQUEST_ERROR", "INVALID_REQUEST")


def test_currency_and_class_filters(conductor: Conductor) -> None:
    customers = conductor.all_customers(status="all")
    currencies = {c["currency"]["id"] for c in customers}
    foreign = sorted(currencies)[1:]
    found = conductor.all_customers(status="all", currencyIds=",".join(foreign))
    assert {c["id"] for c in found} == {
        c["id"] for c in customers if c["currency"]["id"] in foreign
    }
    class_id = next(c["class"]["id"] for c in customers if c["class"])
    found = conductor.all_customers(status="all", classIds=[class_id])
    assert found
    assert all(c["class"]["id"] == class_id for c in found)


def test_updated_after_and_before_in_company_time(conductor: Conductor) -> None:
    customers = conductor.all_customers(status="all")
    stamps = sorted(c["updatedAt"] for c in customers)
    middle = stamps[len(stamps) // 2]
    after = conductor.all_customers(status="all", updatedAfter=middle)  # with an offset
    assert {c["updatedAt"] for c in after} == {s for s in stamps if s >= middle}
    before = conductor.all_customers(status="all", updatedBefore=middle)
    assert len(before) + len(after) == SEEDED + stamps.count(middle)
    # A date is the whole day on the company's clock (-07:00 by default).
    day = middle[:10]
    on_the_day = conductor.all_customers(status="all", updatedAfter=day, updatedBefore=day)
    assert {c["id"] for c in on_the_day} == {
        c["id"] for c in customers if c["updatedAt"][:10] == day
    }
    # No offset: the company's clock too.
    naive = conductor.all_customers(status="all", updatedAfter=middle[:19])
    assert len(naive) == len(after)
    bad = conductor.get(LIST, params={"updatedAfter": "yesterday"})
    assert_error(bad, 400, "INVALID_REQUEST_ERROR", "INVALID_REQUEST")


def test_exclude_alternate_shipping_addresses(conductor: Conductor) -> None:
    page = conductor.get(
        LIST, params={"status": "all", "excludeAlternateShippingAddresses": "true"}
    ).json()
    LIST_SCHEMA.validate(page)
    assert all(c["alternateShippingAddresses"] is None for c in page["data"])


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},  # 1 to 150
        {"limit": "151"},
        {"limit": "ten"},
        {"status": "deleted"},
        {"excludeAlternateShippingAddresses": "maybe"},
        {"sortBy": "name"},  # unknown parameter
        [("limit", "1"), ("limit", "2")],  # a scalar given twice
    ],
)
def test_bad_list_parameters(conductor: Conductor, params: Any) -> None:
    assert_error(
        conductor.get(LIST, params=params), 400, "INVALID_REQUEST_ERROR", "INVALID_REQUEST"
    )
