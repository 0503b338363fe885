"""The QuickBooks Desktop connector reading a seeded Conductor sandbox over real loopback
HTTP: every page once, incremental passes, deletes, faults, lost cursors, resumed runs.

`Company` is the shared set-up of the connector tests (a seeded end user, a stored
connection whose credentials the connector reads from the database)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from ledgerbridge.connections import create_connection, get_connection
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.providers.base import (
    AuthError,
    ConnectorSettings,
    CustomerPage,
    RetriableError,
    RetryPolicy,
    ThrottledError,
)
from ledgerbridge.providers.qbd import wire
from ledgerbridge.providers.qbd.connector import QbdConnector
from ledgerbridge.providers.qbd.sandbox import provider
from ledgerbridge.sync.credentials import DatabaseCredentials
from ledgerbridge.unified.customer import iso_utc
from providers.key_lists import listed_ids

END_USER = "end_usr_connector"
MOUNT = "/sandbox/conductor/v1"
FAST = RetryPolicy(attempts=8, base_delay=0.001, max_delay=0.01, max_throttle_wait=0.01)


@dataclass
class Company:
    """A seeded company file behind a live server, and a connection to it."""

    app: FastAPI
    url: str
    connection_id: str
    secret_key: str
    end_user_id: str = END_USER

    @property
    def base_url(self) -> str:
        return self.url + MOUNT

    def connector(self, http: httpx.AsyncClient, **settings: Any) -> QbdConnector:
        options: dict[str, Any] = {"page_size": 7, "retry": FAST, "lag_seconds": 60}
        options["requests_per_minute"] = 100_000
        options.update(settings)
        state = self.app.state
        credentials = DatabaseCredentials(state.databases.main, state.cipher, self.connection_id)
        return QbdConnector(
            base_url=self.base_url,
            credentials=credentials,
            http=http,
            settings=ConnectorSettings(**options),
        )

    def sandbox(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A call to the sandbox as another Conductor client (or its admin API) would make."""
        headers = {
            "Authorization": f"Bearer {self.secret_key}",
            "Conductor-End-User-Id": self.end_user_id,
        }
        return httpx.request(method, self.base_url + path, headers=headers, timeout=30, **kwargs)

    def configure(self, **changes: Any) -> None:
        response = self.sandbox("PATCH", f"/_admin/tenants/{self.end_user_id}", json=changes)
        assert response.status_code == 200, response.text

    def all_customers(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"status": "all"}
        while True:
            body = self.sandbox("GET", "/quickbooks-desktop/customers", params=params).json()
            found += body["data"]
            if body["nextCursor"] is None:
                return found
            params = {"status": "all", "cursor": body["nextCursor"]}

    def edit(self, customer: dict[str, Any], **changes: Any) -> dict[str, Any]:
        body = {"revisionNumber": customer["revisionNumber"], **changes}
        response = self.sandbox(
            "POST", f"/quickbooks-desktop/customers/{customer['id']}", json=body
        )
        assert response.status_code == 200, response.text
        edited: dict[str, Any] = response.json()
        return edited

    def delete_outright(self, customer_id: str) -> None:
        response = self.sandbox(
            "DELETE", f"/_admin/tenants/{self.end_user_id}/customers/{customer_id}"
        )
        assert response.status_code == 204, response.text

    def connection_status(self) -> str:
        with read_transaction(self.app.state.databases.main) as conn:
            return get_connection(conn, self.connection_id).status


def open_company(
    app: FastAPI, url: str, customers: int, *, seed: int = 7, secret_key: str | None = None
) -> Company:
    """Seed the end user with `customers` and store a `qbd` connection to it."""
    context = app.state.sandbox
    provider.seed(context, END_USER, customers, seed=seed)
    key = provider.credentials(context, END_USER)["CONDUCTOR_SECRET_KEY"]
    with write_transaction(app.state.databases.main) as conn:
        info = create_connection(
            conn,
            app.state.cipher,
            provider="qbd",
            base_url=url + MOUNT,
            credentials={"api_key": secret_key or key, "end_user_id": END_USER},
            sync_frequency_s=3600,
            now=utcnow(),
        )
    return Company(app, url, info.id, key)


