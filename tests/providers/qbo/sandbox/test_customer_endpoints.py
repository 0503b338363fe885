"""Customer create / read / update over HTTP: envelopes, server-set fields, every rule."""

from __future__ import annotations

import pytest

from providers.qbo.qbo_helpers import Realm, fault_code


def test_create_returns_only_set_properties_and_server_fields(realm: Realm) -> None:
    customer = realm.create(DisplayName="Cool Cars", GivenName="Grace", Balance=12.5)
    assert customer["Id"] == "1"
    assert customer["SyncToken"] == "0"
    assert customer["FullyQualifiedName"] == "Cool Cars"
    assert customer["Balance"] == 12.5
    assert customer["BalanceWithJobs"] == 12.5
    assert customer["MetaData"]["CreateTime"].endswith("-07:00")
    assert customer["domain"] == "QBO"
    assert customer["sparse"] is False
    assert "FamilyName" not in customer
    assert "Level" not in customer


def test_read_back_wraps_customer_and_time(realm: Realm) -> None:
    created = realm.create(DisplayName="Diego Rodriguez")
    response = realm.get(f"customer/{created['Id']}", minorversion="75")
    assert response.status_code == 200
    body = response.json()
    assert body["Customer"] == created
    assert body["time"].endswith("-07:00")


def test_read_only_fields_on_input_are_ignored(realm: Realm) -> None:
    customer = realm.create(
        DisplayName="Ignored",
        FullyQualifiedName="X:Y",
        Level=3,
        BalanceWithJobs=99,
        V4IDPseudonym="abc",
        SyncToken=7,
        MetaData={"CreateTime": "2000-01-01"},
    )
    assert customer["FullyQualifiedName"] == "Ignored"
    assert customer["SyncToken"] == "0"
    assert customer["BalanceWithJobs"] == 0
    assert customer["V4IDPseudonym"] != "abc"


def test_unknown_id_is_610(realm: Realm) -> None:
    response = realm.get("customer/999")
    assert response.status_code == 400
    assert fault_code(response) == "610"
    assert response.json()["Fault"]["type"] == "ValidationFault"


def test_delete_is_unsupported_and_keeps_the_customer(realm: Realm) -> None:
    created = realm.create(DisplayName="Keep Me")
    response = realm.post_customer({"Id": created["Id"], "SyncToken": "0"}, operation="delete")
    assert fault_code(response) == "500"
    assert realm.get(f"customer/{created['Id']}").status_code == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"DisplayName": "a:b"}, "6000"),  # colon in the name
        ({"DisplayName": "X", "PrimaryEmailAddr": {"Address": "nobody"}}, "2210"),
        ({"DisplayName": "X", "PrimaryEmailAddr": {"Address": "a@b"}}, "2210"),  # no dot
        ({"CompanyName": "Only A Company"}, "6080"),  # no name element
        ({"GivenName": "x" * 26}, "2050"),  # GivenName max 25
        ({"FamilyName": "x" * 16}, "2050"),  # FamilyName max 15 (seed)
        ({"DisplayName": "x" * 42}, "2050"),  # a name in FullyQualifiedName max 41
        ({"DisplayName": "X", "Notes": "n" * 1025}, "2050"),
        ({"DisplayName": "X", "Colour": "red"}, "2010"),  # unknown property
        ({"DisplayName": 5}, "2010"),  # wrong type
        ({"DisplayName": "X", "Active": "maybe"}, "2010"),
        ({"DisplayName": "X", "Balance": "ten"}, "2010"),
        ({"DisplayName": "X", "Job": True}, "2020"),  # a job needs ParentRef
        ({"DisplayName": "X", "Job": True, "ParentRef": {"value": "77"}}, "2500"),
        ([1, 2], "2010"),
    ],
)
def test_create_rules(realm: Realm, body: object, code: str) -> None:
    if isinstance(body, dict):
        body.setdefault("BillAddr", {"Line1": "1 Main St"})
    response = realm.post_customer(body)
    assert response.status_code == 400
    assert fault_code(response) == code
    assert realm.query("SELECT COUNT(*) FROM Customer").json()["QueryResponse"]["totalCount"] == 0


def test_malformed_json_is_a_fault(realm: Realm) -> None:
    response = realm.http.post(
        f"{realm.base}/customer", content=b"{not json", headers=realm.headers()
    )
    assert response.status_code == 400
    assert fault_code(response) == "2010"


