"""`GET /health` answers for the process and its database."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from asgi_client import TestClient
from conftest import free_port


def test_health_reports_the_database(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["status"] == "ok"
    assert body["database"]["latency_ms"] >= 0


def test_unreachable_database_is_503(client: TestClient) -> None:
    state = client.app.state  # type: ignore[attr-defined]
    working = state.databases
    # A PostgreSQL server that is not there: nothing listens on a free port.
    unreachable = sa.create_engine(
        f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test",
        connect_args={"connect_timeout": 2},
    )
    state.databases = dataclasses.replace(working, main=unreachable)
    try:
        response = client.get("/health")
    finally:
        unreachable.dispose()
        state.databases = working
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == {
        "status": "unavailable",
        "latency_ms": None,
        "error": "OperationalError",
    }
    assert "127.0.0.1" not in response.text  # no connection details to an anonymous caller
