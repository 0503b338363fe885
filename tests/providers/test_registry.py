"""A fourth platform is one folder and one line: a minimal fake platform, registered,
shows up in `POST /connections` validation, the OpenAPI enum, the CLI's provider choices,
`connect --sandbox` and the sandbox mounts, with nothing else changed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from asgi_client import TestClient
from ledgerbridge.api.app import create_app
from ledgerbridge.cli import app as cli
from ledgerbridge.config import Settings, get_settings
from ledgerbridge.connections import list_connections, read_credentials
from ledgerbridge.crypto import CredentialCipher, load_or_create_key
from ledgerbridge.db import read_transaction
from ledgerbridge.providers.base import CustomerPage, MappedCustomer
from ledgerbridge.providers.client import RequestLimits
from ledgerbridge.providers.plugin import Platform
from ledgerbridge.providers.registry import PLATFORMS, get_platform
from ledgerbridge.runtime import open_main_database
from ledgerbridge.sandbox.base import LazySandbox, SandboxContext, SandboxWithBackground, SeedResult

SERVER = "http://127.0.0.1:9"


class FakeSandbox:
    """A sandbox with one endpoint and no tables, remembering what it was asked."""

    name = "fake"
    mount_path = "/sandbox/fake/api"
    migrations = None
    migration_head = None

    def __init__(self) -> None:
        self.seeded: list[tuple[str, int]] = []

    def create_app(self, context: SandboxContext) -> FastAPI:
        app = FastAPI()

        @app.get("/customers")
        def customers() -> dict[str, Any]:
            return {"customers": [], "seeded": len(self.seeded)}

        return app

    def seed(
        self, context: SandboxContext, tenant_id: str, customers: int, seed: int | None
    ) -> SeedResult:
        self.seeded.append((tenant_id, customers))
        return SeedResult(tenant_id=tenant_id, customers=customers)

    def credentials(self, context: SandboxContext, tenant_id: str) -> dict[str, str]:
        return {"KEY": f"key_{tenant_id}"}

    def reset(self, context: SandboxContext, tenant_id: str | None) -> None:
        self.seeded.clear()


class FakeConnector:
    provider = "fake"

    def __init__(self, **_: Any) -> None:
        pass

    async def pages(self, checkpoint: dict[str, Any] | None) -> AsyncIterator[CustomerPage]:
        return
        yield

    async def get(self, external_id: str) -> dict[str, Any]:
        raise NotImplementedError

    async def create(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    async def update(
        self, external_id: str, changes: Mapping[str, Any], current: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        raise NotImplementedError


def _mapped(native: Mapping[str, Any]) -> MappedCustomer:
    raise NotImplementedError


def _stored(issued: Mapping[str, str], received_at: datetime) -> dict[str, Any]:
    return {"api_key": issued["KEY"]}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeSandbox:
    """The fake platform, registered for one test: the registry's one line."""
    sandbox = FakeSandbox()
    platform = Platform(
        name="fake",
        title="Fake Books",
        production_url="https://api.fake.example/v2",
        credential_fields=("api_key",),
        connector=FakeConnector,
        map_customer=_mapped,
        limits=RequestLimits(max_concurrent=1, per_minute=60),
        sandbox=sandbox,
        sandbox_credentials=_stored,
    )
    monkeypatch.setitem(PLATFORMS, "fake", platform)  # undone after the test
    return sandbox


def test_the_api_validates_documents_and_mounts_a_registered_platform(
    fake: FakeSandbox, settings: Settings
) -> None:
    app = create_app(settings)
    try:
        with TestClient(app, headers={"Authorization": "Bearer lb_test_key"}) as client:
            incomplete = client.post("/connections", json={"provider": "fake", "credentials": {}})
            assert incomplete.status_code == 400
            assert "api_key" in incomplete.json()["error"]["message"]
            made = client.post(
                "/connections", json={"provider": "fake", "credentials": {"api_key": "k"}}
            )
            assert made.status_code == 201, made.text
            assert made.json()["base_url"] == "https://api.fake.example/v2"
            unknown = client.post("/connections", json={"provider": "nope", "credentials": {}})
            assert unknown.status_code == 400
            assert "fake" in unknown.json()["error"]["message"]

            schema = client.get("/openapi.json").json()["components"]["schemas"]
            assert schema["ConnectionCreate"]["properties"]["provider"]["enum"] == [
                "qbo",
                "qbd",
                "intacct",
                "fake",
            ]
            mounted = client.get("/sandbox/fake/api/customers")
            assert mounted.status_code == 200
            assert mounted.json() == {"customers": [], "seeded": 0}
    finally:
        app.state.databases.dispose()


@pytest.fixture
def cli_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli_logging_undone: None
) -> Iterator[Settings]:
    monkeypatch.setenv("LEDGERBRIDGE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LEDGERBRIDGE_DATABASE_URL", raising=False)
    monkeypatch.delenv("LEDGERBRIDGE_SANDBOX_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def test_the_cli_offers_and_connects_a_registered_platform(
    fake: FakeSandbox, cli_env: Settings
) -> None:
    runner = CliRunner()
    seeded = runner.invoke(
        cli, ["sandbox", "seed", "--provider", "fake", "--tenant", "t1", "--customers", "3"]
    )
    assert seeded.exit_code == 0, seeded.output
    assert fake.seeded == [("t1", 3)]

    connected = runner.invoke(
        cli,
        ["connect", "--provider", "fake", "--sandbox", "--tenant", "t1", "--server-url", SERVER],
    )
    assert connected.exit_code == 0, connected.output
    engine = open_main_database(cli_env)
    try:
        with read_transaction(engine) as conn:
            [info] = list_connections(conn)
            cipher = CredentialCipher(load_or_create_key(cli_env))
            credentials = read_credentials(conn, cipher, info.id)
    finally:
        engine.dispose()
    assert info.id == connected.output.strip()
    assert (info.provider, info.base_url) == ("fake", f"{SERVER}/sandbox/fake/api")
    assert credentials == {"api_key": "key_t1"}
    assert get_platform("fake").sandbox is fake

    refused = runner.invoke(cli, ["sandbox", "reset", "--provider", "nope"])
    assert refused.exit_code != 0
    assert "fake" in refused.output


@pytest.mark.parametrize("name", ["qbo", "qbd", "intacct"])
def test_a_lazy_sandbox_names_what_it_loads(name: str) -> None:
    """The registry names each sandbox without importing it; the names must be the
    sandbox's own, or the server would mount it (and migrate it) in the wrong place."""
    lazy = get_platform(name).sandbox
    assert isinstance(lazy, LazySandbox)
    loaded = lazy.provider
    assert (lazy.name, lazy.mount_path, lazy.migrations, lazy.migration_head) == (
        loaded.name,
        loaded.mount_path,
        loaded.migrations,
        loaded.migration_head,
    )
    assert isinstance(lazy, SandboxWithBackground) == isinstance(loaded, SandboxWithBackground)
