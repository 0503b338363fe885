"""Environments isolate: generated from `/openapi.json`, every operation of the unified API
is called with a key of environment A on environment B's connection, records, runs and
keys (a 404, exactly like a missing one, and nothing of B changes), and with a read-scoped
key wherever the document says the operation needs a scope (a 403). A new route is covered
as soon as it is in the document: a parameter naming a resource this test does not know
fails it until B gets such a resource below."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from conftest import LiveServer, sync_environment
from ledgerbridge.connect import connect_sandbox
from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.keys import create_api_key
from ledgerbridge.providers.registry import get_platform
from ledgerbridge.sync.engine import run_sync
from ledgerbridge.webhooks.deliveries import list_deliveries
from ledgerbridge.webhooks.subscriptions import create_subscription

REALM_A, REALM_B = "1111222233334444", "5555666677778888"
PUBLIC = {"GET /health", "GET /connections/{provider}/callback"}
"""Operations without a key: health, and where the platform sends the browser back."""


@dataclass
class Environments:
    server: LiveServer
    full_a: str
    read_a: str
    full_b: str
    key_b: int
    connection_a: str
    connection_b: str
    customer_b: str
    webhook_b: str
    delivery_b: int


async def _sync(app: FastAPI, connection_id: str) -> None:
    async with sync_environment(app) as env:
        assert (await run_sync(env, connection_id)).status == "succeeded"


@pytest.fixture
def environments(app: FastAPI, live_server: LiveServer) -> Environments:
    """`dev` (A) and `prod` (B), each with a QuickBooks Online connection; B's is synced."""
    qbo = get_platform("qbo").sandbox
    ids = {}
    for realm, environment in ((REALM_A, "dev"), (REALM_B, "prod")):
        qbo.create(app.state.sandbox, realm)
        qbo.seed(app.state.sandbox, realm, 3, 7)
        ids[environment] = connect_sandbox(
            app.state.databases,
            app.state.cipher,
            provider="qbo",
            tenant=realm,
            server_url=live_server.url,
            environment=environment,
        ).id
    with write_transaction(app.state.databases.main) as conn:
        # B's subscription hears B's sync, so B has a delivery too.
        webhook_b, _ = create_subscription(
            conn,
            app.state.cipher,
            environment="prod",
            url="https://app.example/hooks",
            events=["sync.succeeded"],
            now=_now(),
        )
    asyncio.run(_sync(app, ids["prod"]))
    with read_transaction(app.state.databases.main) as conn:
        (delivery_b,) = list_deliveries(conn, webhook_b.id, environment="prod", limit=10)
    with write_transaction(app.state.databases.main) as conn:
        _, full_a = create_api_key(conn, name="a", now=_now(), environment="dev")
        _, read_a = create_api_key(conn, name="a", now=_now(), environment="dev", scope="read")
        key_b, full_b = create_api_key(conn, name="b", now=_now(), environment="prod")
    with httpx.Client(base_url=live_server.url, headers=_bearer(full_b)) as http:
        customer = http.get("/customers", headers={"Connection-Id": ids["prod"]}).json()
    return Environments(
        live_server,
        full_a,
        read_a,
        full_b,
        key_b.id,
        ids["dev"],
        ids["prod"],
        customer["records"][0]["id"],
        webhook_b.id,
        delivery_b.id,
    )


def _now() -> Any:
    from ledgerbridge.db import utcnow

    return utcnow()


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, operations in document["paths"].items()
        if not path.startswith("/sandbox/")
        for method, operation in operations.items()
    ]


def _scopes(operation: dict[str, Any]) -> set[str]:
    return {scope for requirement in operation["security"] for scope in requirement["bearer"]}


def _request_on_b(
    path: str, operation: dict[str, Any], b: Environments
) -> tuple[str, dict[str, str], dict[str, str], bool]:
    """(url, query, headers, names a resource of B) for the operation aimed at B."""
    resources = {
        "connection_id": b.connection_b,
        "Connection-Id": b.connection_b,
        "key_id": str(b.key_b),
        "customer_id": b.customer_b,
        "webhook_id": b.webhook_b,
        "delivery_id": str(b.delivery_b),
    }
    harmless = {"provider": "qbo", "redirect_uri": "https://app.example/done"}
    query: dict[str, str] = {}
    headers: dict[str, str] = {}
    names_b = False
    for parameter in operation.get("parameters", []):
        name, where = parameter["name"], parameter["in"]
        if name in resources:
            value, names_b = resources[name], True
        elif name in harmless:
            value = harmless[name]
        elif parameter.get("required") and where == "path":
            pytest.fail(f"{path}: give environment B a resource for path parameter {name!r}")
        else:
            continue
        if where == "path":
            path = path.replace("{" + name + "}", value)
        elif where == "query":
            query[name] = value
        elif where == "header":
            headers[name] = value
    return path, query, headers, names_b


