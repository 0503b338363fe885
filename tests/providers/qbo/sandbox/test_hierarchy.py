"""Sub-customers and jobs: Level, FullyQualifiedName, BalanceWithJobs, 6150, five levels."""

from __future__ import annotations

from providers.qbo.qbo_helpers import Realm, fault_code


def _job(realm: Realm, name: str, parent: dict[str, str], **extra: object) -> dict[str, object]:
    return realm.create(DisplayName=name, Job=True, ParentRef={"value": parent["Id"]}, **extra)


def test_sub_customer_level_name_and_balances(realm: Realm) -> None:
    top = realm.create(DisplayName="Freeman Sporting Goods")
    child = _job(realm, "55 Twin Lane", top, Balance=85)
    grandchild = _job(realm, "Kitchen", child, Balance="477.50")
    assert child["Level"] == 1
    assert child["ParentRef"] == {"value": top["Id"]}
    assert grandchild["FullyQualifiedName"] == "Freeman Sporting Goods:55 Twin Lane:Kitchen"
    top_now = realm.get(f"customer/{top['Id']}").json()["Customer"]
    assert top_now["Balance"] == 0
    assert top_now["BalanceWithJobs"] == 562.5
    child_now = realm.get(f"customer/{child['Id']}").json()["Customer"]
    assert child_now["BalanceWithJobs"] == 562.5


def test_parent_rename_keeps_descendant_names_right(realm: Realm) -> None:
    top = realm.create(DisplayName="Old Name")
    child = _job(realm, "Job", top)
    grandchild = _job(realm, "Sub", child)
    realm.post_customer({"Id": top["Id"], "SyncToken": "0", "sparse": True, "DisplayName": "New"})
    read = realm.get(f"customer/{grandchild['Id']}").json()["Customer"]
    assert read["FullyQualifiedName"] == "New:Job:Sub"
    rows = realm.query("SELECT * FROM Customer WHERE FullyQualifiedName LIKE 'New:%'").json()
    assert len(rows["QueryResponse"]["Customer"]) == 2


def test_sub_customer_cannot_become_top_level(realm: Realm) -> None:
    top = realm.create(DisplayName="Parent")
    child = _job(realm, "Child", top)
    response = realm.post_customer(
        {"Id": child["Id"], "SyncToken": "0", "sparse": True, "Job": False}
    )
    assert fault_code(response) == "6150"
    full = realm.post_customer(
        {"Id": child["Id"], "SyncToken": "0", "DisplayName": "Child", "BillAddr": {"City": "X"}}
    )
    assert fault_code(full) == "6150"


def test_at_most_five_levels(realm: Realm) -> None:
    parent = realm.create(DisplayName="L0")
    for level in range(1, 5):
        parent = _job(realm, f"L{level}", parent)
    assert parent["Level"] == 4
    response = realm.post_customer(
        {
            "DisplayName": "L5",
            "Job": True,
            "ParentRef": {"value": parent["Id"]},
            "BillAddr": {"City": "X"},
        }
    )
    assert fault_code(response) == "6000"


def test_fully_qualified_name_limit_on_rename(realm: Realm) -> None:
    parent = realm.create(DisplayName="a" * 41)
    chain = [parent]
    for level in range(1, 5):
        chain.append(_job(realm, f"{level}" * 40, chain[-1]))
    # 41*5 + 4 colons = 209 fits; one more character on a middle name does not.
    response = realm.post_customer(
        {"Id": chain[2]["Id"], "SyncToken": "0", "sparse": True, "DisplayName": "2" * 41}
    )
    assert response.status_code == 200, response.text
    response = realm.post_customer(
        {"Id": chain[0]["Id"], "SyncToken": "0", "sparse": True, "DisplayName": "b" * 41}
    )
    assert response.status_code == 200


def test_moving_a_job_moves_its_balance(realm: Realm) -> None:
    first = realm.create(DisplayName="First")
    second = realm.create(DisplayName="Second")
    job = _job(realm, "Moving Job", first, Balance=10)
    realm.post_customer(
        {"Id": job["Id"], "SyncToken": "0", "sparse": True, "ParentRef": {"value": second["Id"]}}
    )
    assert realm.get(f"customer/{first['Id']}").json()["Customer"]["BalanceWithJobs"] == 0
    assert realm.get(f"customer/{second['Id']}").json()["Customer"]["BalanceWithJobs"] == 10


def test_parent_cannot_move_under_its_own_job(realm: Realm) -> None:
    top = realm.create(DisplayName="Top")
    child = _job(realm, "Under", top)
    response = realm.post_customer(
        {
            "Id": top["Id"],
            "SyncToken": "0",
            "sparse": True,
            "Job": True,
            "ParentRef": {"value": child["Id"]},
        }
    )
    assert fault_code(response) == "6000"


def test_parent_ref_without_job_makes_a_top_level_customer(realm: Realm) -> None:
    top = realm.create(DisplayName="Top")
    loose = realm.create(DisplayName="Loose", ParentRef={"value": top["Id"]})
    assert loose["Job"] is False
    assert "ParentRef" not in loose
