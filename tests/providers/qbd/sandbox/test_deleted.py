"""Customers deleted outright in the desktop app (sandbox admin API) and
`GET /quickbooks-desktop/deleted-list-objects`."""

from __future__ import annotations

from providers.qbd.support import BASE, DELETED_SCHEMA, END_USER, SEEDED, Conductor, assert_error

DELETED = "/quickbooks-desktop/deleted-list-objects"


def _delete(conductor: Conductor, customer_id: str) -> int:
    url = f"{BASE}/_admin/tenants/{END_USER}/customers/{customer_id}"
    return conductor.client.delete(url).status_code


def test_a_deleted_customer_is_listed_and_gone(conductor: Conductor) -> None:
    customers = conductor.all_customers(status="all")
    parents = {c["parent"]["id"] for c in customers if c["parent"]}
    leaf = next(c for c in customers if c["id"] not in parents)
    assert _delete(conductor, leaf["id"]) == 204
    body = conductor.get(DELETED, params={"objectTypes": "customer"}).json()
    DELETED_SCHEMA.validate(body)
    assert [(d["id"], d["fullName"], d["listType"]) for d in body["data"]] == [
        (leaf["id"], leaf["fullName"], "customer")
    ]
    assert body["data"][0]["createdAt"] == leaf["createdAt"]
    assert len(conductor.all_customers(status="all")) == SEEDED - 1
    missing = conductor.get(f"/quickbooks-desktop/customers/{leaf['id']}")
    assert_error(missing, 404, "INVALID_REQUEST_ERROR", "RESOURCE_MISSING")
    if leaf["parent"]:
        parent = conductor.get(f"/quickbooks-desktop/customers/{leaf['parent']['id']}").json()
        assert parent["totalBalance"] != ""
        assert parent["fullName"] == leaf["parent"]["fullName"]


def test_deleted_after_and_before_and_other_types(conductor: Conductor) -> None:
    customer = conductor.all_customers()[-1]
    conductor.clock.advance(3600)
    assert _delete(conductor, customer["id"]) == 204
    deleted_at = conductor.get(DELETED, params={"objectTypes": "customer"}).json()["data"][0][
        "deletedAt"
    ]
    for params, count in (
        ({"deletedAfter": deleted_at}, 1),
        ({"deletedBefore": deleted_at}, 1),
        ({"deletedAfter": deleted_at[:10], "deletedBefore": deleted_at[:10]}, 1),
        ({"deletedBefore": "2000-01-01"}, 0),
    ):
        body = conductor.get(DELETED, params={"objectTypes": "customer", **params}).json()
        assert len(body["data"]) == count, params
    vendors = conductor.get(DELETED, params=[("objectTypes", "vendor"), ("objectTypes", "class")])
    assert vendors.json()["data"] == []
    # QuickBooks forgets deletions after 90 days.
    conductor.clock.advance(91 * 86400)
    assert conductor.get(DELETED, params={"objectTypes": "customer"}).json()["data"] == []


def test_a_customer_with_jobs_cannot_be_deleted(conductor: Conductor) -> None:
    customers = conductor.all_customers(status="all")
    parent_id = next(c["parent"]["id"] for c in customers if c["parent"])
    url = f"{BASE}/_admin/tenants/{END_USER}/customers/{parent_id}"
    assert_error(conductor.client.delete(url), 400, "INTEGRATION_ERROR", "QBD_REQUEST_ERROR")
    assert _delete(conductor, "80009999-1") == 404


def test_bad_deleted_list_parameters(conductor: Conductor) -> None:
    for params in ({}, {"objectTypes": "spaceship"}, {"objectTypes": "customer", "limit": "5"}):
        response = conductor.get(DELETED, params=params)
        assert_error(response, 400, "INVALID_REQUEST_ERROR", "INVALID_REQUEST")
