"""Every customer of the recorded real QuickBooks response, created in the sandbox, reads
back with the same property names and JSON types (and Level/ParentRef for the jobs)."""

from __future__ import annotations

from typing import Any

import pytest

from providers.qbo.qbo_helpers import Realm, recorded_customers


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def test_fixture_round_trip(realm: Realm) -> None:
    realm.configure(address_required=False)  # two recorded customers have no address
    recorded = recorded_customers()
    new_ids: dict[str, str] = {}
    pending = list(recorded)
    while pending:  # parents first: a job's ParentRef must point at a created customer
        item = next(
            c for c in pending if "ParentRef" not in c or c["ParentRef"]["value"] in new_ids
        )
        pending.remove(item)
        body = {k: v for k, v in item.items() if k not in ("Id", "SyncToken")}
        if "ParentRef" in body:
            body["ParentRef"] = {"value": new_ids[body["ParentRef"]["value"]]}
        response = realm.post_customer(body)
        assert response.status_code == 200, response.text
        new_ids[item["Id"]] = response.json()["Customer"]["Id"]
    for item in recorded:
        read = realm.get(f"customer/{new_ids[item['Id']]}").json()["Customer"]
        assert sorted(read) == sorted(item), item["DisplayName"]
        assert _shape(read) == _shape(item), item["DisplayName"]
        assert read["DisplayName"] == item["DisplayName"]
        assert read["FullyQualifiedName"] == item["FullyQualifiedName"]


@pytest.mark.parametrize("item", recorded_customers()[:1])
def test_recorded_money_is_exact(realm: Realm, item: dict[str, Any]) -> None:
    realm.configure(address_required=False)
    body = {k: v for k, v in item.items() if k not in ("Id", "SyncToken")}
    created = realm.post_customer({**body, "Balance": 629.1}).json()["Customer"]
    assert created["Balance"] == 629.1
