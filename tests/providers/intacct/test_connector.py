"""The Intacct connector reading a sandbox company over real loopback HTTP: full runs,
incrementals, reconciliation of hard deletes, edits during a run, a crowded second.
`Mirror` applies pages exactly as the sync engine does, so what it holds is what a user
would see. Killed runs and injected faults are in the connector contract suite
(tests/providers/contract/)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from conftest import LiveServer
from ledgerbridge.connections import create_connection
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.providers.base import ConnectorSettings, CustomerPage, RetryPolicy
from ledgerbridge.providers.intacct import mapper
from ledgerbridge.providers.intacct.connector import IntacctConnector
from ledgerbridge.providers.intacct.sandbox import MOUNT_PATH, provider, store
from ledgerbridge.providers.intacct.sandbox.tables import customers
from ledgerbridge.sandbox.tenants import update_tenant
from ledgerbridge.sync.credentials import DatabaseCredentials
from providers.key_lists import listed_ids

TENANT = "ACME"
# Fast retries, so injected faults cost milliseconds.
FAST_RETRY = RetryPolicy(attempts=10, base_delay=0.001, max_delay=0.01, max_throttle_wait=0.05)


@dataclass
class Company:
    """A seeded sandbox company, the ledgerbridge connection to it, and direct access to
    its data (edits made "on Intacct", and the truth to compare a sync with)."""

    app: FastAPI
    server: LiveServer
    connection_id: str

    @property
    def base_url(self) -> str:
        return self.server.url + MOUNT_PATH

    def credentials(self) -> DatabaseCredentials:
        return DatabaseCredentials(
            self.app.state.databases.main, self.app.state.cipher, self.connection_id
        )

    def connector(self, http: httpx.AsyncClient, **options: Any) -> IntacctConnector:
        extra = options.pop("extra", {})
        settings = ConnectorSettings(
            page_size=options.pop("page_size", 25),
            lag_seconds=options.pop("lag_seconds", 5),
            retry=FAST_RETRY,
            extra=extra,
        )
        return IntacctConnector(
            base_url=self.base_url,
            credentials=self.credentials(),
            http=http,
            settings=settings,
            **options,
        )

    def knobs(self, **changes: Any) -> None:
        """Turn the company's sandbox knobs (faults, limits, token lifetime)."""
        with write_transaction(self.app.state.sandbox.engine) as connection:
            update_tenant(connection, "intacct", TENANT, changes)

    def edit(self, key: str, body: dict[str, Any]) -> None:
        """PATCH a customer on "Intacct" (straight into the sandbox)."""
        context = self.app.state.sandbox
        with write_transaction(context.engine) as connection:
            store.update_customer(
                connection, TENANT, int(key), body, now=context.clock(), user="someone"
            )

    def add(self, body: dict[str, Any]) -> str:
        context = self.app.state.sandbox
        with write_transaction(context.engine) as connection:
            created = store.create_customer(
                connection, TENANT, body, now=context.clock(), user="someone"
            )
        return created["key"]

    def delete(self, key: str) -> None:
        with write_transaction(self.app.state.sandbox.engine) as connection:
            store.delete_customer(connection, TENANT, int(key))

    def truth(self) -> dict[str, tuple[dict[str, Any], bool]]:
        """Every customer as `GET .../customer/{key}` shows it: unified payload, deleted."""
        with read_transaction(self.app.state.sandbox.engine) as connection:
            keys = connection.execute(
                sa.select(customers.c.key).where(customers.c.tenant_id == TENANT)
            ).scalars()
            found = [store.get_customer(connection, TENANT, key) for key in keys]
        return {
            native["key"]: (
                mapper.to_unified(native).to_payload(),
                native["status"] == "inactive",
            )
            for native in found
        }

    def changed_lately(self, lag_seconds: float = 5) -> set[str]:
        """The customers a full run beginning now reads twice: in key order, and again in
        the change read that follows it, which begins `lag_seconds` before the newest
        change (to the second, as Intacct prints times)."""
        with read_transaction(self.app.state.sandbox.engine) as connection:
            rows = connection.execute(
                sa.select(customers.c.key, customers.c.audit_modified_date_time).where(
                    customers.c.tenant_id == TENANT
                )
            )
            modified = {str(key): moment.replace(microsecond=0) for key, moment in rows}
        start = max(modified.values()) - timedelta(seconds=lag_seconds)
        return {key for key, moment in modified.items() if moment >= start}

    def deletable_key(self, exclude: Collection[str] = ()) -> str:
        """An active customer Intacct lets one delete: no balance, no children."""
        with read_transaction(self.app.state.sandbox.engine) as connection:
            parents = set(
                connection.execute(
                    sa.select(customers.c.parent_key).where(customers.c.parent_key.is_not(None))
                ).scalars()
            )
            rows = connection.execute(
                sa.select(customers.c.key)
                .where(
                    customers.c.tenant_id == TENANT,
                    customers.c.total_due == 0,
                    customers.c.status == "active",
                )
                .order_by(customers.c.key)
            ).scalars()
            return next(str(key) for key in rows if key not in parents and str(key) not in exclude)

    def key_with_status(self, status: str) -> str:
        with read_transaction(self.app.state.sandbox.engine) as connection:
            return str(
                connection.execute(
                    sa.select(sa.func.min(customers.c.key)).where(
                        customers.c.tenant_id == TENANT, customers.c.status == status
                    )
                ).scalar_one()
            )

    def set_clock(self, clock: Callable[[], datetime]) -> None:
        self.app.state.sandbox.clock = clock


