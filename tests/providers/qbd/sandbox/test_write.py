"""Create and update: complete objects, QuickBooks' rules and codes, nothing changed on error."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from ledgerbridge.providers.qbd.sandbox.catalog import CATALOG
from providers.qbd.support import CUSTOMER_SCHEMA, SEEDED, Conductor, assert_error

LIST = "/quickbooks-desktop/customers"
CLASS_ID, CLASS_NAME = next(iter(CATALOG["classId"].entries.items()))


def _create(conductor: Conductor, **body: Any) -> dict[str, Any]:
    response = conductor.post(LIST, json=body)
    assert response.status_code == 200, response.text
    customer: dict[str, Any] = response.json()
    CUSTOMER_SCHEMA.validate(customer)
    return customer


def test_create_returns_a_complete_customer(conductor: Conductor) -> None:
    customer = _create(
        conductor,
        name="Blue Heron Studio",
        companyName="Blue Heron Studio LLC",
        firstName="Ada",
        lastName="Lovelace",
        classId=CLASS_ID,
        openingBalance="1250.5",
        openingBalanceDate="2024-01-31",
        creditLimit="5000",
        billingAddress={"line1": "1 Main St", "state": "CA"},
        additionalContacts=[{"firstName": "Grace", "lastName": "Hopper"}],
        additionalNotes=[{"note": "Met at the fair."}],
        externalId="12345678-abcd-1234-abcd-1234567890ab",
        jobStatus="pending",
    )
    assert customer["id"].count("-") == 1
    assert customer["id"].split("-")[0].startswith("8")
    assert (customer["fullName"], customer["sublevel"], customer["parent"]) == (
        "Blue Heron Studio",
        0,
        None,
    )
    assert customer["class"] == {"id": CLASS_ID, "fullName": CLASS_NAME}
    assert (customer["balance"], customer["totalBalance"]) == ("1250.50", "1250.50")
    assert customer["creditLimit"] == "5000.00"
    assert customer["billingAddress"]["line2"] is None
    assert customer["additionalContacts"][0]["name"] == "Grace Hopper"
    assert customer["additionalNotes"][0]["id"] == 1
    assert customer["currency"]["fullName"] == "US Dollar"  # the home currency
    fetched = conductor.get(f"{LIST}/{customer['id']}").json()
    assert fetched == customer


def test_jobs_roll_up_into_the_parent_total(conductor: Conductor) -> None:
    parent = _create(conductor, name="Harbor Foods", openingBalance="100.00")
    job = _create(conductor, name="Dock 4", parentId=parent["id"], openingBalance="25.25")
    sub = _create(conductor, name="Cold Room", parentId=job["id"], openingBalance="0.75")
    assert (job["fullName"], job["sublevel"]) == ("Harbor Foods:Dock 4", 1)
    assert sub["parent"] == {"id": job["id"], "fullName": "Harbor Foods:Dock 4"}
    assert sub["sublevel"] == 2
    parent = conductor.get(f"{LIST}/{parent['id']}").json()
    assert (parent["balance"], parent["totalBalance"]) == ("100.00", "126.00")
    # The same job name under another parent is fine; under the same parent it is taken.
    other = _create(conductor, name="Other Foods")
    _create(conductor, name="Dock 4", parentId=other["id"])
    taken = conductor.post(LIST, json={"name": "dock 4", "parentId": parent["id"]})
    body = assert_error(taken, 400, "INTEGRATION_ERROR", "QBD_REQUEST_ERROR")
    assert body["error"]["integrationCode"] == "3100"
    assert body["error"]["message"] == (
        'The name "Harbor Foods:dock 4" of the list element is already in use.'
    )


def test_update_changes_the_revision_and_refuses_a_stale_one(conductor: Conductor) -> None:
    customer = _create(conductor, name="Copper Kettle")
    first_revision = customer["revisionNumber"]
    updated = conductor.post(
        f"{LIST}/{customer['id']}",
        json={"revisionNumber": first_revision, "email": "a@b.example", "isActive": False},
    ).json()
    CUSTOMER_SCHEMA.validate(updated)
    assert updated["revisionNumber"] != first_revision
    assert (updated["email"], updated["isActive"]) == ("a@b.example", False)
    stale = conductor.post(
        f"{LIST}/{customer['id']}", json={"revisionNumber": first_revision, "note": "lost"}
    )
    body = assert_error(stale, 400, "INTEGRATION_ERROR", "QBD_REQUEST_ERROR")
    assert body["error"]["integrationCode"] == "3200"
    assert first_revision in body["error"]["message"]
    assert conductor.get(f"{LIST}/{customer['id']}").json()["note"] is None


def test_renaming_a_parent_renames_its_jobs(conductor: Conductor) -> None:
    parent = _create(conductor, name="Old Name")
    job = _create(conductor, name="Job", parentId=parent["id"], openingBalance="5.00")
    conductor.post(
        f"{LIST}/{parent['id']}", json={"revisionNumber": parent["revisionNumber"], "name": "New"}
    )
    job = conductor.get(f"{LIST}/{job['id']}").json()
    assert job["fullName"] == "New:Job"
    assert job["parent"]["fullName"] == "New"
    # Moving the job elsewhere moves its balance with it.
    other = _create(conductor, name="Elsewhere")
    moved = conductor.post(
        f"{LIST}/{job['id']}",
        json={"revisionNumber": job["revisionNumber"], "parentId": other["id"]},
    ).json()
    assert moved["fullName"] == "Elsewhere:Job"
    assert conductor.get(f"{LIST}/{parent['id']}").json()["totalBalance"] == "0.00"
    assert conductor.get(f"{LIST}/{other['id']}").json()["totalBalance"] == "5.00"
    cycle = conductor.post(
        f"{LIST}/{other['id']}",
        json={
            "revisionNumber": conductor.get(f"{LIST}/{other['id']}").json()["revisionNumber"],
            "parentId": job["id"],
        },
    )
    assert_error(cycle, 400, "INTEGRATION_ERROR", "QBD_REQUEST_ERROR")


def test_contacts_are_modified_by_id_with_their_own_revision(conductor: Conductor) -> None:
    customer = _create(conductor, name="Contacts Inc", additionalContacts=[{"firstName": "Al"}])
    contact = customer["additionalContacts"][0]
    url = f"{LIST}/{customer['id']}"
    change = {"id": contact["id"], "revisionNumber": contact["revisionNumber"], "lastName": "Bo"}
    updated = conductor.post(
        url, json={"revisionNumber": customer["revisionNumber"], "additionalContacts": [change]}
    ).json()
    assert [c["name"] for c in updated["additionalContacts"]] == ["Al Bo"]
    assert updated["additionalContacts"][0]["revisionNumber"] != contact["revisionNumber"]
    # The update body names contacts by id and revision (the spec requires both).
    added = conductor.post(
        url,
        json={
            "revisionNumber": updated["revisionNumber"],
            "additionalContacts": [{"firstName": "Cy"}],
        },
    )
    assert_error(added, 400, "INVALID_REQUEST_ERROR", "INVALID_REQUEST")
    stale = conductor.post(
        url, json={"revisionNumber": updated["revisionNumber"], "additionalContacts": [change]}
    )
    assert stale.json()["error"]["integrationCode"] == "3200"


def test_unknown_or_too_long_ids(conductor: Conductor) -> None:
    missing = conductor.get(f"{LIST}/80009999-1700000000")
    assert_error(missing, 404, "INVALID_REQUEST_ERROR", "RESOURCE_MISSING")
    update = conductor.post(f"{LIST}/80009999-1700000000", json={"revisionNumber": "1"})
    assert_error(update, 404, "INVALID_REQUEST_ERROR", "RESOURCE_MISSING")
    too_long = conductor.get(f"{LIST}/{'8' * 37}")
    assert_error(too_long, 400, "INVALID_REQUEST_ERROR", "INVALID_REQUEST")


@pytest.mark.parametrize(
    "body",
    [
        {},  # name is required
        {"name": "x", "nickname": "no unknown properties"},
        {"name": "x" * 42},  # name ≤ 41
        {"name": "x", "firstName": "y" * 26},  # ≤ 25
        {"name": "x", "middleName": "abcdef"},  # ≤ 5
        {"name": "x", "billingAddress": {"line1": "z" * 42}},  # address lines ≤ 41
        {"name": "x", "billingAddress": {"street": "1 Main"}},
        {"name": "x", "jobStatus": "started"},
        {"name": "x", "preferredDeliveryMethod": "fax"},
        {"name": "x", "salesTaxCountry": "france"},
        {"name": "x", "jobStartDate": "31/01/2024"},
        {"name": "x", "externalId": "not-a-uuid"},
        {"name": "x", "isActive": "yes"},
        {"name": "x", "openingBalance": "12.345"},
        {"name": "x", "creditLimit": "lots"},
        {"name": "x", "alternateShippingAddresses": []},  # minItems 1
        {"name": "x", "additionalContacts": [{"lastName": "no first name"}]},
        {"name": "x", "creditCard": {"expirationMonth": "12"}},
        {"name": "   "},
        {"name": "Parent:Child"},  # the colon separates levels
        ["name", "x"],
        "not an object",
    ],
)
def test_bad_create_bodies_change_nothing(conductor: Conductor, body: Any) -> None:
    response = conductor.post(LIST, json=body)
    assert_error(response, 400, "INVALID_REQUEST_ERROR", "INVALID_REQUEST")
    assert len(conductor.all_customers(status="all")) == SEEDED


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("classId", "80000001-0"),
        ("parentId", "80000001-0"),
        ("currencyId", "nope"),
        ("termsId", "nope"),
    ],
)
def test_unknown_references_are_refused_as_quickbooks_does(
    conductor: Conductor, field: str, value: str
) -> None:
    response = conductor.post(LIST, json={"name": "Ref Test", field: value})
    body = assert_error(response, 400, "INTEGRATION_ERROR", "QBD_REQUEST_ERROR")
    assert body["error"]["integrationCode"] == "3140"
    assert len(conductor.all_customers(status="all")) == SEEDED


@pytest.mark.parametrize(
    "body",
    [
        {"name": "no revision"},
        {
            "revisionNumber": "1",
            "externalId": "12345678-abcd-1234-abcd-1234567890ab",
        },  # create-only
        {"revisionNumber": "1", "openingBalance": "1.00"},
        {"revisionNumber": 1},
    ],
)
def test_bad_update_bodies_change_nothing(conductor: Conductor, body: Any) -> None:
    customer = conductor.all_customers()[0]
    response = conductor.post(f"{LIST}/{customer['id']}", json=body)
    assert_error(response, 400, "INVALID_REQUEST_ERROR", "INVALID_REQUEST")
    assert conductor.get(f"{LIST}/{customer['id']}").json() == customer


def test_not_json_is_refused(conductor: Conductor) -> None:
    response = conductor.post(LIST, content=b"{name:", headers={"Content-Type": "application/json"})
    assert_error(response, 400, "INVALID_REQUEST_ERROR", "INVALID_REQUEST")


def test_money_is_exact(conductor: Conductor) -> None:
    customer = _create(conductor, name="Pennies", openingBalance="0.10")
    for index in range(3):
        _create(conductor, name=f"P{index}", parentId=customer["id"], openingBalance="0.10")
    total = conductor.get(f"{LIST}/{customer['id']}").json()["totalBalance"]
    assert Decimal(total) == Decimal("0.40")
    assert total == "0.40"
