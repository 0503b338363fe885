"""The objects API for customers: list, create, get, PATCH, DELETE; auth and errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jsonschema
import pytest
from fastapi import FastAPI

from asgi_client import TestClient
from ledgerbridge.providers.intacct.sandbox import MOUNT_PATH
from providers.intacct.support import CUSTOMERS, Company, make_company


def _validate(openapi: dict[str, Any], path: str, method: str, status: str, body: Any) -> None:
    operation = openapi["paths"][path][method]
    response = operation["responses"][status]
    if "$ref" in response:
        response = openapi["components"]["responses"][response["$ref"].split("/")[-1]]
    schema = {
        **response["content"]["application/json"]["schema"],
        "components": openapi["components"],
    }
    jsonschema.validate(body, schema)


def _error(response: Any) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["ia::result"]["ia::error"]
    assert {"code", "message", "errorId", "additionalInfo", "supportId"} <= set(error)
    return error


def test_list_pages_by_start_and_size(company: Company, openapi: dict[str, Any]) -> None:
    first = company.get(CUSTOMERS, params={"size": 25})
    assert first.status_code == 200
    _validate(openapi, CUSTOMERS, "get", "200", first.json())
    assert first.json()["ia::meta"] == {
        "totalCount": 60,
        "start": 1,
        "pageSize": 25,
        "next": 26,
        "previous": None,
    }
    last = company.get(CUSTOMERS, params={"start": 51, "size": 25}).json()
    assert last["ia::meta"]["next"] is None
    assert last["ia::meta"]["previous"] == 26
    keys = (
        [item["key"] for item in first.json()["ia::result"]]
        + [
            item["key"]
            for item in company.get(CUSTOMERS, params={"start": 26, "size": 25}).json()[
                "ia::result"
            ]
        ]
        + [item["key"] for item in last["ia::result"]]
    )
    assert len(set(keys)) == 60
    assert first.json()["ia::result"][0]["href"] == f"{CUSTOMERS}/{keys[0]}"


def test_create_get_patch_delete_round_trip(company: Company, openapi: dict[str, Any]) -> None:
    created = company.post(
        CUSTOMERS,
        {
            "id": "CUST-002",
            "name": "Starluck",
            "taxId": "12-3456789",
            "creditLimit": 50000.25,
            "status": "active",
            "parent": {"id": "C-000001"},
            "contacts": {
                "default": {
                    "firstName": "Ana",
                    "email1": "ana@starluck.example",
                    "mailingAddress": {"city": "Reno"},
                }
            },
        },
    )
    assert created.status_code == 201
    _validate(openapi, CUSTOMERS, "post", "201", created.json())
    assert created.json()["ia::meta"] == {"totalCount": 1, "totalSuccess": 1, "totalError": 0}
    key = created.json()["ia::result"]["key"]

    got = company.get(f"{CUSTOMERS}/{key}")
    _validate(openapi, f"{CUSTOMERS}/{{key}}", "get", "200", got.json())
    customer = got.json()["ia::result"]
    assert customer["parent"]["id"] == "C-000001"
    assert customer["creditLimit"] == 50000.25
    assert customer["totalDue"] == "0.00"
    assert customer["contacts"]["default"]["mailingAddress"] == {"city": "Reno"}
    assert customer["audit"]["createdDateTime"].endswith("Z")

    patched = company.patch(
        f"{CUSTOMERS}/{key}", {"creditLimit": 10000, "contacts": {"default": {"lastName": "Diaz"}}}
    )
    assert patched.status_code == 200
    _validate(openapi, f"{CUSTOMERS}/{{key}}", "patch", "200", patched.json())
    after = company.get(f"{CUSTOMERS}/{key}").json()["ia::result"]
    assert after["creditLimit"] == 10000
    # Fields not sent stay as they were.
    assert after["taxId"] == "12-3456789"
    assert after["contacts"]["default"]["firstName"] == "Ana"
    assert after["contacts"]["default"]["lastName"] == "Diaz"
    assert after["audit"]["createdDateTime"] == customer["audit"]["createdDateTime"]

    assert company.delete(f"{CUSTOMERS}/{key}").status_code == 204
    gone = company.get(f"{CUSTOMERS}/{key}")
    assert gone.status_code == 404
    assert _error(gone)["code"] == "notFound"


def test_create_without_an_id_is_numbered(company: Company) -> None:
    created = company.post(CUSTOMERS, {"name": "No ID Ltd"}).json()["ia::result"]
    assert created["id"] == f"CUST-{int(created['key']):05d}"


@pytest.mark.parametrize(
    ("body", "status", "target"),
    [
        ({"id": "x"}, 400, "/name"),  # name is required
        ({"name": "A", "status": "archived"}, 400, "/status"),  # not in the enum
        ({"name": "A", "newDate": "2024-01-01"}, 400, "/newDate"),  # unknown field
        ({"name": "A", "creditLimit": "lots"}, 400, "/creditLimit"),  # wrong type
        ({"name": "A", "isOnHold": "yes"}, 400, "/isOnHold"),
        ({"name": "A", "totalDue": "5"}, 400, "/totalDue"),  # read-only
        ({"name": "A", "contacts": {"default": {"emial1": "x"}}}, 400, "/contacts/default/emial1"),
        ({"name": "A", "id": "C-000002"}, 409, None),  # the ID is taken
        ({"name": "A", "parent": {"id": "NOPE"}}, 422, None),  # no such parent
    ],
)
def test_bad_creates_are_refused_in_the_envelope_and_change_nothing(
    company: Company, openapi: dict[str, Any], body: dict[str, Any], status: int, target: str | None
) -> None:
    response = company.post(CUSTOMERS, body)
    assert response.status_code == status
    _validate(openapi, CUSTOMERS, "post", "400", response.json())
    error = _error(response)
    if target is not None:
        assert error["details"][0]["target"] == target
    assert company.get(CUSTOMERS).json()["ia::meta"]["totalCount"] == 60


def test_malformed_json_and_empty_bodies_are_400(company: Company) -> None:
    raw = company.http.post(
        MOUNT_PATH + CUSTOMERS,
        content=b"{nope",
        headers={**company._headers(), "Content-Type": "application/json"},
    )
    assert raw.status_code == 400
    assert _error(raw)["code"] == "invalidRequest"
    empty = company.post(CUSTOMERS, {})
    assert empty.status_code == 400
    assert _error(empty)["errorId"] == "REST-1028"


def test_patch_cannot_make_a_customer_its_own_ancestor(company: Company) -> None:
    parent = company.post(CUSTOMERS, {"name": "Parent"}).json()["ia::result"]
    child = company.post(CUSTOMERS, {"name": "Child", "parent": {"key": parent["key"]}}).json()[
        "ia::result"
    ]
    loop = company.patch(f"{CUSTOMERS}/{parent['key']}", {"parent": {"key": child["key"]}})
    assert loop.status_code == 422
    # A parent with children cannot be deleted either.
    assert company.delete(f"{CUSTOMERS}/{parent['key']}").status_code == 422


def test_delete_is_refused_for_a_customer_with_a_balance(company: Company) -> None:
    owing = company.query(fields=["key"], filters=[{"$gt": {"totalDue": "0"}}], size=1)
    key = owing.json()["ia::result"][0]["key"]
    refused = company.delete(f"{CUSTOMERS}/{key}")
    assert refused.status_code == 422
    assert "inactive" in _error(refused)["message"]
    assert company.get(f"{CUSTOMERS}/{key}").status_code == 200


def test_a_token_of_one_company_never_reads_another(
    app: FastAPI, http: TestClient, company: Company
) -> None:
    other = make_company(app, http, "GLOBEX", 3)
    theirs = other.get(CUSTOMERS).json()["ia::result"][0]["key"]
    assert company.get(f"{CUSTOMERS}/{theirs}").status_code == 404
    assert company.patch(f"{CUSTOMERS}/{theirs}", {"name": "x"}).status_code == 404
    assert company.delete(f"{CUSTOMERS}/{theirs}").status_code == 404
    assert company.get(CUSTOMERS).json()["ia::meta"]["totalCount"] == 60
    assert other.query(fields=["key"]).json()["ia::meta"]["totalCount"] == 3


def _token(http: TestClient, **form: str) -> Any:
    return http.post(f"{MOUNT_PATH}/oauth2/token", data=form)


def test_client_credentials_and_refresh_tokens(company: Company) -> None:
    creds = company.credentials
    form = {"client_id": creds["client_id"], "client_secret": creds["client_secret"]}
    issued = _token(company.http, grant_type="client_credentials", username="user@ACME|E1", **form)
    assert issued.status_code == 200
    tokens = issued.json()
    assert {"access_token", "refresh_token", "expires_in"} <= set(tokens)
    assert tokens["access_token"].count(".") == 2  # a JWT
    refreshed = _token(
        company.http, grant_type="refresh_token", refresh_token=tokens["refresh_token"], **form
    )
    assert refreshed.status_code == 200
    # Refresh tokens rotate: the old one is spent.
    again = _token(
        company.http, grant_type="refresh_token", refresh_token=tokens["refresh_token"], **form
    )
    assert again.status_code == 401
    company.credentials = {**creds, "access_token": refreshed.json()["access_token"]}
    assert company.get(CUSTOMERS).status_code == 200


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({"grant_type": "password"}, 400),
        (
            {"grant_type": "client_credentials", "username": "user@ACME", "client_secret": "wrong"},
            401,
        ),
        ({"grant_type": "client_credentials", "username": "user@NOSUCH"}, 401),
        ({"grant_type": "client_credentials", "username": "no-company"}, 400),
    ],
)
def test_token_errors(company: Company, form: dict[str, str], status: int) -> None:
    creds = company.credentials
    full = {"client_id": creds["client_id"], "client_secret": creds["client_secret"], **form}
    response = _token(company.http, **full)
    assert response.status_code == status
    _error(response)


def test_missing_bad_and_expired_tokens_are_401(company: Company) -> None:
    url = MOUNT_PATH + CUSTOMERS
    assert company.http.get(url).status_code == 401
    assert company.http.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401
    real_clock = company.context.clock
    company.context.clock = lambda: real_clock() + timedelta(hours=2)
    try:
        expired = company.get(CUSTOMERS)
    finally:
        company.context.clock = real_clock
    assert expired.status_code == 401
    assert "expired" in _error(expired)["message"]


def test_read_only_users_get_403_on_writes(company: Company) -> None:
    knob = company.http.patch(
        f"{MOUNT_PATH}/_admin/tenants/ACME", json={"extra": {"read_only": True}}
    )
    assert knob.status_code == 200
    refused = company.post(CUSTOMERS, {"name": "x"})
    assert refused.status_code == 403
    assert _error(refused)["code"] == "forbidden"
    assert company.get(CUSTOMERS).status_code == 200


def test_unknown_paths_use_the_envelope(company: Company) -> None:
    response = company.get("/objects/accounts-receivable/nothing")
    assert response.status_code == 404
    _error(response)
    assert company.get(f"{CUSTOMERS}/abc").status_code == 404