def reads_by_count(mirror: Mirror) -> dict[int, set[str]]:
    """The customers a run read, by how many times it read each."""
    found: dict[int, set[str]] = {}
    for key, count in mirror.reads.items():
        found.setdefault(count, set()).add(key)
    return found


def make_company(app: FastAPI, server: LiveServer, count: int) -> Company:
    context = app.state.sandbox
    provider.seed(context, TENANT, count, seed=11)
    issued = provider.credentials(context, TENANT)
    credentials = {
        name: issued[name]
        for name in ("client_id", "client_secret", "username", "access_token", "refresh_token")
    }
    with write_transaction(app.state.databases.main) as connection:
        info = create_connection(
            connection,
            app.state.cipher,
            provider="intacct",
            base_url=server.url + MOUNT_PATH,
            credentials=credentials,
            sync_frequency_s=3600,
            now=utcnow(),
        )
    return Company(app, server, info.id)


@pytest.fixture
def company(app: FastAPI, live_server: LiveServer) -> Iterator[Company]:
    """A company of 200 customers (about a sixth of them children, some inactive)."""
    seeded = make_company(app, live_server, 200)
    clock = app.state.sandbox.clock
    yield seeded
    app.state.sandbox.clock = clock


@dataclass
class Mirror:
    """The records a sync keeps, built the way the engine builds them from pages."""

    records: dict[str, tuple[dict[str, Any], bool]] = field(default_factory=dict)
    reads: Counter[str] = field(default_factory=Counter)
    checkpoint: dict[str, Any] | None = None
    staged: list[str] = field(default_factory=list)

    def apply(self, connector: IntacctConnector, page: CustomerPage) -> None:
        for record in page.records:
            self.records[record.external_id] = (record.payload, record.deleted)
            self.reads[record.external_id] += 1
        for key in page.deleted_ids:
            self.records[key] = (self.records[key][0], True)
        if (part := page.key_list) is not None:
            self.staged = [*([] if part.first else self.staged), *part.ids]
            if part.last:
                for key, (payload, deleted) in list(self.records.items()):
                    if not deleted and key not in self.staged:
                        self.records[key] = (payload, True)
        if page.checkpoint is not None:
            self.checkpoint = page.checkpoint

    async def sync(self, connector: IntacctConnector, *, full: bool = False) -> list[CustomerPage]:
        """One run: every page applied; the pages returned."""
        self.reads.clear()
        pages = [page async for page in connector.pages(None if full else self.checkpoint)]
        for page in pages:
            self.apply(connector, page)
        return pages

    def changed_since(self, before: dict[str, tuple[dict[str, Any], bool]]) -> set[str]:
        return {key for key, record in self.records.items() if before.get(key) != record}


