"""Merging customers as the QuickBooks UI does (a sandbox admin action): the survivor keeps
its Id and takes the balance, the other is gone from reads and queries, and change data
capture reports it in Intuit's deleted-entity shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from providers.qbo.qbo_helpers import Realm, fault_code


def _merge(realm: Realm, deleted_id: str, into: Any) -> httpx.Response:
    return realm.http.post(
        f"/sandbox/qbo/_admin/tenants/{realm.realm_id}/customers/{deleted_id}/merge",
        json={"into": into},
    )


def _cdc(realm: Realm, since: datetime) -> list[dict[str, Any]]:
    changed = since.strftime("%Y-%m-%dT%H:%M:%S-00:00")
    response = realm.get("cdc", entities="Customer", changedSince=changed)
    assert response.status_code == 200, response.text
    block = response.json()["CDCResponse"][0]["QueryResponse"][0]
    customers: list[dict[str, Any]] = block.get("Customer", [])
    return customers


def test_a_merge_keeps_the_survivor_and_deletes_the_other(realm: Realm) -> None:
    before = datetime.now(UTC) - timedelta(seconds=2)
    keep = realm.create(DisplayName="Acme Ltd", Balance=100.25)
    duplicate = realm.create(DisplayName="Acme Limited", Balance=50)
    other = realm.create(DisplayName="Bystander")

    response = _merge(realm, duplicate["Id"], int(keep["Id"]))
    assert response.status_code == 200, response.text
    survivor = response.json()["Customer"]
    assert response.json()["deletedId"] == duplicate["Id"]
    assert (survivor["Id"], survivor["DisplayName"]) == (keep["Id"], "Acme Ltd")
    assert (survivor["Balance"], survivor["BalanceWithJobs"]) == (150.25, 150.25)
    assert survivor["SyncToken"] == "1"  # a change of the survivor
    assert realm.get(f"customer/{keep['Id']}").json()["Customer"] == survivor

    # The merged-away customer: Object Not Found, and in no query, active or not.
    gone = realm.get(f"customer/{duplicate['Id']}")
    assert fault_code(gone) == "610"
    for text in (
        "SELECT * FROM Customer",
        "SELECT * FROM Customer WHERE Active IN (true, false)",
        f"SELECT * FROM Customer WHERE Id = '{duplicate['Id']}'",
    ):
        found = realm.query(text).json()["QueryResponse"].get("Customer", [])
        assert duplicate["Id"] not in {c["Id"] for c in found}, text
    assert realm.query("SELECT COUNT(*) FROM Customer").json()["QueryResponse"]["totalCount"] == 2

    # CDC: the changed customers in full, then the deleted one in Intuit's shape.
    changes = _cdc(realm, before)
    assert [c["Id"] for c in changes] == [other["Id"], keep["Id"], duplicate["Id"]]
    deleted = changes[-1]
    assert set(deleted) == {"status", "domain", "Id", "MetaData"}
    assert (deleted["status"], deleted["domain"]) == ("Deleted", "QBO")
    assert deleted["MetaData"]["LastUpdatedTime"] == survivor["MetaData"]["LastUpdatedTime"]
    # A later changedSince no longer shows it.
    assert _cdc(realm, datetime.now(UTC) + timedelta(seconds=1)) == []


def test_sub_customer_balances_move_with_the_merge(realm: Realm) -> None:
    parent = realm.create(DisplayName="Holding")
    job = realm.create(DisplayName="Site", Job=True, ParentRef={"value": parent["Id"]}, Balance=5)
    duplicate = realm.create(DisplayName="Site (old)", Balance=20)
    assert _merge(realm, duplicate["Id"], job["Id"]).status_code == 200
    assert realm.get(f"customer/{job['Id']}").json()["Customer"]["Balance"] == 25
    holding = realm.get(f"customer/{parent['Id']}").json()["Customer"]
    assert (holding["Balance"], holding["BalanceWithJobs"]) == (0, 25)


@pytest.mark.parametrize(
    ("deleted", "into", "status", "says"),
    [
        ("a", "a", 400, "into itself"),
        ("a", "9999", 404, "no customer 9999"),
        ("9999", "a", 404, "no customer 9999"),
        ("parent", "a", 400, "sub-customers"),  # Intuit: neither may have sub-customers
        ("a", "parent", 400, "sub-customers"),
    ],
)
def test_merges_quickbooks_refuses(
    realm: Realm, deleted: str, into: str, status: int, says: str
) -> None:
    ids = {"a": realm.create(DisplayName="A")["Id"], "9999": "9999"}
    ids["parent"] = realm.create(DisplayName="Parent")["Id"]
    realm.create(DisplayName="Child", Job=True, ParentRef={"value": ids["parent"]})
    response = _merge(realm, ids[deleted], int(ids[into]))
    assert response.status_code == status, response.text
    assert says in response.json()["detail"]
    assert realm.get(f"customer/{ids['a']}").status_code == 200  # nothing changed


def test_a_merge_in_an_unknown_realm_or_with_bad_ids_is_refused(realm: Realm) -> None:
    realm.create(DisplayName="A")
    unknown = realm.http.post("/sandbox/qbo/_admin/tenants/555/customers/1/merge", json={"into": 2})
    assert unknown.status_code == 404
    for deleted_id, into in (("1", 2**40), ("99999999999", 1), ("x", 1), ("1", "two")):
        response = _merge(realm, deleted_id, into)
        # Refused in QuickBooks' own envelope, as every answer under the sandbox's prefix.
        assert response.status_code == 400, response.text
        assert response.json()["Fault"]["Error"][0]["code"] == "2010", response.text
