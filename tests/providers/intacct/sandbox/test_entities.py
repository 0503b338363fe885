"""Multi-entity companies: entities, the entity header, private records, hierarchy fields."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest
from fastapi import FastAPI

from asgi_client import TestClient
from ledgerbridge.providers.intacct.sandbox import MOUNT_PATH, provider
from ledgerbridge.providers.intacct.sandbox.entities import ENTITY_HEADER, SEED_ENTITIES
from providers.intacct.support import CUSTOMERS, QUERY, Company, make_company

ENTITIES = "/objects/company-config/entity"
EAST, WEST = SEED_ENTITIES[0][0], SEED_ENTITIES[1][0]


class Caller:
    """A company's client that sends the entity header (None: the top level)."""

    def __init__(self, company: Company, entity: str | None) -> None:
        self.company = company
        self.headers = {"Authorization": f"Bearer {company.credentials['access_token']}"}
        if entity is not None:
            self.headers[ENTITY_HEADER] = entity

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return self.company.http.request(
            method, MOUNT_PATH + path, json=body, headers=self.headers, **kwargs
        )

    def create(self, name: str, **fields: Any) -> str:
        response = self.request("POST", CUSTOMERS, {"name": name, **fields})
        assert response.status_code == 201, response.text
        key: str = response.json()["ia::result"]["key"]
        return key

    def visible_keys(self) -> set[str]:
        response = self.request("GET", CUSTOMERS, params={"size": 4000})
        assert response.status_code == 200, response.text
        return {item["key"] for item in response.json()["ia::result"]}

    def query(self, **body: Any) -> httpx.Response:
        return self.request("POST", QUERY, {"object": "accounts-receivable/customer", **body})


@pytest.fixture
def company(app: FastAPI, http: TestClient) -> Company:
    """A multi-entity company: 10 top-level customers and the seeded entities."""
    made = make_company(app, http, "GLOBEX", 10)
    provider.seed_entities(made.context, made.tenant_id)
    return made


def _error(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["ia::result"]["ia::error"]
    return error


def test_entities_are_listed_and_created(company: Company) -> None:
    top = Caller(company, None)
    listed = top.request("GET", ENTITIES).json()
    assert [item["id"] for item in listed["ia::result"]] == [e for e, _ in SEED_ENTITIES]
    assert listed["ia::meta"]["totalCount"] == len(SEED_ENTITIES)
    created = top.request("POST", ENTITIES, {"id": "DE", "name": "Germany"})
    assert created.status_code == 201
    assert created.json()["ia::result"]["href"].startswith(ENTITIES + "/")
    # The new entity can be named by the header at once.
    assert Caller(company, "DE").request("GET", CUSTOMERS).status_code == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"id": EAST, "name": "Again"}, 409),  # entity IDs are unique in a company
        ({"name": "No id"}, 400),
        ({"id": "X" * 21, "name": "Too long"}, 400),  # Sage: 20 characters max
        ({"id": "FR"}, 400),  # name is required
        ([], 400),
    ],
)
def test_bad_entity_bodies_are_refused(company: Company, body: Any, status: int) -> None:
    response = Caller(company, None).request("POST", ENTITIES, body)
    assert response.status_code == status
    assert _error(response)["code"] in ("invalidRequest", "conflict")


def test_unknown_entity_is_a_400_in_the_envelope(company: Company) -> None:
    for method, path, body in [
        ("GET", CUSTOMERS, None),
        ("POST", CUSTOMERS, {"name": "Nowhere"}),
        ("POST", QUERY, {"object": "accounts-receivable/customer", "fields": ["key"]}),
    ]:
        response = Caller(company, "MARS").request(method, path, body)
        assert response.status_code == 400
        error = _error(response)
        assert error["code"] == "invalidRequest"
        assert "MARS" in error["message"]
        assert error["details"][0]["target"] == ENTITY_HEADER
    # Nothing was created.
    assert len(Caller(company, None).visible_keys()) == 10


def test_entity_header_in_a_single_entity_company_is_unknown(
    app: FastAPI, http: TestClient
) -> None:
    single = make_company(app, http, "SOLO", 3)
    response = Caller(single, EAST).request("GET", CUSTOMERS)
    assert response.status_code == 400
    # Without the header nothing changes: every customer, no entity reference.
    top = Caller(single, None)
    assert len(top.visible_keys()) == 3
    key = sorted(top.visible_keys())[0]
    assert "entity" not in top.request("GET", f"{CUSTOMERS}/{key}").json()["ia::result"]