@pytest.mark.anyio
async def test_a_full_run_reads_every_customer_once_in_key_order_then_the_newest_again(
    company: Company,
) -> None:
    again = company.changed_lately(lag_seconds=5)
    async with httpx.AsyncClient() as http:
        connector = company.connector(http, page_size=25, lag_seconds=5)
        mirror = Mirror()
        pages = await mirror.sync(connector, full=True)

    truth = company.truth()
    assert len(truth) == 200
    assert mirror.records == truth  # same payloads from query rows as from GETs
    # Every customer in key order, 25 a page; then the change read that follows reads
    # again exactly those changed since `lag` before the newest change.
    read_order = [int(record.external_id) for page in pages[:8] for record in page.records]
    assert read_order == sorted(int(key) for key in truth)
    assert all(page.checkpoint["by_key"] is not None for page in pages[:7])
    assert 0 < len(again) < 200
    assert reads_by_count(mirror) == {1: set(truth) - again, 2: again}
    assert len(pages) >= 9  # 200 / 25 key-order pages, then the reconciliation page
    assert pages[0].total == 200
    # Mid-run checkpoints say a full run is under way; the last one is a finished run.
    # (Parts of the key list before its last leave the stored checkpoint as it is.)
    midway = [page.checkpoint for page in pages[:-1]]
    assert all(c is None or (c["full"] and c["running"]) for c in midway)
    last = pages[-1]
    assert listed_ids(pages) == frozenset(truth)
    assert last.checkpoint["running"] is False
    assert last.checkpoint["full"] is False
    assert last.checkpoint["runs"] == 0
    # Inactive customers are deleted in the unified model; activeNonPosting ones are not.
    assert any(deleted for _, deleted in mirror.records.values())
    nonposting = company.key_with_status("activeNonPosting")
    assert mirror.records[nonposting][1] is False


@pytest.mark.anyio
async def test_with_no_page_size_set_the_read_in_key_order_is_sized_to_the_round_trip(
    app: FastAPI, live_server: LiveServer
) -> None:
    """`paging.sized_pages`: over loopback, 3,000 customers come in pages of fewer than
    3,000, so the sync's last page to store after the read is short; 150 ms away, in one
    page of 3,000, the fewest round trips. (A cold first request, a connection to open and
    a token to grant, reads as a long round trip and keeps the largest pages: the
    connection is warmed first, as a worker's is. A loaded machine can stretch a loopback
    round trip past the 75 ms at which 3,000 customers take one page, seen once with a
    profiler slowing the whole suite: the near read is tried up to three times.)"""
    company = make_company(app, live_server, 3000)

    async def first_page(connector: IntacctConnector) -> list[str]:
        stream = connector.pages(None)
        page = await anext(stream)
        await stream.aclose()
        return [record.external_id for record in page.records]

    async with httpx.AsyncClient() as http:
        await company.connector(http).get(company.key_with_status("active"))
        near = await first_page(company.connector(http, page_size=None))
        for _ in range(2):
            if len(near) < 3000:
                break
            near = await first_page(company.connector(http, page_size=None))
        company.knobs(latency_ms=150)
        far = await first_page(company.connector(http, page_size=None))
    assert 1000 <= len(near) < 3000
    assert len(set(far)) == 3000  # every customer
    assert near == far[: len(near)]  # the same read in key order


@pytest.mark.anyio
async def test_incrementals_read_the_changes_and_reconciliation_finds_hard_deletes(
    company: Company,
) -> None:
    async with httpx.AsyncClient() as http:

        def connector() -> IntacctConnector:
            return company.connector(http, page_size=10, extra={"reconcile_every": 3})

        mirror = Mirror()
        await mirror.sync(connector(), full=True)
        before = dict(mirror.records)

        edited = company.key_with_status("active")
        company.edit(edited, {"notes": "Called about the invoice", "creditLimit": 2500.5})
        deactivated = company.deletable_key(exclude={edited})
        company.edit(deactivated, {"status": "inactive"})
        reactivated = company.key_with_status("inactive")
        company.edit(reactivated, {"status": "active"})
        child = company.add({"name": "Acme (Reno)", "parent": {"key": edited}})
        removed = company.deletable_key(exclude={edited, deactivated, reactivated})
        company.delete(removed)

        # Incremental 1: exactly the edits; the hard delete is not seen yet.
        pages = await mirror.sync(connector())
        assert mirror.changed_since(before) == {edited, deactivated, reactivated, child}
        assert mirror.records[deactivated][1] is True
        assert mirror.records[reactivated][1] is False
        assert mirror.records[edited][0]["credit_limit_cents"] == 250_050
        assert mirror.records[child][0]["parent_id"] == edited
        assert mirror.records[removed][1] is False
        assert all(page.key_list is None for page in pages)
        assert mirror.checkpoint is not None
        assert mirror.checkpoint["runs"] == 1

        # Incremental 2 finds nothing new: every page before the last keeps the checkpoint
        # it was given, and the last only counts the run.
        given = mirror.checkpoint
        after_first = dict(mirror.records)
        pages = await mirror.sync(connector())
        assert mirror.records == after_first
        assert all(page.checkpoint == given for page in pages[:-1])
        assert pages[-1].checkpoint == {**given, "runs": 2}
        assert all(page.key_list is None for page in pages)

        # Incremental 3 reconciles: the hard delete is found, and the count starts again.
        pages = await mirror.sync(connector())
        listed = listed_ids(pages)
        assert listed is not None
        assert removed not in listed
        assert mirror.changed_since(after_first) == {removed}
        assert mirror.checkpoint is not None
        assert mirror.checkpoint["runs"] == 0

    truth = company.truth()
    assert {key: record for key, record in mirror.records.items() if key != removed} == truth
    assert mirror.records[removed][1] is True