async def collect(
    pages: AsyncIterator[CustomerPage], stop_after: int | None = None
) -> list[CustomerPage]:
    found = []
    async for page in pages:
        found.append(page)
        if stop_after is not None and len(found) == stop_after:
            await pages.aclose()  # type: ignore[attr-defined]
            break
    return found


def ids(pages: list[CustomerPage]) -> list[str]:
    return [customer["id"] for page in pages for customer in page.customers]


def leaf_of(customers: list[dict[str, Any]]) -> dict[str, Any]:
    parents = {c["parent"]["id"] for c in customers if c["parent"]}
    return next(c for c in customers if c["id"] not in parents and c["isActive"])


@pytest.fixture
def company(app: FastAPI, live_server: Any) -> Company:
    return open_company(app, live_server.url, 150)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.mark.anyio
async def test_a_full_pass_reads_every_customer_once(
    company: Company, http: httpx.AsyncClient
) -> None:
    pages = await collect(company.connector(http).pages(None))
    every = company.all_customers()
    assert len(pages) == -(-len(every) // 7) > 20  # one page per request
    assert sorted(ids(pages)) == sorted(c["id"] for c in every)
    assert {p.total for p in pages} == {len(every)}
    # A killed run resumes as full until the pass is done; then the window moves on.
    assert all(p.checkpoint == {"full": True} for p in pages[:-1])
    last = pages[-1]
    newest = max(wire.parse_time(c["updatedAt"]) for c in every)
    assert "full" not in last.checkpoint
    assert last.checkpoint["updated_after"] == iso_utc(newest - timedelta(seconds=60))
    assert listed_ids(pages) == frozenset(c["id"] for c in every)
    assert last.key_list is not None
    assert last.key_list.last
    assert last.deleted_ids == []
    # Inactive customers are read too, and read as deleted.
    deleted = {r.external_id: r.deleted for page in pages for r in page.records}
    inactive = [c for c in every if not c["isActive"]]
    assert inactive
    assert all(deleted[c["id"]] for c in inactive)


@pytest.mark.anyio
async def test_nothing_changed_yields_nothing(company: Company, http: httpx.AsyncClient) -> None:
    full = await collect(company.connector(http).pages(None))
    checkpoint = full[-1].checkpoint
    assert await collect(company.connector(http).pages(checkpoint)) == []
    # The lag window is read again, but what it holds was delivered already.
    assert checkpoint["boundary"]


@pytest.mark.anyio
async def test_an_incremental_pass_yields_exactly_the_changes(
    company: Company, http: httpx.AsyncClient
) -> None:
    checkpoint = (await collect(company.connector(http).pages(None)))[-1].checkpoint
    every = company.all_customers()
    active = [c for c in every if c["isActive"]]
    renamed = company.edit(active[3], companyName="Renamed Ltd")
    retired = company.edit(active[40], isActive=False)
    revived = company.edit(next(c for c in every if not c["isActive"]), isActive=True)
    created = company.sandbox(
        "POST",
        "/quickbooks-desktop/customers",
        json={"name": "Zeta Job", "parentId": active[5]["id"]},
    ).json()
    gone = leaf_of([c for c in every if c["id"] not in {active[3]["id"], active[40]["id"]}])
    company.delete_outright(gone["id"])

    pages = await collect(company.connector(http).pages(checkpoint))
    changed = {c["id"]: c for page in pages for c in page.customers}
    assert set(changed) == {renamed["id"], retired["id"], revived["id"], created["id"]}
    deleted = {r.external_id: r.deleted for page in pages for r in page.records}
    assert deleted[retired["id"]]
    assert not deleted[revived["id"]]
    assert changed[renamed["id"]]["companyName"] == "Renamed Ltd"
    assert pages[-1].deleted_ids == [gone["id"]]
    assert all(p.key_list is None for p in pages)
    assert all(p.checkpoint == checkpoint for p in pages[:-1])
    later = pages[-1].checkpoint
    assert later["updated_after"] >= checkpoint["updated_after"]  # never backwards
    # Nothing more: neither the edits nor the deletion come back.
    assert await collect(company.connector(http).pages(later)) == []


@pytest.mark.anyio
async def test_a_killed_run_resumes_and_loses_nothing(
    company: Company, http: httpx.AsyncClient
) -> None:
    first = await collect(company.connector(http).pages(None), stop_after=3)
    resumed = await collect(company.connector(http).pages(first[-1].checkpoint))
    assert first[-1].checkpoint == {"full": True}
    assert sorted(ids(resumed)) == sorted(c["id"] for c in company.all_customers())
    assert listed_ids(resumed) == frozenset(c["id"] for c in company.all_customers())

    checkpoint = resumed[-1].checkpoint
    active = [c for c in company.all_customers() if c["isActive"]]
    edited = [company.edit(c, note="edited")["id"] for c in active[::10]]
    part = await collect(company.connector(http, page_size=2).pages(checkpoint), stop_after=1)
    assert part[0].checkpoint == checkpoint  # the window stays until the pass is done
    rest = await collect(company.connector(http, page_size=2).pages(part[0].checkpoint))
    assert set(ids(rest)) == set(edited)
    assert rest[-1].checkpoint != checkpoint


@pytest.mark.anyio
async def test_faults_change_nothing_in_the_result(
    company: Company, http: httpx.AsyncClient
) -> None:
    clean = await collect(company.connector(http).pages(None))
    # The desktop offline (QBD_CONNECTION_ERROR 502) and Conductor's own 500s and 503s.
    company.configure(error_rate=0.35, error_statuses=[502, 500, 503])
    faulty = await collect(company.connector(http, retry=RetryPolicy(30, 0.001, 0.005)).pages(None))
    assert [p.customers for p in faulty] == [p.customers for p in clean]
    assert [p.checkpoint["updated_after"] for p in faulty[-1:]] == [
        clean[-1].checkpoint["updated_after"]
    ]
    assert listed_ids(faulty) == listed_ids(clean) is not None


@pytest.mark.anyio
async def test_an_expired_cursor_starts_the_pass_again(
    company: Company, http: httpx.AsyncClient
) -> None:
    company.configure(extra={"cursor_lifetime_s": 1.0})
    pages: list[CustomerPage] = []
    async for page in company.connector(http).pages(None):
        pages.append(page)
        if len(pages) == 2:
            await asyncio.sleep(1.5)  # the engine took too long: the cursor dies
    every = {c["id"] for c in company.all_customers()}
    delivered = ids(pages)
    assert set(delivered) == every
    assert len(delivered) > len(every)  # the first pages came again, unchanged
    assert listed_ids(pages) == frozenset(every)  # the first attempt's list dropped


@pytest.mark.anyio
async def test_a_checkpoint_older_than_the_deleted_list_becomes_a_full_pass(
    company: Company, http: httpx.AsyncClient
) -> None:
    checkpoint = (await collect(company.connector(http).pages(None)))[-1].checkpoint
    stale = {**checkpoint, "checked_at": iso_utc(utcnow() - timedelta(days=95))}
    pages = await collect(company.connector(http).pages(stale))
    assert all(p.checkpoint == {"full": True} for p in pages[:-1])
    assert listed_ids(pages) == frozenset(c["id"] for c in company.all_customers())
    assert pages[-1].checkpoint["checked_at"] > stale["checked_at"]


@pytest.mark.anyio
async def test_a_refused_key_marks_the_connection(app: FastAPI, live_server: Any) -> None:
    company = open_company(app, live_server.url, 5, secret_key="sk_test_wrong_key_123")
    async with httpx.AsyncClient() as http:
        with pytest.raises(AuthError) as caught:
            await collect(company.connector(http).pages(None))
    assert caught.value.http_status == 401
    assert caught.value.code == "API_KEY_INVALID"
    assert company.connection_status() == "needs_reauth"


@pytest.mark.anyio
async def test_throttles_and_an_offline_desktop_surface_when_retries_run_out(
    company: Company, http: httpx.AsyncClient
) -> None:
    once = RetryPolicy(attempts=1)
    first_id = company.all_customers()[0]["id"]
    company.configure(requests_per_minute=1)
    connector = company.connector(http, retry=once)
    await connector.get(first_id)  # the minute's one request
    with pytest.raises(ThrottledError) as throttled:
        await connector.get("80000001-1")
    assert throttled.value.retry_after >= 1
    company.configure(requests_per_minute=None, error_rate=1.0, error_statuses=[502])
    with pytest.raises(RetriableError) as offline:
        await collect(connector.pages(None))
    assert (offline.value.http_status, offline.value.code) == (502, "QBD_CONNECTION_ERROR")
    assert company.connection_status() == "active"
