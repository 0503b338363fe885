"""What independent QuickBooks clients found: form-body client auth, `LastUpdatedTime`
compared at the precision it is printed, SELECT lists, deactivation cascading to
sub-customers, the batch endpoint's own limit."""

from __future__ import annotations

from typing import Any

from providers.qbo.qbo_helpers import Realm, fault_code


def test_token_endpoint_takes_client_credentials_in_the_form_body(realm: Realm) -> None:
    # client_secret_post, as widely used connectors send it: no Authorization header.
    response = realm.http.post(
        "/sandbox/qbo/oauth2/v1/tokens/bearer",
        data={
            "grant_type": "refresh_token",
            "client_id": realm.credentials["client_id"],
            "client_secret": realm.credentials["client_secret"],
            "refresh_token": realm.credentials["refresh_token"],
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["access_token"] != realm.credentials["access_token"]
    # Within Intuit's rotation period the same refresh token comes back.
    assert response.json()["refresh_token"] == realm.credentials["refresh_token"]
    wrong = realm.http.post(
        "/sandbox/qbo/oauth2/v1/tokens/bearer",
        data={
            "grant_type": "refresh_token",
            "client_id": realm.credentials["client_id"],
            "client_secret": "wrong",
            "refresh_token": response.json()["refresh_token"],
        },
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    discovery = realm.http.get("/sandbox/qbo/.well-known/openid_configuration").json()
    assert set(discovery["token_endpoint_auth_methods_supported"]) == {
        "client_secret_post",
        "client_secret_basic",
    }


def _ids(realm: Realm, text: str) -> list[str]:
    response = realm.query(text)
    assert response.status_code == 200, response.text
    return [c["Id"] for c in response.json()["QueryResponse"].get("Customer", [])]


def test_last_updated_time_compares_at_the_printed_precision(realm: Realm) -> None:
    customer = realm.create(DisplayName="Precise Ltd")
    printed = customer["MetaData"]["LastUpdatedTime"]
    where = "SELECT * FROM Customer WHERE Metadata.LastUpdatedTime"
    assert _ids(realm, f"{where} > '{printed}'") == []
    assert _ids(realm, f"{where} = '{printed}'") == [customer["Id"]]
    assert _ids(realm, f"{where} >= '{printed}'") == [customer["Id"]]


def test_select_list_returns_those_properties_and_the_always_returned_ones(
    realm: Realm,
) -> None:
    customer = realm.create(DisplayName="Projected Co", Notes="hidden")
    response = realm.query(
        "select Id, DisplayName, Metadata.LastUpdatedTime from Customer where Id = "
        f"'{customer['Id']}'"
    )
    assert response.status_code == 200, response.text
    (row,) = response.json()["QueryResponse"]["Customer"]
    assert row == {
        "Id": customer["Id"],
        "SyncToken": "0",
        "domain": "QBO",
        "sparse": True,
        "DisplayName": "Projected Co",
        "MetaData": {"LastUpdatedTime": customer["MetaData"]["LastUpdatedTime"]},
    }
    count = realm.query("SELECT COUNT(*) FROM Customer")
    assert count.json()["QueryResponse"] == {"totalCount": 1}


def _deactivate(realm: Realm, customer: dict[str, Any]) -> Any:
    return realm.post_customer(
        {"Id": customer["Id"], "SyncToken": customer["SyncToken"], "sparse": True, "Active": False}
    )


def test_deactivating_a_parent_deactivates_its_sub_customers(realm: Realm) -> None:
    parent = realm.create(DisplayName="Parent Inc")
    child = realm.create(DisplayName="Child Job", Job=True, ParentRef={"value": parent["Id"]})
    grandchild = realm.create(
        DisplayName="Grandchild Job", Job=True, ParentRef={"value": child["Id"]}
    )
    response = _deactivate(realm, parent)
    assert response.status_code == 200, response.text
    for sub in (child, grandchild):
        read = realm.get(f"customer/{sub['Id']}").json()["Customer"]
        assert read["Active"] is False
        assert int(read["SyncToken"]) == int(sub["SyncToken"]) + 1


def test_a_sub_customer_balance_refuses_deactivating_the_parent(realm: Realm) -> None:
    parent = realm.create(DisplayName="Owing Parent")
    child = realm.create(
        DisplayName="Owing Job", Job=True, ParentRef={"value": parent["Id"]}, Balance="12.50"
    )
    parent = realm.get(f"customer/{parent['Id']}").json()["Customer"]
    response = _deactivate(realm, parent)
    assert response.status_code == 400
    assert fault_code(response) == "6000"
    assert realm.get(f"customer/{child['Id']}").json()["Customer"]["Active"] is True


def test_batch_requests_have_their_own_limit_a_minute(realm: Realm) -> None:
    realm.configure(extra={"batch_requests_per_minute": 2})
    body = {"BatchItemRequest": [{"bId": "1", "Query": "SELECT COUNT(*) FROM Customer"}]}
    statuses = [
        realm.http.post(f"{realm.base}/batch", json=body, headers=realm.headers()).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    # Other endpoints still answer: the batch limit is separate.
    assert realm.query("SELECT COUNT(*) FROM Customer").status_code == 200