def _call(
    http: httpx.Client, method: str, url: str, query: dict[str, str], headers: dict[str, str]
) -> httpx.Response:
    body = {"json": {}} if method in ("POST", "PATCH", "PUT") else {}
    return http.request(method, url, params=query, headers=headers, **body)  # type: ignore[arg-type]


def test_a_key_sees_and_changes_nothing_of_another_environment(
    environments: Environments,
) -> None:
    b = environments
    with httpx.Client(base_url=b.server.url, follow_redirects=False, timeout=30) as http:
        document = http.get("/openapi.json").json()
        operations = _operations(document)
        assert len(operations) >= 20
        checked = 0
        for method, path, operation in operations:
            name = f"{method} {path}"
            if "security" not in operation:
                assert name in PUBLIC, f"{name} takes no API key"
                continue
            url, query, headers, names_b = _request_on_b(path, operation, b)
            scopes = _scopes(operation)
            # A read-scoped key: refused (403) wherever a scope is needed, before anything.
            read = _call(http, method, url, query, {**headers, **_bearer(b.read_a)})
            if scopes:
                assert read.status_code == 403, (name, read.text)
                assert read.json()["error"]["code"] == "forbidden"
            else:
                assert read.status_code != 403, (name, read.text)
            # A full key of A.
            full = _call(http, method, url, query, {**headers, **_bearer(b.full_a)})
            if "operator" in scopes:
                assert full.status_code == 403, (name, full.text)
            elif names_b:
                assert full.status_code == 404, (name, full.text)
                assert full.json()["error"]["code"] in ("unknown_connection", "not_found")
                if method != "DELETE":  # B's own key reaches it: the 404 is isolation
                    own = _call(http, method, url, query, {**headers, **_bearer(b.full_b)})
                    assert own.status_code not in (401, 403, 404), (name, own.text)
            elif method == "GET":
                assert full.status_code == 200, (name, full.text)
                for secret in (b.connection_b, str(b.key_b) + ",", REALM_B, b.full_b[:10]):
                    assert secret not in full.text, (name, secret)
            checked += 1
        assert checked >= 17
    # Nothing of B changed: its key works, its connection and records are there.
    with httpx.Client(base_url=b.server.url, headers=_bearer(b.full_b)) as http:
        assert http.get(f"/connections/{b.connection_b}").status_code == 200
        records = http.get("/customers", headers={"Connection-Id": b.connection_b}).json()
        assert len(records["records"]) == 3
        keys = http.get("/keys").json()["keys"]
        assert [key["id"] for key in keys] == [b.key_b]
        listed = http.get("/connections").json()["connections"]
        assert [c["id"] for c in listed] == [b.connection_b]


def test_the_operator_key_chooses_its_environment(environments: Environments) -> None:
    b = environments
    with httpx.Client(base_url=b.server.url, headers=_bearer("lb_test_key")) as http:
        assert [c["id"] for c in http.get("/connections").json()["connections"]] == [b.connection_a]
        prod = http.get("/connections", headers={"Ledgerbridge-Environment": "prod"})
        assert [c["id"] for c in prod.json()["connections"]] == [b.connection_b]
        unknown = http.get("/connections", headers={"Ledgerbridge-Environment": "nowhere"})
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "unknown_environment"
        made = http.post("/environments", json={"name": "staging"})
        assert made.status_code == 201, made.text
        assert http.post("/environments", json={"name": "staging"}).status_code == 409
        assert http.post("/environments", json={"name": "Bad Name"}).status_code == 400
        names = [e["name"] for e in http.get("/environments").json()["environments"]]
        assert names == ["dev", "prod", "staging"]
        key = http.post(
            "/keys",
            json={"name": "ci", "scope": "read"},
            headers={"Ledgerbridge-Environment": "staging"},
        ).json()
    assert (key["environment"], key["scope"]) == ("staging", "read")
    with httpx.Client(base_url=b.server.url, headers=_bearer(key["key"])) as http:
        assert http.get("/connections").json()["connections"] == []
        other = http.get("/connections", headers={"Ledgerbridge-Environment": "prod"})
        assert other.status_code == 400  # only the operator key chooses
