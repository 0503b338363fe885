"""Fixtures every test shares: fresh migrated databases per test on SQLite and, when
LEDGERBRIDGE_TEST_DATABASE_URL is set, on PostgreSQL too (schemas of its own per test);
the assembled app; and a real server on a loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import random
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx._transports.default as httpx_transports
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI
from fastapi.dependencies import models as fastapi_dependencies
from typer.testing import CliRunner

from asgi_client import TestClient
from ledgerbridge import serving
from ledgerbridge.api.app import create_app
from ledgerbridge.config import Settings, get_settings
from ledgerbridge.observability import logs as product_logs
from ledgerbridge.providers.base import ConnectorSettings, RetryPolicy
from ledgerbridge.runtime import freeze_and_collect_young_rarely
from ledgerbridge.sync.engine import SyncEnvironment
from ledgerbridge.tls import tls_context
from template_databases import PostgreSQLTemplate, SQLiteTemplate, compact_catalogs

PG_URL = os.environ.get("LEDGERBRIDGE_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]


def _default_tls_once(
    verify: Any = True, cert: Any = None, trust_env: bool = True
) -> ssl.SSLContext:
    """httpx's default TLS context, built once per test process: every `httpx.Client()` a
    test makes without `verify=` (a few hundred, each loading certifi's CA bundle in
    50-100 ms) gets the same default verification the product's clients share
    (`ledgerbridge.tls`). Any other `verify`/`cert` is built as httpx builds it."""
    if verify is True and cert is None and trust_env:
        return tls_context()
    return httpx.create_ssl_context(verify=verify, cert=cert, trust_env=trust_env)


httpx_transports.create_ssl_context = _default_tls_once


def pytest_configure(config: pytest.Config) -> None:
    """Once per run (in the process that starts the workers): compact PostgreSQL's
    catalogs before the tests create their schemas."""
    if PG_URL and not hasattr(config, "workerinput"):
        compact_catalogs(_pg_schema_url("public"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `slow` first: spread over the workers from the start, none of them is
    left running alone at the end of a parallel run."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_collection_finish() -> None:
    """Everything imported and collected so far lives to the end of the run: frozen out of
    the garbage collector's full passes (as `runtime.started()` does for the product), which
    would otherwise walk it again and again. The young generation is collected at the
    product's threshold too, not CPython's 700: every test builds apps, engines and pages
    of objects that reference counting frees, and at 700 the collector walked them some
    4,000 times in `tests/api` and `tests/unified` (2.5 s of 27 s of CPU; 1.4 s at
    50,000)."""
    gc.collect()
    freeze_and_collect_young_rarely()


_FASTAPI_CALLABLE_CACHES = [
    cache
    for name in (
        "_is_gen_callable_cached",
        "_is_async_gen_callable_cached",
        "_is_coroutine_callable_cached",
    )
    if (cache := getattr(fastapi_dependencies, name, None)) is not None
]
"""FastAPI's private caches, by name: a FastAPI release without them leaves nothing to
clear, rather than breaking the suite."""


def pytest_runtest_teardown() -> None:
    """FastAPI remembers, process-wide, the last 4,096 dependency callables it classified
    (`fastapi.dependencies.models`), holding each strongly: one app per process never
    notices, but here every finished test's apps (their routes, engines, sandboxes) stayed
    alive through those closures, the heap grew by thousands of objects a test and the
    garbage collector's passes grew with it. Forgotten after each test."""
    for cache in _FASTAPI_CALLABLE_CACHES:
        cache.cache_clear()


