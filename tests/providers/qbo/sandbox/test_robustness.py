"""Inputs a fuzzer found answering 500: each now gets QuickBooks' own fault and changes
nothing."""

from __future__ import annotations

import pytest

from providers.qbo.qbo_helpers import Realm, fault_code


def _count(realm: Realm) -> int:
    response = realm.query("SELECT COUNT(*) FROM Customer WHERE Active IN (true, false)")
    total: int = response.json()["QueryResponse"]["totalCount"]
    return total


@pytest.mark.parametrize(
    "path",
    [
        "customer/%C2%B2",  # a Unicode digit passes str.isdigit(), not int()
        "customer/100000000000000000000",  # past any integer column
        "customer/0",
    ],
)
def test_reading_an_id_that_cannot_exist_is_610(realm: Realm, path: str) -> None:
    response = realm.get(path)
    assert response.status_code == 400
    assert fault_code(response) == "610"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"Id": "²", "SyncToken": "0", "DisplayName": "X"}, "610"),
        ({"Id": 10**20, "SyncToken": "0", "DisplayName": "X"}, "610"),
        ({"Id": "3000000000", "SyncToken": "0", "DisplayName": "X"}, "610"),
        ({"DisplayName": "Y", "Job": True, "ParentRef": {"value": "²"}}, "2500"),
        ({"DisplayName": "Y", "CreditLimit": "1e999999"}, "2010"),
        ({"DisplayName": "Y", "Balance": "NaN"}, "2010"),
        ({"DisplayName": "Y", "CustomField": "x"}, "2010"),
        ({"DisplayName": "Y", "CustomField": [{"Colour": "red"}]}, "2010"),
        ({"DisplayName": "Y\x00"}, "2010"),
    ],
)
def test_bad_writes_fault_and_change_nothing(
    realm: Realm, body: dict[str, object], code: str
) -> None:
    realm.create(DisplayName="Existing")
    response = realm.post_customer({"BillAddr": {"Line1": "1 Main"}, **body})
    assert response.status_code == 400, response.text
    assert fault_code(response) == code
    assert _count(realm) == 1


def test_a_custom_field_array_is_kept(realm: Realm) -> None:
    fields = [{"DefinitionId": "1", "Name": "Crew", "Type": "StringType", "StringValue": "B"}]
    customer = realm.create(DisplayName="Custom", CustomField=fields)
    assert customer["CustomField"] == fields


def test_deep_json_is_refused(realm: Realm) -> None:
    deep = "[" * 300 + "]" * 300
    response = realm.http.post(
        f"{realm.base}/customer",
        content=f'{{"DisplayName": "Deep", "CustomField": {deep}}}',
        headers={**realm.headers(), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert fault_code(response) == "2010"


@pytest.mark.parametrize(
    "where",
    [
        "MetaData.LastUpdatedTime > '9999-12-31T23:59:59-01:00'",
        "MetaData.LastUpdatedTime < '0001-01-01T00:00:00+01:00'",
        "Balance > '1e999999999'",
        "Balance > 'sNaN'",
        "Id = '²'",
        "Id = '100000000000000000000'",
        " AND ".join(["Active = true"] * 1200),
        "Id IN (" + ",".join(f"'{n}'" for n in range(1, 3000)) + ")",
    ],
)
def test_queries_past_the_limits_are_4000(realm: Realm, where: str) -> None:
    response = realm.query(f"SELECT * FROM Customer WHERE {where}")
    assert response.status_code == 400, response.text
    assert fault_code(response) == "4000"


@pytest.mark.parametrize("since", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_cdc_with_an_extreme_date_is_a_fault(realm: Realm, since: str) -> None:
    response = realm.get("cdc", entities="Customer", changedSince=since)
    assert response.status_code == 400
    assert fault_code(response) in ("2010", "6000")


def test_a_batch_answers_each_item_and_saves_only_the_good_ones(realm: Realm) -> None:
    body = {
        "BatchItemRequest": [
            {
                "bId": "good",
                "operation": "create",
                "Customer": {"DisplayName": "Batch Good", "BillAddr": {"Line1": "1 Main"}},
            },
            {
                "bId": "bad",
                "operation": "update",
                "Customer": {"Id": "²", "SyncToken": "0", "DisplayName": "Bad"},
            },
        ]
    }
    response = realm.http.post(f"{realm.base}/batch", json=body, headers=realm.headers())
    assert response.status_code == 200, response.text
    good, bad = response.json()["BatchItemResponse"]
    assert good["Customer"]["DisplayName"] == "Batch Good"
    assert bad["Fault"]["Error"][0]["code"] == "610"
    assert _count(realm) == 1


def test_framework_answers_are_faults(realm: Realm) -> None:
    unknown = realm.http.get(f"{realm.base}/nothing-here", headers=realm.headers())
    assert unknown.status_code == 404
    assert "Fault" in unknown.json()
    wrong_method = realm.http.delete(f"{realm.base}/query", headers=realm.headers())
    assert wrong_method.status_code == 405
    assert "Fault" in wrong_method.json()
    assert set(wrong_method.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    newline = realm.http.get("/sandbox/qbo/v3/company/1%0A/customer/1")
    assert "Fault" in newline.json() or "fault" in newline.json()


@pytest.mark.parametrize(
    ("content_type", "status"),
    [("text/plain", 415), ("application/xml", 415), ("application/json", 200)],
)
def test_customer_writes_take_json_only(realm: Realm, content_type: str, status: int) -> None:
    response = realm.http.post(
        f"{realm.base}/customer",
        content=b'{"DisplayName": "Typed", "BillAddr": {"Line1": "1 Main"}}',
        headers={**realm.headers(), "Content-Type": content_type},
    )
    assert response.status_code == status, response.text
    if status != 200:
        assert "Fault" in response.json()


def test_an_oversized_body_is_413_in_the_fault_envelope(realm: Realm) -> None:
    response = realm.http.post(
        f"{realm.base}/customer",
        content=b'{"Notes": "' + b"x" * 2_000_000 + b'"}',
        headers={**realm.headers(), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert "Fault" in response.json()


def test_a_bad_body_without_a_token_is_401(realm: Realm) -> None:
    response = realm.http.post(
        f"{realm.base}/customer", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401