def test_entity_customers_are_private_to_their_entity(company: Company) -> None:
    top, east, west = Caller(company, None), Caller(company, EAST), Caller(company, WEST)
    shared = top.visible_keys()
    east_key = east.create("East Only Ltd")
    west_key = west.create("West Only Ltd")
    # The top level sees its own customers; each entity sees those and its own.
    assert top.visible_keys() == shared
    assert east.visible_keys() == shared | {east_key}
    assert west.visible_keys() == shared | {west_key}
    # A private customer is not found from elsewhere, for reads and writes alike.
    for caller in (top, west):
        assert caller.request("GET", f"{CUSTOMERS}/{east_key}").status_code == 404
        patched = caller.request("PATCH", f"{CUSTOMERS}/{east_key}", {"notes": "x"})
        assert patched.status_code == 404
        assert caller.request("DELETE", f"{CUSTOMERS}/{east_key}").status_code == 404
    # Its own entity reads, changes and deletes it.
    assert east.request("PATCH", f"{CUSTOMERS}/{east_key}", {"notes": "ok"}).status_code == 200
    assert east.request("DELETE", f"{CUSTOMERS}/{east_key}").status_code == 204
    assert east.visible_keys() == shared


def test_the_object_carries_its_entity(company: Company, openapi: dict[str, Any]) -> None:
    top, east = Caller(company, None), Caller(company, EAST)
    east_key = east.create("East Owned")
    owned = east.request("GET", f"{CUSTOMERS}/{east_key}").json()["ia::result"]
    assert owned["entity"]["id"] == EAST
    assert owned["entity"]["name"] == SEED_ENTITIES[0][1]
    assert owned["entity"]["href"] == f"{ENTITIES}/{owned['entity']['key']}"
    # Top-level objects have an entity reference with null members (Sage's `entity-ref`).
    top_key = sorted(top.visible_keys())[0]
    shared = east.request("GET", f"{CUSTOMERS}/{top_key}").json()
    assert shared["ia::result"]["entity"] == {"key": None, "id": None, "name": None}
    operation = openapi["paths"][CUSTOMERS + "/{key}"]["get"]["responses"]["200"]
    schema = {
        **operation["content"]["application/json"]["schema"],
        "components": openapi["components"],
    }
    jsonschema.validate(shared, schema)


def test_entity_header_is_not_case_sensitive_but_must_be_exact(company: Company) -> None:
    east_key = Caller(company, EAST).create("Header Test")
    headers = {
        "Authorization": f"Bearer {company.credentials['access_token']}",
        ENTITY_HEADER.lower(): EAST,
    }
    found = company.http.get(f"{MOUNT_PATH}{CUSTOMERS}/{east_key}", headers=headers)
    assert found.status_code == 200  # HTTP header names ignore case
    # A misspelt header is ignored, as on Intacct: the request runs at the top level.
    headers = {"Authorization": headers["Authorization"], "Sage-Param-Entity": EAST}
    missed = company.http.get(f"{MOUNT_PATH}{CUSTOMERS}/{east_key}", headers=headers)
    assert missed.status_code == 404


def test_root_only_customers_are_hidden_from_entities(company: Company) -> None:
    top, east = Caller(company, None), Caller(company, EAST)
    root_only = top.create("Head Office Only", customerRestriction="rootOnly")
    assert root_only in top.visible_keys()
    assert root_only not in east.visible_keys()
    assert east.request("GET", f"{CUSTOMERS}/{root_only}").status_code == 404


def test_parent_must_be_visible_where_the_customer_is_written(company: Company) -> None:
    east, west = Caller(company, EAST), Caller(company, WEST)
    east_parent = east.create("East Parent")
    refused = west.request("POST", CUSTOMERS, {"name": "Child", "parent": {"key": east_parent}})
    assert refused.status_code == 422
    child = east.create("East Child", parent={"key": east_parent})
    assert child in east.visible_keys()


def test_query_sees_what_the_scope_sees_and_include_private_widens_the_top_level(
    company: Company,
) -> None:
    top, east, west = Caller(company, None), Caller(company, EAST), Caller(company, WEST)
    east_key, west_key = east.create("Private East"), west.create("Private West")
    body: dict[str, Any] = {"fields": ["key"], "size": 4000}

    def keys(caller: Caller, **parameters: Any) -> set[str]:
        extra = {"filterParameters": parameters} if parameters else {}
        response = caller.query(**body, **extra)
        assert response.status_code == 200, response.text
        assert response.json()["ia::meta"]["totalCount"] == len(response.json()["ia::result"])
        return {row["key"] for row in response.json()["ia::result"]}

    shared = top.visible_keys()
    assert keys(top) == shared
    assert keys(top, includePrivate=True) == shared | {east_key, west_key}
    assert keys(east) == shared | {east_key}
    # includePrivate opens the top level only: an entity never sees another's records.
    assert keys(east, includePrivate=True) == shared | {east_key}
    # Counting goes by the same rule.
    counted = top.query(fields=["count:key"], filterParameters={"includePrivate": True})
    assert counted.json()["ia::result"] == [{"count:key": len(shared) + 2}]


