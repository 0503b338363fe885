"""Connections, API keys and the open health check."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from asgi_client import TestClient
from ledgerbridge.config import Settings
from ledgerbridge.connections import get_connection
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.keys import create_api_key
from ledgerbridge.providers.intacct.connector import IntacctConnector
from ledgerbridge.sync.engine import open_connector
from ledgerbridge.tables import connections

SECRET = "rt_super_secret_refresh_token_value"
QBO_CREDENTIALS = {
    "realm_id": "123",
    "client_id": "client",
    "client_secret": "secret",
    "refresh_token": "rt",
}


def test_create_list_get_delete(client: TestClient) -> None:
    created = client.post(
        "/connections",
        json={
            "provider": "qbo",
            "base_url": "http://127.0.0.1:9/sandbox/qbo",
            "credentials": {**QBO_CREDENTIALS, "refresh_token": SECRET},
            "sync_frequency": "30m",
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["sync_frequency"] == 1800
    assert body["status"] == "active"
    assert "credentials" not in body
    assert SECRET not in created.text
    assert [c["id"] for c in client.get("/connections").json()["connections"]] == [body["id"]]
    assert client.get(f"/connections/{body['id']}").json()["base_url"].endswith("/sandbox/qbo")
    assert client.delete(f"/connections/{body['id']}").status_code == 204
    assert client.get(f"/connections/{body['id']}").status_code == 404
    assert client.delete(f"/connections/{body['id']}").status_code == 404


def test_default_base_url_is_the_production_host(client: TestClient) -> None:
    intacct = {"client_id": "c", "client_secret": "s", "username": "user@COMPANY"}
    body = client.post("/connections", json={"provider": "intacct", "credentials": intacct}).json()
    assert body["base_url"] == "https://api.intacct.com/ia/api/v1"
    assert body["sync_frequency"] == 3600


@pytest.mark.parametrize(
    "payload",
    [
        {"provider": "xero", "credentials": {}},  # unknown provider
        {"provider": "qbo"},  # credentials missing
        {"provider": "qbo", "credentials": {}, "sync_frequency": "often"},
        {"provider": "qbo", "credentials": {}, "sync_frequency": 5},  # too often
        {"provider": "qbo", "credentials": {}, "base_url": "ftp://x"},
        {"provider": "qbo", "credentials": {}, "extra": 1},  # unknown property
        {"provider": "qbo", "credentials": "token"},  # wrong type
        {"provider": "qbo", "credentials": {"realm_id": "1"}},  # incomplete
        {"provider": "qbd", "credentials": {"api_key": "sk_x", "end_user_id": 7}},  # not a string
    ],
)
def test_bad_connection_bodies_are_refused_and_write_nothing(
    client: TestClient, payload: dict[str, object]
) -> None:
    response = client.post("/connections", json=payload)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_body"
    assert response.json()["error"]["errors"]
    assert client.get("/connections").json()["connections"] == []


def test_malformed_json_is_a_400(client: TestClient) -> None:
    response = client.post(
        "/connections", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_body"


def test_credentials_are_encrypted_at_rest(
    app: FastAPI, client: TestClient, settings: Settings, backend: str
) -> None:
    created = client.post(
        "/connections",
        json={"provider": "qbo", "credentials": {**QBO_CREDENTIALS, "refresh_token": SECRET}},
    )
    assert created.status_code == 201, created.text
    with app.state.databases.main.connect() as conn:
        stored = conn.execute(sa.select(connections.c.credentials)).scalar_one()
    assert SECRET not in stored
    assert app.state.cipher.decrypt(stored)["refresh_token"] == SECRET
    if backend == "sqlite":
        app.state.databases.main.dispose()
        database_file = Path(sa.engine.make_url(settings.main_database_url).database or "")
        for path in database_file.parent.glob(database_file.name + "*"):
            assert SECRET.encode() not in path.read_bytes()
    key_file = settings.data_dir / "ledgerbridge.key"
    assert key_file.exists()
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer wrong", "Basic bGJfdGVzdF9rZXk6", "lb_test_key"],
)
def test_unified_endpoints_need_a_valid_key(app: FastAPI, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    with TestClient(app) as anonymous:
        for path in ("/connections", "/customers"):
            response = anonymous.get(path, headers=headers)
            assert response.status_code == 401, (path, header)
            assert response.json()["error"]["code"] == "unauthorized"
            assert response.headers["www-authenticate"] == "Bearer"
        assert anonymous.get("/health").status_code == 200


OPEN_OPERATIONS = {
    ("GET", "/health"),
    ("GET", "/connections/{provider}/callback"),  # the platform sends the browser back
    ("POST", "/notifications/qbo"),  # Intuit's webhooks, verified by their signature
}
"""The API's operations that take no key (the README: every endpoint but `/health`,
`/metrics`, the OAuth callback and the platforms' notifications needs one; `/metrics` is
not in the document)."""


def test_every_operation_but_the_open_ones_needs_a_key(app: FastAPI) -> None:
    """Each operation of the OpenAPI document answers a request without a key with 401
    exactly when the document says it needs one."""
    opened = set()
    with TestClient(app, follow_redirects=False) as anonymous:
        for path, operations in app.openapi()["paths"].items():
            for method, operation in operations.items():
                url = re.sub(r"\{[^}]+\}", "x", path)
                refused = anonymous.request(method.upper(), url).status_code == 401
                assert refused == ("security" in operation), (method, path)
                if not refused:
                    opened.add((method.upper(), path))
    assert opened == OPEN_OPERATIONS


def test_stored_keys_work_and_are_hashed(app: FastAPI) -> None:
    engine = app.state.databases.main
    with write_transaction(engine) as conn:
        _, key = create_api_key(conn, name="ci", now=utcnow())
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT key_hash, prefix FROM api_keys").one()
    assert key not in stored.key_hash
    assert key.startswith(stored.prefix)
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as keyed:
        assert keyed.get("/connections").status_code == 200


INTACCT = {"client_id": "c", "client_secret": "s", "username": "user@COMPANY"}


def test_intacct_reconciliation_interval_is_a_connection_setting(
    app: FastAPI, client: TestClient
) -> None:
    created = client.post(
        "/connections",
        json={"provider": "intacct", "credentials": INTACCT, "settings": {"reconcile_every": 3}},
    )
    assert created.status_code == 201, created.text
    assert created.json()["settings"] == {"reconcile_every": 3}
    connection_id = created.json()["id"]
    assert client.get(f"/connections/{connection_id}").json()["settings"] == {"reconcile_every": 3}
    with read_transaction(app.state.databases.main) as conn:
        info = get_connection(conn, connection_id)
    # The connector the engine builds for this connection reads it.
    connector = open_connector(app.state.sync.env, info)
    assert isinstance(connector, IntacctConnector)
    assert connector.reconcile_every == 3
    default = client.post("/connections", json={"provider": "intacct", "credentials": INTACCT})
    assert default.json()["settings"] == {}
    with read_transaction(app.state.databases.main) as conn:
        info = get_connection(conn, default.json()["id"])
    assert open_connector(app.state.sync.env, info).reconcile_every == 10  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("provider", "options"),
    [
        ("intacct", {"reconcile_every": 0}),  # at least every run
        ("intacct", {"reconcile_every": "often"}),
        ("intacct", {"reconcile_every": 2**40}),
        ("intacct", {"reconcile_evry": 3}),  # a typo is not ignored
        ("qbo", {"reconcile_every": 3}),  # QuickBooks Online takes no settings
        ("qbo", []),
    ],
)
def test_settings_a_provider_does_not_take_are_refused(
    client: TestClient, provider: str, options: object
) -> None:
    credentials = INTACCT if provider == "intacct" else QBO_CREDENTIALS
    response = client.post(
        "/connections",
        json={"provider": provider, "credentials": credentials, "settings": options},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_body"
    assert client.get("/connections").json()["connections"] == []