def _pg_schema_url(schema: str) -> str:
    url = sa.engine.make_url(PG_URL)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    # Commits need not wait for the WAL to reach the disk: nothing here outlives a crash.
    options = f"-csearch_path={schema} -csynchronous_commit=off"
    return url.update_query_dict({"options": options}).render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SQLiteTemplate:
    return SQLiteTemplate(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def postgresql_template() -> Iterator[PostgreSQLTemplate]:
    template = PostgreSQLTemplate(_pg_schema_url)
    yield template
    template.close()


@pytest.fixture
def database_urls(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[str, str]]:
    """(main, sandbox) URLs of two freshly migrated databases of this test's own, on the
    chosen backend (copies of a template migrated once per test process)."""
    if backend == "sqlite":
        yield request.getfixturevalue("sqlite_template").copy_to(tmp_path)
        return
    template: PostgreSQLTemplate = request.getfixturevalue("postgresql_template")
    schemas = template.create()
    try:
        yield _pg_schema_url(schemas[0]), _pg_schema_url(schemas[1])
    finally:
        template.release(schemas)


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
    """A free port for a server in another process, below the ephemeral range (32768 and up
    on Linux, 49152 on macOS): the kernel hands those to every outgoing connection and
    `bind(0)`, so with tests running in parallel one could be taken before the server binds
    it; ports below are taken only on purpose."""
    while True:
        port = random.randrange(20_000, 32_768)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


class _PromptServer(uvicorn.Server):
    """uvicorn's server, which looks at `should_exit` every 0.1 s; `stop()` wakes it at
    once instead (about 50 ms saved on each of the suite's few hundred live servers)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._woken: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None

    async def main_loop(self) -> None:
        woken = asyncio.Event()
        self._woken = asyncio.get_running_loop(), woken
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864_000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), 0.1)

    def stop(self) -> None:
        self.should_exit = True
        if self._woken is not None:
            loop, woken = self._woken
            loop.call_soon_threadsafe(woken.set)


STOP_WAIT_S = 0.5
"""How long a live test server waits for requests still answering when it stops."""


class LiveServer:
    """A uvicorn server on a loopback port, in a thread, for real-HTTP tests. It listens on
    a socket bound before it starts, so tests running in parallel never race for a port."""

    def __init__(self, app: object) -> None:
        self._socket = serving.bind("127.0.0.1", 0)  # as `serve` binds it
        self.port = int(self._socket.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        # A request still answering when the test ends (a sandbox told to be slow) is
        # cancelled after half a second rather than waited for: uvicorn's default waits for it,
        # which held each killed-in-a-token-rotation test 3 s in its teardown.
        config = uvicorn.Config(
            app,  # type: ignore[arg-type]
            log_level="warning",
            timeout_graceful_shutdown=STOP_WAIT_S,
        )
        self._server = _PromptServer(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def start(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.stop()
        self._thread.join(timeout=10)
        self._socket.close()


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
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture
def cli_logging_undone() -> Iterator[None]:
    """For tests that run CLI commands in this process. Each command sets up the product's
    logging on the root logger (`configure_logging`: a handler writing to stderr, the level
    at info); left in place, the worker's later in-process servers logged their requests
    through it, and a line that fell while pytest's capture was suspended (between a test's
    phases) reached the run's output. Taken down again afterwards, with the root level the
    test found."""
    root = logging.getLogger()
    level = root.level
    yield
    root.handlers[:] = [h for h in root.handlers if type(h).__module__ != product_logs.__name__]
    root.setLevel(level)


@pytest.fixture
def cli_in_process(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cli_logging_undone: None
) -> Iterator[CliRunner]:
    """A runner for CLI commands in this process, on the test's databases."""
    monkeypatch.setenv("LEDGERBRIDGE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LEDGERBRIDGE_SANDBOX_DATABASE_URL", settings.sandbox_database_url)
    monkeypatch.setenv("LEDGERBRIDGE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


FAST_RETRY = RetryPolicy(attempts=25, base_delay=0.001, max_delay=0.01, max_throttle_wait=0.05)
"""Retries for tests with injected faults: as many as production, without the waiting."""


@asynccontextmanager
async def sync_environment(app: FastAPI, **settings: Any) -> AsyncIterator[SyncEnvironment]:
    """A sync environment over the app's database with its own HTTP client, fast retries
    and the given `ConnectorSettings` fields."""
    async with httpx.AsyncClient(timeout=30, verify=tls_context()) as http:
        yield SyncEnvironment(
            engine=app.state.databases.main,
            cipher=app.state.cipher,
            http=http,
            connector_settings=ConnectorSettings(**{"retry": FAST_RETRY, **settings}),
        )


async def cancel_inside(
    work: Coroutine[Any, Any, Any], inside: threading.Event, go_on: threading.Event | None = None
) -> None:
    """Run `work`, cancel it once a thread it started sets `inside` (then set `go_on`, to
    let that thread finish), and hold that the cancellation came out of it: how the tests
    stop a worker, a scheduler or a run in the middle of a transaction."""
    task = asyncio.create_task(work)
    assert await asyncio.to_thread(inside.wait, 30)
    task.cancel()
    if go_on is not None:
        go_on.set()
    with pytest.raises(asyncio.CancelledError):
        await task


API_KEY = "lb_test_key"
"""The unified API's key in every test app (`settings`)."""


def read_customers(
    api: httpx.Client | TestClient, connection_id: str, **params: Any
) -> list[dict[str, Any]]:
    """Every record `GET /customers` returns from `params` on (a `cursor`, a `limit`, an
    `include`), following `next_cursor` to the end: what a user's app reads. `api` is any
    client bound to the unified API's URL."""
    headers = {"Authorization": f"Bearer {API_KEY}", "Connection-Id": connection_id}
    found: list[dict[str, Any]] = []
    while True:
        response = api.get("/customers", params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        found += body["records"]
        if body["next_cursor"] is None:
            return found
        params = {**params, "cursor": body["next_cursor"]}


def read_customers_at(url: str, connection_id: str, **params: Any) -> list[dict[str, Any]]:
    """`read_customers` of the unified API served at `url`."""
    with httpx.Client(base_url=url, timeout=60) as api:
        return read_customers(api, connection_id, **params)
