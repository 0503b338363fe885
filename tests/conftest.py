"""Fixtures every test shares: a fresh database per test on SQLite and, when
LEDGERBRIDGE_TEST_DATABASE_URL is set, on PostgreSQL too (a schema per test, dropped after);
the assembled app; and a real server on a loopback port."""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ledgerbridge.api.app import create_app
from ledgerbridge.config import Settings
from ledgerbridge.providers.base import ConnectorSettings, RetryPolicy
from ledgerbridge.sync.engine import SyncEnvironment

PG_URL = os.environ.get("LEDGERBRIDGE_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]


def _pg_schema_url(schema: str) -> str:
    url = sa.engine.make_url(PG_URL)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_urls(backend: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(main, sandbox) URLs of two empty databases on the chosen backend."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'main.db'}", f"sqlite:///{tmp_path / 'sandbox.db'}"
        return
    admin = sa.create_engine(_pg_schema_url("public"), isolation_level="AUTOCOMMIT")
    schemas = [f"lbtest_{secrets.token_hex(6)}" for _ in range(2)]
    with admin.connect() as connection:
        for schema in schemas:
            connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield _pg_schema_url(schemas[0]), _pg_schema_url(schemas[1])
    finally:
        with admin.connect() as connection:
            for schema in schemas:
                connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture
def settings(database_urls: tuple[str, str], tmp_path: Path) -> Settings:
    main, sandbox = database_urls
    return Settings(
        data_dir=tmp_path,
        database_url=main,
        sandbox_database_url=sandbox,
        api_key="lb_test_key",
        scheduler=False,
        _env_file=None,  # type: ignore[call-arg]
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """A uvicorn server on a loopback port, in a thread, for real-HTTP tests."""

    def __init__(self, app: object, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")  # type: ignore[arg-type]
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    """The whole product on fresh databases; engines disposed afterwards."""
    application = create_app(settings)
    yield application
    application.state.databases.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """An in-process client carrying the test API key."""
    with TestClient(app, headers={"Authorization": "Bearer lb_test_key"}) as test_client:
        yield test_client


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    """The app on a real loopback port."""
    server = LiveServer(app, free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


FAST_RETRY = RetryPolicy(attempts=25, base_delay=0.001, max_delay=0.01, max_throttle_wait=0.05)
"""Retries for tests with injected faults: as many as production, without the waiting."""


@asynccontextmanager
async def sync_environment(app: FastAPI, **settings: Any) -> AsyncIterator[SyncEnvironment]:
    """A sync environment over the app's database with its own HTTP client, fast retries
    and the given `ConnectorSettings` fields."""
    async with httpx.AsyncClient(timeout=30) as http:
        yield SyncEnvironment(
            engine=app.state.databases.main,
            cipher=app.state.cipher,
            http=http,
            connector_settings=ConnectorSettings(**{"retry": FAST_RETRY, **settings}),
        )