def test_include_hierarchy_fields_adds_the_owning_entity(company: Company) -> None:
    east = Caller(company, EAST)
    east_key = east.create("Hierarchy East")
    plain = east.query(fields=["key", "name"], orderBy=[{"key": "desc"}], size=2)
    assert set(plain.json()["ia::result"][0]) == {"key", "name"}
    response = east.query(
        fields=["key", "name"],
        orderBy=[{"key": "desc"}],
        filterParameters={"includeHierarchyFields": True},
        size=2,
    )
    assert response.status_code == 200, response.text
    newest, older = response.json()["ia::result"]
    assert newest == {
        "key": east_key,
        "name": "Hierarchy East",
        "entity.key": newest["entity.key"],
        "entity.id": EAST,
        "entity.name": SEED_ENTITIES[0][1],
    }
    assert newest["entity.key"] is not None
    assert (older["entity.key"], older["entity.id"], older["entity.name"]) == (None, None, None)


def test_entity_fields_filter_and_order(company: Company) -> None:
    top, east, west = Caller(company, None), Caller(company, EAST), Caller(company, WEST)
    east.create("E1")
    west.create("W1")
    response = top.query(
        fields=["name", "entity.id"],
        filters=[{"$ne": {"entity.id": None}}],
        orderBy=[{"entity.id": "desc"}],
        filterParameters={"includePrivate": True},
    )
    assert response.status_code == 200, response.text
    assert response.json()["ia::result"] == [
        {"name": "W1", "entity.id": WEST},
        {"name": "E1", "entity.id": EAST},
    ]
    # Ordered by the entity, top-level customers (no entity) come last going up.
    rows = top.query(
        fields=["entity.id"],
        orderBy=[{"entity.id": "asc"}],
        filterParameters={"includePrivate": True},
        size=4000,
    ).json()["ia::result"]
    assert [row["entity.id"] for row in rows[:2]] == [EAST, WEST]
    assert all(row["entity.id"] is None for row in rows[2:])


def test_pages_of_a_scope_read_the_same_through_bookmarks(company: Company) -> None:
    """Deep pages of an entity's view come out the same whether read cold or from the
    query service's remembered positions."""
    east = Caller(company, EAST)
    for index in range(6):
        east.create(f"Paged {index}")
    body = {"fields": ["key"], "orderBy": [{"name": "asc"}], "size": 4}
    first = [east.query(**body, start=start).json()["ia::result"] for start in (1, 5, 9, 13)]
    again = [east.query(**body, start=start).json()["ia::result"] for start in (13, 9, 5, 1)]
    assert first == list(reversed(again))
    keys = [row["key"] for page in first for row in page]
    assert len(keys) == len(set(keys)) == 16


def test_reset_removes_the_entities(company: Company) -> None:
    provider.reset(company.context, company.tenant_id)
    provider.create(company.context, company.tenant_id)
    fresh = provider.credentials(company.context, company.tenant_id)
    headers = {"Authorization": f"Bearer {fresh['access_token']}"}
    listed = company.http.get(MOUNT_PATH + ENTITIES, headers=headers).json()
    assert listed["ia::result"] == []


def _sign_in(company: Company, username: str) -> httpx.Response:
    form = {
        "grant_type": "client_credentials",
        "client_id": company.credentials["client_id"],
        "client_secret": company.credentials["client_secret"],
        "username": username,
    }
    return company.http.post(f"{MOUNT_PATH}/oauth2/token", data=form)


def test_signing_in_at_an_entity_makes_it_the_default(company: Company) -> None:
    east_key = Caller(company, EAST).create("Signed In East")
    signed_in = _sign_in(company, f"user@{company.tenant_id}|{EAST}")
    assert signed_in.status_code == 200, signed_in.text
    headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    found = company.http.get(f"{MOUNT_PATH}{CUSTOMERS}/{east_key}", headers=headers)
    assert found.status_code == 200
    assert found.json()["ia::result"]["entity"]["id"] == EAST
    # The header still chooses another entity for one request.
    elsewhere = company.http.get(
        f"{MOUNT_PATH}{CUSTOMERS}/{east_key}", headers={**headers, ENTITY_HEADER: WEST}
    )
    assert elsewhere.status_code == 404


def test_signing_in_at_an_unknown_entity_fails(company: Company) -> None:
    refused = _sign_in(company, f"user@{company.tenant_id}|MARS")
    assert refused.status_code == 401
    assert _error(refused)["code"] == "unauthorized"


def test_a_single_entity_company_ignores_the_sign_in_entity(app: FastAPI, http: TestClient) -> None:
    single = make_company(app, http, "SOLO", 3)
    signed_in = _sign_in(single, f"user@{single.tenant_id}|{EAST}")
    assert signed_in.status_code == 200, signed_in.text
    headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    listed = single.http.get(MOUNT_PATH + CUSTOMERS, headers=headers)
    assert listed.status_code == 200
    assert listed.json()["ia::meta"]["totalCount"] == 3
