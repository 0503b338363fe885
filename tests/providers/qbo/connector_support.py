"""What the connector tests share: a ledgerbridge connection to a sandbox realm over
loopback HTTP, and an HTTP client that records what the connector sends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from conftest import LiveServer
from ledgerbridge.connections import ConnectionInfo, get_connection, read_credentials
from ledgerbridge.connections import write_credentials as store_credentials
from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.providers.base import ConnectorSettings, CustomerPage, RetryPolicy
from ledgerbridge.providers.qbo.connector import QboConnector
from ledgerbridge.providers.qbo.sandbox.tables import customers
from ledgerbridge.providers.registry import get_platform
from ledgerbridge.sandbox.base import SandboxContext
from ledgerbridge.sync.credentials import DatabaseCredentials

T = TypeVar("T")

# Retries that wait milliseconds, not Intuit's 60 s, so fault tests stay quick.
FAST_RETRY = RetryPolicy(attempts=25, base_delay=0.005, max_delay=0.05, max_throttle_wait=0.05)


@dataclass
class Recorder:
    """Event hooks for an `httpx.AsyncClient`: every request sent, every status received,
    and the most requests that were in flight at once."""

    requests: list[httpx.Request] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0

    async def _sent(self, request: httpx.Request) -> None:
        self.requests.append(request)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)

    async def _received(self, response: httpx.Response) -> None:
        self.in_flight -= 1
        self.statuses.append(response.status_code)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=30, event_hooks={"request": [self._sent], "response": [self._received]}
        )

    def token_calls(self) -> int:
        return sum(r.url.path.endswith("/oauth2/v1/tokens/bearer") for r in self.requests)

    def api_calls(self) -> list[str]:
        """`query: <text>`, `cdc` or `<METHOD> <path tail>` for each API request."""
        calls = []
        for request in self.requests:
            path = request.url.path
            if "/v3/company/" not in path:
                continue
            params = parse_qs(urlsplit(str(request.url)).query)
            assert params["minorversion"] == ["75"]
            tail = path.split("/v3/company/", 1)[1].split("/", 1)[1]
            if tail == "query":
                calls.append(f"query: {params['query'][0]}")
            else:
                calls.append(tail if tail == "cdc" else f"{request.method} {tail}")
        return calls


@dataclass
class QboConnection:
    """A connection row in the main database pointing at a sandbox realm."""

    app: FastAPI
    server: LiveServer
    connection_id: str
    realm_id: str

    @property
    def base_url(self) -> str:
        return f"{self.server.url}/sandbox/qbo"

    @property
    def sandbox(self) -> SandboxContext:
        context: SandboxContext = self.app.state.sandbox
        return context

    def store(self) -> DatabaseCredentials:
        return DatabaseCredentials(
            self.app.state.databases.main, self.app.state.cipher, self.connection_id
        )

    def connector(
        self, http: httpx.AsyncClient, *, page_size: int | None = None, **extra: Any
    ) -> QboConnector:
        settings = ConnectorSettings(page_size=page_size, retry=FAST_RETRY, extra=extra)
        return QboConnector(
            base_url=self.base_url, credentials=self.store(), http=http, settings=settings
        )

    def credentials(self) -> dict[str, Any]:
        with read_transaction(self.app.state.databases.main) as connection:
            return read_credentials(connection, self.app.state.cipher, self.connection_id)

    def write_credentials(self, credentials: dict[str, Any]) -> None:
        with write_transaction(self.app.state.databases.main) as connection:
            store_credentials(connection, self.app.state.cipher, self.connection_id, credentials)

    def info(self) -> ConnectionInfo:
        with read_transaction(self.app.state.databases.main) as connection:
            return get_connection(connection, self.connection_id)

    def configure(self, **changes: Any) -> None:
        """Turn the realm's sandbox knobs (limits, faults, latency, token lifetime)."""
        response = httpx.patch(
            f"{self.base_url}/_admin/tenants/{self.realm_id}", json=changes, timeout=10
        )
        assert response.status_code == 200, response.text

    def seed(self, count: int, seed: int = 7) -> None:
        get_platform("qbo").sandbox.seed(self.sandbox, self.realm_id, count, seed)

    def sandbox_ids(self) -> list[str]:
        """Every customer id of the realm, active or not, in numeric order."""
        with read_transaction(self.sandbox.engine) as connection:
            ids = connection.execute(
                sa.select(customers.c.id)
                .where(customers.c.realm_id == self.realm_id)
                .order_by(customers.c.id)
            ).scalars()
            return [str(i) for i in ids]

    def set_updated(self, moments: dict[str, datetime]) -> None:
        """Move customers' LastUpdatedTime (as if they had been edited then)."""
        with write_transaction(self.sandbox.engine) as connection:
            for customer_id, moment in moments.items():
                connection.execute(
                    sa.update(customers)
                    .where(
                        customers.c.realm_id == self.realm_id, customers.c.id == int(customer_id)
                    )
                    .values(last_updated_time=moment)
                )


async def collect(connector: QboConnector, checkpoint: dict[str, Any] | None) -> list[CustomerPage]:
    return [page async for page in connector.pages(checkpoint)]


def ids_of(pages: list[CustomerPage]) -> list[str]:
    return [str(c["Id"]) for page in pages for c in page.customers]


def run(make: Callable[[httpx.AsyncClient], Coroutine[Any, Any, T]], recorder: Recorder) -> T:
    """Run `make(client)` on a new event loop with a recording client, closed afterwards."""

    async def main() -> T:
        async with recorder.client() as http:
            return await make(http)

    return asyncio.run(main())
