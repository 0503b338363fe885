"""Inputs a fuzzer found answering 500 on the unified API: each is a 400 in our envelope
(`parsing.py` holds the rules), and nothing is stored."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from asgi_client import TestClient

QBO_CREDENTIALS = {"realm_id": "1", "client_id": "c", "client_secret": "s", "refresh_token": "r"}


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.fixture
def conn_id(client: TestClient) -> str:
    response = client.post("/connections", json={"provider": "qbo", "credentials": QBO_CREDENTIALS})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _refused(response: Any) -> None:
    assert response.status_code == 400, response.text
    assert set(response.json()["error"]) == {"code", "message", "errors"}


@pytest.mark.parametrize(
    "params",
    [
        {"modified_after": "9999-12-31T23:59:59-01:00"},  # overflows when made UTC
        {"modified_after": "0001-01-01T00:00:00+01:00"},
        {"cursor": _cursor("lb1:" + "9" * 30)},  # past the 64-bit change sequence
        {"cursor": _cursor("lb1:²")},
        {"ids": "a\x00b"},
    ],
)
def test_bad_record_queries_are_400(
    client: TestClient, conn_id: str, params: dict[str, str]
) -> None:
    _refused(client.get("/customers", params=params, headers={"Connection-Id": conn_id}))


@pytest.mark.parametrize(
    "sync_frequency",
    [10**20, 3_000_000_000, "²", "99999999999999999999999d"],
)
def test_unbounded_sync_frequencies_are_400(client: TestClient, sync_frequency: object) -> None:
    body = {"provider": "qbo", "credentials": QBO_CREDENTIALS, "sync_frequency": sync_frequency}
    _refused(client.post("/connections", json=body))
    assert client.get("/connections").json()["connections"] == []


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    "extra",
    [
        {"extra": 2**64},  # past what the JSON encoder writes
        {"extra": _nested(300)},  # past the encoder's nesting limit
        {"extra": "x" * 10_000_000},  # 10 MB of credentials
        {"extra": "a\x00b"},
    ],
)
def test_unbounded_credentials_are_400(client: TestClient, extra: dict[str, Any]) -> None:
    body = {"provider": "qbo", "credentials": {**QBO_CREDENTIALS, **extra}}
    _refused(client.post("/connections", json=body))
    assert client.get("/connections").json()["connections"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"display_name": "X", "credit_limit_cents": 10**22},
        {"display_name": "X", "balance_cents": 10**22},
        {"display_name": "X\x00"},
    ],
)
def test_unbounded_write_back_is_400(
    client: TestClient, conn_id: str, body: dict[str, Any]
) -> None:
    _refused(client.post("/customers", json=body, headers={"Connection-Id": conn_id}))
