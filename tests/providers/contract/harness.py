"""What the connector contract suite needs from a platform, and the parts every platform's
harness shares.

A harness is one sandbox tenant served over real loopback HTTP, seen from two sides: as
the platform's own users and clients see it (its HTTP API: list, create, rename,
deactivate, delete; its admin API: limits, faults, latency) and as ledgerbridge sees it
(connections made the way `ledgerbridge connect` makes them, the record store). The
suite drives syncs only through the engine's public entry points; the few direct
connector calls (write-back refusals) live in the platform harnesses, so a change in
the connector's shape is one edit per platform.

A platform subclasses `SandboxHarness`, implements the platform side, and is added to
`platforms.HARNESSES`: the whole suite then runs for it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import httpx
from fastapi import FastAPI

from conftest import LiveServer
from ledgerbridge.connect import connect_sandbox
from ledgerbridge.connections import get_connection
from ledgerbridge.db import read_transaction
from ledgerbridge.providers.base import Connector, ConnectorSettings
from ledgerbridge.providers.registry import get_platform
from ledgerbridge.sandbox.base import SandboxContext
from ledgerbridge.sandbox.limits import Gate
from ledgerbridge.sync.credentials import DatabaseCredentials
from ledgerbridge.unified.customer import MODEL_NAME
from ledgerbridge.unified.records import StoredRecord, list_records


@dataclass(frozen=True)
class Listed:
    """A customer as the platform's own API lists it: the facts every platform shares."""

    name: str
    active: bool


class Harness(Protocol):
    """One platform's sandbox tenant, as the contract suite drives it."""

    provider: str
    """The registry name (`qbo`, `qbd`, `intacct`)."""
    page_size: int
    """Rows per request: small, so a small company takes several pages."""
    settings: Mapping[str, Any]
    """Further `ConnectorSettings` fields the platform's runs need (e.g. Intacct's
    reconciliation on every incremental, so a hard delete is found by the next run)."""
    resumes_mid_pass: bool
    """True when a killed full run continues after its last saved page; False when the
    platform's listing cannot be resumed (Conductor's cursors die after 10 s and it sorts
    by name only), so the pass starts over and the pages already saved come back
    unchanged, costing no writes."""
    stale_writes_conflict: bool
    """True when the platform refuses a write carrying an outdated version (QuickBooks'
    SyncToken, Conductor's revisionNumber); False when it has none and a write changes
    only the fields it names (Intacct), so an edit made meanwhile survives either way."""

    # --- The platform, as its users and other clients see it ---------------------------

    def seed(self, customers: int) -> None:
        """Add `customers` realistic customers (sub-customers and inactive ones included)."""
        ...

    def listing(self) -> dict[str, Listed]:
        """Every customer the platform has, active or not, from its own API."""
        ...

    def create(self, name: str) -> str:
        """Create an active customer; its id."""
        ...

    def rename(self, customer_id: str, name: str) -> None: ...

    def set_active(self, customer_id: str, active: bool) -> None: ...

    def delete(self, customer_id: str) -> None:
        """Delete outright, the way the platform allows (QuickBooks Online has no delete:
        its deactivation is the delete)."""
        ...

    def remove(self, customer_id: str) -> None:
        """Make a customer (one without sub-customers) vanish from every listing, so that
        only a key list can tell: deleted outright where the platform can, merged into a
        new customer on QuickBooks Online (which deletes the merged-away one)."""
        ...

    def configure(self, **knobs: Any) -> None:
        """Turn the tenant's sandbox knobs through the admin API (limits, faults, latency)."""
        ...

    def reseed_faults(self, seed: int) -> None:
        """Make injected faults repeat: the same seed, the same failing requests."""
        ...

    # --- ledgerbridge's side ------------------------------------------------------------

    def connect(self) -> str:
        """A new connection to the tenant (as `ledgerbridge connect` makes it); its id."""
        ...

    def records(self, connection_id: str) -> dict[str, StoredRecord]:
        """The record store's customers of the connection, by provider id."""
        ...

    def connector(
        self, http: httpx.AsyncClient, connection_id: str, settings: ConnectorSettings
    ) -> Connector:
        """The connection's connector, built through the registry as the engine builds it."""
        ...

    # --- Write-back through the connector ------------------------------------------------

    async def write_new(self, connector: Connector, name: str) -> str:
        """Create a customer through the connector; its id."""
        ...

    async def write_refused(self, connector: Connector, taken: str) -> None:
        """A create the platform refuses on its data: reusing the name `taken` (a
        customer already has it) where names are unique, else another business rule."""
        ...

    async def write_stale(self, connector: Connector, customer_id: str) -> None:
        """Read the customer, let someone else rename it on the platform, then change its
        notes through the connector with the version read first."""
        ...

    async def write_missing(self, connector: Connector) -> None:
        """Change a customer that does not exist."""
        ...


@dataclass
class SandboxHarness:
    """What every platform's harness shares: the tenant, the server it is served on, a
    client of that server, and ledgerbridge's side (connections, records, connectors)."""

    provider: ClassVar[str]
    tenant: ClassVar[str]
    page_size: ClassVar[int] = 10
    settings: ClassVar[Mapping[str, Any]] = {}
    resumes_mid_pass: ClassVar[bool] = True
    stale_writes_conflict: ClassVar[bool] = True

    app: FastAPI
    server: LiveServer
    http: httpx.Client

    @property
    def sandbox(self) -> SandboxContext:
        context: SandboxContext = self.app.state.sandbox
        return context

    @property
    def mount(self) -> str:
        return get_platform(self.provider).sandbox.mount_path

    def remove(self, customer_id: str) -> None:
        self.delete(customer_id)

    def seed(self, customers: int) -> None:
        get_platform(self.provider).sandbox.seed(self.sandbox, self.tenant, customers, 7)

    def configure(self, **knobs: Any) -> None:
        response = self.http.patch(f"{self.mount}/_admin/tenants/{self.tenant}", json=knobs)
        assert response.status_code == 200, response.text

    def reseed_faults(self, seed: int) -> None:
        self.sandbox.gate = Gate(random.Random(seed))

    def connect(self) -> str:
        return connect_sandbox(
            self.app.state.databases,
            self.app.state.cipher,
            provider=self.provider,
            tenant=self.tenant,
            server_url=self.server.url,
        ).id

    def records(self, connection_id: str) -> dict[str, StoredRecord]:
        with read_transaction(self.app.state.databases.main) as conn:
            page, _ = list_records(
                conn, connection_id=connection_id, model=MODEL_NAME, limit=1_000_000
            )
        return {record.external_id: record for record in page}

    def connector(
        self, http: httpx.AsyncClient, connection_id: str, settings: ConnectorSettings
    ) -> Connector:
        engine = self.app.state.databases.main
        with read_transaction(engine) as conn:
            info = get_connection(conn, connection_id)
        return get_platform(self.provider).connector(
            base_url=info.base_url,
            credentials=DatabaseCredentials(engine, self.app.state.cipher, connection_id),
            http=http,
            settings=settings,
        )

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request to the platform's API under the mount; the JSON answer (None if
        empty). Anything but success fails the test with the platform's own words."""
        response = self.http.request(method, self.mount + path, **kwargs)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None
