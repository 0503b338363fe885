"""Change data capture (30 days, 1000 objects, inactive included) and batch (30 items,
each answering on its own)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import FastAPI

from ledgerbridge.providers.registry import get_platform
from providers.qbo.qbo_helpers import Realm, fault_code


def _since(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S-00:00")


def test_cdc_returns_changes_including_deactivated(realm: Realm) -> None:
    realm.create(DisplayName="Changed")
    gone = realm.create(DisplayName="Gone")
    realm.post_customer({"Id": gone["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    response = realm.get("cdc", entities="Customer", changedSince=_since(1))
    assert response.status_code == 200, response.text
    block = response.json()["CDCResponse"][0]["QueryResponse"][0]
    by_name = {c["DisplayName"]: c for c in block["Customer"]}
    assert by_name["Gone"]["Active"] is False
    assert block["maxResults"] == 2


def test_cdc_limits(app: FastAPI, realm: Realm) -> None:
    assert fault_code(realm.get("cdc", entities="Customer", changedSince=_since(31))) == "6000"
    assert fault_code(realm.get("cdc", entities="Customer")) == "2020"
    assert fault_code(realm.get("cdc", entities="Customer", changedSince="soon")) == "2010"
    get_platform("qbo").sandbox.seed(app.state.sandbox, realm.realm_id, 1200, 5)
    # Seeded rows are spread over two years; touch them all "now" through the rules path.
    realm.configure(address_required=False)
    for index in range(3):
        realm.create(DisplayName=f"Fresh {index}")
    block = realm.get("cdc", entities="Customer", changedSince=_since(29.9)).json()
    rows = block["CDCResponse"][0]["QueryResponse"][0]["Customer"]
    assert 3 <= len(rows) <= 1000


def test_batch_items_answer_on_their_own(realm: Realm) -> None:
    existing = realm.create(DisplayName="Existing")
    items = [
        {
            "bId": "1",
            "operation": "create",
            "Customer": {"DisplayName": "Batch One", "BillAddr": {"City": "X"}},
        },
        {
            "bId": "2",
            "operation": "create",
            "Customer": {"DisplayName": "Existing", "BillAddr": {"City": "X"}},
        },
        {
            "bId": "3",
            "operation": "update",
            "Customer": {"Id": existing["Id"], "SyncToken": "0", "sparse": True, "Notes": "n"},
        },
        {"bId": "4", "Query": "SELECT COUNT(*) FROM Customer"},
        {"bId": "5", "operation": "delete", "Customer": {"Id": existing["Id"]}},
        {"bId": "6", "Query": "SELECT * FROM Customer WHERE"},
    ]
    response = realm.http.post(
        f"{realm.base}/batch", json={"BatchItemRequest": items}, headers=realm.headers()
    )
    answers = {a["bId"]: a for a in response.json()["BatchItemResponse"]}
    assert answers["1"]["Customer"]["DisplayName"] == "Batch One"
    assert answers["2"]["Fault"]["Error"][0]["code"] == "6240"
    assert answers["3"]["Customer"]["Notes"] == "n"
    assert answers["4"]["QueryResponse"]["totalCount"] == 2
    assert answers["5"]["Fault"]["Error"][0]["code"] == "500"
    assert answers["6"]["Fault"]["Error"][0]["code"] == "4000"


def test_batch_over_30_items_is_refused(realm: Realm) -> None:
    items = [{"bId": str(i), "Query": "SELECT COUNT(*) FROM Customer"} for i in range(31)]
    response = realm.http.post(
        f"{realm.base}/batch", json={"BatchItemRequest": items}, headers=realm.headers()
    )
    assert response.status_code == 400
    assert fault_code(response) == "1040"