def test_address_is_mandatory_unless_the_tenant_switch_is_off(realm: Realm) -> None:
    response = realm.post_customer({"DisplayName": "No Address"})
    assert fault_code(response) == "6000"
    realm.configure(address_required=False)
    assert realm.post_customer({"DisplayName": "No Address"}).status_code == 200


def test_duplicate_name_is_6240_ignoring_case(realm: Realm) -> None:
    realm.create(DisplayName="Bill's Windsurf Shop")
    response = realm.post_customer(
        {"DisplayName": "BILL'S WINDSURF SHOP", "BillAddr": {"City": "X"}}
    )
    assert fault_code(response) == "6240"
    assert "already using this name" in response.json()["Fault"]["Error"][0]["Detail"]


def test_display_name_is_built_from_name_parts(realm: Realm) -> None:
    customer = realm.create(GivenName="Dylan", FamilyName="Sollfrank")
    assert customer["DisplayName"] == "Dylan Sollfrank"
    assert customer["PrintOnCheckName"] == "Dylan Sollfrank"


def test_full_update_clears_omitted_fields_and_bumps_sync_token(realm: Realm) -> None:
    created = realm.create(DisplayName="Full", Notes="old note", GivenName="G")
    response = realm.post_customer(
        {
            "Id": created["Id"],
            "SyncToken": created["SyncToken"],
            "DisplayName": "Full",
            "BillAddr": {"Line1": "2 Main"},
        }
    )
    updated = response.json()["Customer"]
    assert updated["SyncToken"] == "1"
    assert "Notes" not in updated
    assert "GivenName" not in updated


def test_sparse_update_changes_only_the_given_fields(realm: Realm) -> None:
    created = realm.create(DisplayName="Sparse", Notes="keep", GivenName="G")
    response = realm.post_customer(
        {"Id": created["Id"], "SyncToken": 0, "sparse": True, "FamilyName": "New"}
    )
    updated = response.json()["Customer"]
    assert updated["Notes"] == "keep"
    assert updated["GivenName"] == "G"
    assert updated["FamilyName"] == "New"
    assert updated["SyncToken"] == "1"


def test_sparse_update_cannot_remove_display_name(realm: Realm) -> None:
    created = realm.create(DisplayName="Stays")
    response = realm.post_customer(
        {"Id": created["Id"], "SyncToken": "0", "sparse": True, "DisplayName": ""}
    )
    assert response.json()["Customer"]["DisplayName"] == "Stays"


def test_balance_is_only_taken_on_create(realm: Realm) -> None:
    created = realm.create(DisplayName="Owes", Balance="10.10")
    response = realm.post_customer(
        {"Id": created["Id"], "SyncToken": "0", "sparse": True, "Balance": 0}
    )
    assert response.json()["Customer"]["Balance"] == 10.1


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"SyncToken": "5"}, "5010"),  # stale
        ({"SyncToken": None}, "2020"),  # missing
        ({"Id": "404"}, "610"),
        ({"PrimaryEmailAddr": {"Address": "bad"}}, "2210"),
    ],
)
def test_update_rules(realm: Realm, change: dict[str, object], code: str) -> None:
    created = realm.create(DisplayName="Target", Notes="before")
    body = {"Id": created["Id"], "SyncToken": "0", "sparse": True, "Notes": "after", **change}
    response = realm.post_customer(body)
    assert fault_code(response) == code
    unchanged = realm.get(f"customer/{created['Id']}").json()["Customer"]
    assert unchanged["Notes"] == "before"
    assert unchanged["SyncToken"] == "0"


def test_open_balance_blocks_deactivation(realm: Realm) -> None:
    created = realm.create(DisplayName="Debtor", Balance=5)
    response = realm.post_customer(
        {"Id": created["Id"], "SyncToken": "0", "sparse": True, "Active": False}
    )
    assert fault_code(response) == "6000"
    assert response.json()["Fault"]["Error"][0]["Message"] == "Delete List Has Balance Error"
    paid = realm.create(DisplayName="Paid Up")
    response = realm.post_customer(
        {"Id": paid["Id"], "SyncToken": "0", "sparse": True, "Active": False}
    )
    assert response.json()["Customer"]["Active"] is False


def test_companyinfo(realm: Realm) -> None:
    response = realm.get(f"companyinfo/{realm.realm_id}")
    assert response.status_code == 200
    assert response.json()["CompanyInfo"]["CompanyName"]
    assert fault_code(realm.get("companyinfo/1")) == "610"