@pytest.mark.anyio
async def test_customers_edited_during_a_run_shift_nothing_out_of_it(company: Company) -> None:
    again = company.changed_lately()
    async with httpx.AsyncClient() as http:
        connector = company.connector(http, page_size=20)
        mirror = Mirror()
        stream = connector.pages(None)
        first = await anext(stream)
        mirror.apply(connector, first)
        # Edit a customer already read and one not read yet: the read in key order reads
        # the second with its edit, and the change read that follows it reads both again.
        read_key = first.customers[0]["key"]
        unread = next(key for key in company.truth() if key not in mirror.reads)
        company.edit(read_key, {"notes": "edited during the run"})
        company.edit(unread, {"notes": "edited during the run too"})
        async for page in stream:
            mirror.apply(connector, page)

    assert mirror.records == company.truth()
    twice = again | {read_key, unread}
    assert reads_by_count(mirror) == {1: set(company.truth()) - twice, 2: twice}


@pytest.mark.anyio
async def test_a_full_run_resumed_inside_its_read_in_key_order_misses_no_edit(
    company: Company,
) -> None:
    again = company.changed_lately()
    async with httpx.AsyncClient() as http:
        mirror = Mirror()
        stream = company.connector(http, page_size=20).pages(None)
        for _ in range(2):
            mirror.apply(company.connector(http), await anext(stream))
        await stream.aclose()  # the run dies after its second page
        assert mirror.checkpoint is not None
        assert mirror.checkpoint["by_key"] == max(mirror.reads, key=int)
        read = set(mirror.reads)
        edited = min(read, key=int)
        company.edit(edited, {"notes": "edited while no run was reading"})

        await mirror.sync(company.connector(http, page_size=20))  # resumes at `by_key`

    truth = company.truth()
    assert mirror.records == truth
    # Resumed after the last key read: of the first pages, only what changed is read again.
    assert set(mirror.reads) & read == (again | {edited}) & read
    assert mirror.checkpoint is not None
    assert (mirror.checkpoint["running"], mirror.checkpoint["by_key"]) == (False, None)


@pytest.mark.anyio
async def test_a_second_crowded_with_changes_is_read_by_key(company: Company) -> None:
    # A bulk update stamps many customers with the same second (here: one instant).
    moment = utcnow().replace(microsecond=0) + timedelta(seconds=2)
    company.set_clock(lambda: moment)
    crowd = sorted(company.truth(), key=int)[:60]
    for key in crowd:
        company.edit(key, {"notes": "bulk update"})

    again = company.changed_lately()
    assert set(crowd) <= again
    async with httpx.AsyncClient() as http:
        # Query pages of at most 20 rows: in the change read that follows the read in key
        # order, the boundary second's 60 rows cannot be skipped by re-reading them, so
        # that second is paged by key.
        connector = company.connector(http, page_size=8, max_query_size=20)
        mirror = Mirror()
        pages = await mirror.sync(connector, full=True)

    truth = company.truth()
    assert mirror.records == truth
    assert reads_by_count(mirror) == {1: set(truth) - again, 2: again}
    assert any(page.checkpoint.get("after") for page in pages)
    assert listed_ids(pages) == frozenset(company.truth())
