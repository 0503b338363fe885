"""Text no database can store (a NUL, a lone surrogate) is a 400 in the unified envelope on
every route, before anything is read or written: each case is generated from the OpenAPI
document, so a route added later is covered without editing this file."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import FastAPI

from asgi_client import TestClient
from ledgerbridge.api.app import create_app
from ledgerbridge.config import Settings

NUL = "a\x00b"
CODES = {"path": "invalid_path_params", "query": "invalid_query_params"}
CODES |= {"header": "invalid_headers", "body": "invalid_body"}


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    """Every operation of the unified API's OpenAPI document (read at collection time)."""
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            data_dir=Path(folder),
            database_url=f"sqlite:///{folder}/main.db",
            sandbox_database_url=f"sqlite:///{folder}/sandbox.db",
            _env_file=None,  # type: ignore[call-arg]
        )
        app = create_app(settings)
        try:
            paths = app.openapi()["paths"]
        finally:
            app.state.databases.dispose()
    return [
        (method.upper(), path, operation)
        for path, operations in paths.items()
        for method, operation in operations.items()
    ]


def _cases() -> list[Any]:
    """(method, path, location, name) for every parameter of every operation, and the body
    of every operation that takes one."""
    cases = []
    for method, path, operation in _operations():
        for parameter in operation.get("parameters", []):
            where, name = parameter["in"], parameter["name"]
            cases.append(pytest.param(method, path, where, name, id=f"{method} {path} {name}"))
        if "requestBody" in operation:
            cases.append(pytest.param(method, path, "body", "", id=f"{method} {path} body"))
    return cases


@pytest.fixture
def connection_id(client: TestClient) -> str:
    credentials = {"realm_id": "1", "client_id": "c", "client_secret": "s", "refresh_token": "r"}
    response = client.post("/connections", json={"provider": "qbo", "credentials": credentials})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _request(client: TestClient, method: str, path: str, where: str, name: str, body: Any) -> Any:
    values = {
        "connection_id": client.headers["Connection-Id"],
        "customer_id": "1",
        "provider": "qbo",
        "key_id": "1",
        "webhook_id": "wh_1",
        "delivery_id": "1",
    }
    if where == "path":
        values[name] = NUL
    url = path.format(**{key: quote(value, safe="") for key, value in values.items()})
    params = {name: NUL} if where == "query" else {}
    headers = {name: NUL} if where == "header" else {}
    return client.request(method, url, params=params, headers=headers, json=body)


@pytest.mark.parametrize(("method", "path", "where", "name"), _cases())
def test_unstorable_text_anywhere_is_a_400(
    app: FastAPI,
    client: TestClient,
    connection_id: str,
    method: str,
    path: str,
    where: str,
    name: str,
) -> None:
    client.headers["Connection-Id"] = connection_id
    before = client.get("/connections").json()
    # A body that is otherwise valid for the write routes, with the NUL in one value.
    body: Any = {"display_name": NUL} if where == "body" else None
    if where == "body" and path == "/connections":
        body = {"provider": "qbo", "credentials": {"realm_id": NUL}}
    elif where == "body" and path.endswith("/sync"):
        body = {NUL: True}
    response = _request(client, method, path, where, name, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == CODES[where], error
    assert "NUL" in error["message"]
    assert client.get("/connections").json() == before  # nothing written


@pytest.mark.parametrize(
    "body",
    [
        b'{"display_name": "\\u0000"}',  # the JSON escape
        b'{"display_name": "\\ud800"}',  # a lone surrogate: valid JSON, not valid text
        b'{"bill_address": {"line1": "x", "city": "\\u0000"}}',  # nested
        b'{"display_name": ["\\u0000"]}',  # inside a list, in a field of the wrong type
    ],
)
def test_escaped_unstorable_text_in_a_body_is_a_400(
    client: TestClient, connection_id: str, body: bytes
) -> None:
    response = client.post(
        "/customers",
        content=body,
        headers={"Connection-Id": connection_id, "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_body"


def test_an_escaped_backslash_before_u0000_is_ordinary_text(
    client: TestClient, connection_id: str
) -> None:
    # `"\\u0000"` in JSON is the six characters \u0000, which any database stores: the
    # request goes on to the route (which refuses the unknown field for its own reason).
    response = client.post(
        "/customers",
        content=b'{"unknown": "\\\\u0000"}',
        headers={"Connection-Id": connection_id, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "NUL" not in response.json()["error"]["message"]
    assert response.json()["error"]["errors"][0]["field"] == "unknown"


def test_the_sandboxes_keep_their_own_envelopes(client: TestClient) -> None:
    # A separate system: QuickBooks' own fault shape, not the unified envelope.
    response = client.get("/sandbox/qbo/v3/company/1/customer/%00")
    assert "fault" in response.json(), response.text
