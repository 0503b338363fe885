"""A QuickBooks Online sandbox realm served on a real loopback port, connected through the
product, and a sync environment bound to it: fixtures for the end-to-end and sync tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from asgi_client import TestClient
from conftest import LiveServer, sync_environment
from ledgerbridge.connect import connect_sandbox
from ledgerbridge.db import read_transaction
from ledgerbridge.providers.registry import get_platform
from ledgerbridge.sync.engine import SyncEnvironment
from ledgerbridge.unified.customer import MODEL_NAME
from ledgerbridge.unified.records import StoredRecord, list_records

REALM = "4620816365257778"


@dataclass
class QboRealm:
    """The sandbox realm as a QuickBooks client sees it (for changes behind our back)."""

    http: httpx.Client
    realm_id: str
    token: str

    def _url(self, path: str) -> str:
        return f"/sandbox/qbo/v3/company/{self.realm_id}/{path}"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def save(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(
            self._url("customer"), json=body, params={"minorversion": "75"}, headers=self._headers()
        )
        assert response.status_code == 200, response.text
        customer: dict[str, Any] = response.json()["Customer"]
        return customer

    def get(self, customer_id: str) -> dict[str, Any]:
        response = self.http.get(self._url(f"customer/{customer_id}"), headers=self._headers())
        assert response.status_code == 200, response.text
        customer: dict[str, Any] = response.json()["Customer"]
        return customer

    def query(self, text: str) -> list[dict[str, Any]]:
        response = self.http.get(
            self._url("query"), params={"query": text}, headers=self._headers()
        )
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["QueryResponse"].get("Customer", [])
        return found

    def configure(self, **changes: Any) -> None:
        response = self.http.patch(f"/sandbox/qbo/_admin/tenants/{self.realm_id}", json=changes)
        assert response.status_code == 200, response.text


@dataclass
class SyncSetup:
    app: FastAPI
    server: LiveServer
    realm: QboRealm
    connection_id: str

    def records(self) -> dict[str, StoredRecord]:
        with read_transaction(self.app.state.databases.main) as conn:
            page, _ = list_records(
                conn, connection_id=self.connection_id, model=MODEL_NAME, limit=1_000_000
            )
        return {record.external_id: record for record in page}

    def connect_again(self) -> str:
        """A second connection to the same realm (to compare two syncs)."""
        return connect_sandbox(
            self.app.state.databases,
            self.app.state.cipher,
            provider="qbo",
            tenant=self.realm.realm_id,
            server_url=self.server.url,
        ).id


def seed_realm(app: FastAPI, customers: int) -> None:
    get_platform("qbo").sandbox.seed(app.state.sandbox, REALM, customers, 7)


@pytest.fixture
def qbo(app: FastAPI, live_server: LiveServer) -> Iterator[SyncSetup]:
    """An empty realm (seed it with `seed_realm`) and a connection to it."""
    get_platform("qbo").sandbox.create(app.state.sandbox, REALM)
    issued = get_platform("qbo").sandbox.credentials(app.state.sandbox, REALM)
    info = connect_sandbox(
        app.state.databases,
        app.state.cipher,
        provider="qbo",
        tenant=REALM,
        server_url=live_server.url,
    )
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        realm = QboRealm(http, REALM, issued["access_token"])
        realm.configure(requests_per_minute=None, max_concurrent=None)
        yield SyncSetup(app, live_server, realm, info.id)


@pytest.fixture
async def env(app: FastAPI) -> AsyncIterator[SyncEnvironment]:
    async with sync_environment(app, page_size=50) as environment:
        yield environment


@pytest.fixture
def app_client(app: FastAPI) -> Iterator[TestClient]:
    """The unified API in-process (its lifespan gives it the sync service)."""
    with TestClient(app, headers={"Authorization": "Bearer lb_test_key"}) as test_client:
        yield test_client
