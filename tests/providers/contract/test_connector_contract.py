"""The connector contract, for every platform in `platforms.HARNESSES`, through the sync
engine over real loopback HTTP to the platform's sandbox: every customer stored exactly
once, and a run with nothing new changes nothing; a run killed after any page resumes
and ends as an uninterrupted run does; edits, deactivations and deletes between runs are
exactly the changes read; injected faults change nothing; every write error is
classified into the shared tree, and throttles and server errors on writes are retried."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from conftest import FAST_RETRY, LiveServer, read_customers, sync_environment
from ledgerbridge.providers.base import (
    ConflictError,
    ConnectorSettings,
    FatalError,
    ProviderValidationError,
    RetriableError,
    RetryPolicy,
    ThrottledError,
)
from ledgerbridge.sync.engine import SyncEnvironment, run_sync
from ledgerbridge.sync.runs import SyncRunInfo
from ledgerbridge.unified.cursor import encode_cursor
from ledgerbridge.unified.customer import MODEL_NAME
from ledgerbridge.unified.records import StoredRecord, WriteCounts
from providers.contract.harness import Harness, SandboxHarness
from providers.contract.platforms import HARNESSES
from providers.key_lists import staged_keys

pytestmark = pytest.mark.anyio

COMPANY = 25
"""Seeded customers: with the page size of 10, a full run reads several pages."""
API_HEADERS = {"Authorization": "Bearer lb_test_key"}
FAULTS: dict[str, Any] = {"error_rate": 0.3, "error_statuses": [429, 500, 502, 503]}
NO_FAULTS: dict[str, Any] = {"error_rate": 0.0, "latency_ms": 0}


@pytest.fixture(params=list(HARNESSES))
def harness(
    request: pytest.FixtureRequest, app: FastAPI, live_server: LiveServer
) -> Iterator[SandboxHarness]:
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        yield HARNESSES[request.param](app, live_server, http)


@pytest.fixture
async def env(app: FastAPI, harness: Harness) -> AsyncIterator[SyncEnvironment]:
    # Key lists in pages as small as the records', so a run is killed inside one too.
    async with sync_environment(
        app, page_size=harness.page_size, key_page_size=harness.page_size, **harness.settings
    ) as environment:
        yield environment


# --- What a user sees ------------------------------------------------------------------


def unified_api(harness: SandboxHarness, connection_id: str, **params: Any) -> list[dict[str, Any]]:
    """Every record `GET /customers` returns, following `next_cursor` to the end."""
    return read_customers(harness.http, connection_id, **params)


def last_run(harness: SandboxHarness, connection_id: str) -> dict[str, Any]:
    """The connection's latest run, as `GET /connections/{id}/syncs` shows it."""
    response = harness.http.get(f"/connections/{connection_id}/syncs", headers=API_HEADERS)
    assert response.status_code == 200, response.text
    latest: dict[str, Any] = max(response.json()["syncs"], key=lambda run: run["id"])
    return latest


def outcome(records: dict[str, StoredRecord]) -> dict[str, tuple[dict[str, Any], bool]]:
    """What a sync leaves behind, per customer: the unified payload and whether deleted."""
    return {key: (r.payload, r.deleted_at is not None) for key, r in records.items()}


def assert_mirrors_platform(harness: Harness, connection_id: str) -> None:
    """The record store holds the platform's own listing: each customer once, with its id,
    name and active state, deleted exactly when inactive; customers the platform no longer
    has are recorded as deleted."""
    listed, stored = harness.listing(), harness.records(connection_id)
    assert set(listed) <= set(stored), f"never stored: {sorted(set(listed) - set(stored))}"
    for customer_id, customer in listed.items():
        record = stored[customer_id]
        payload = record.payload
        assert (payload["id"], payload["display_name"], payload["active"]) == (
            customer_id,
            customer.name,
            customer.active,
        )
        assert (record.deleted_at is None) is customer.active, customer_id
    gone = set(stored) - set(listed)
    assert all(stored[key].deleted_at is not None for key in gone), gone


def counts(run: SyncRunInfo) -> tuple[int, int, int, int]:
    return run.added, run.updated, run.deleted, run.unchanged


def assert_succeeded(run: SyncRunInfo, kind: str) -> None:
    assert (run.status, run.kind, run.error) == ("succeeded", kind, None)


# --- Reading ---------------------------------------------------------------------------


async def test_a_full_run_stores_every_customer_once_and_a_run_after_it_nothing(
    harness: SandboxHarness, env: SyncEnvironment
) -> None:
    harness.seed(COMPANY)
    listed = harness.listing()
    inactive = sum(not customer.active for customer in listed.values())
    assert len(listed) >= COMPANY
    assert 0 < inactive < len(listed)  # the seed has both, or this proves less
    connection = harness.connect()

    run = await run_sync(env, connection)

    assert_succeeded(run, "full")
    assert (run.added, run.updated, run.deleted) == (len(listed) - inactive, 0, inactive)
    assert run.pages >= -(-len(listed) // harness.page_size)
    assert_mirrors_platform(harness, connection)
    seen = [record["id"] for record in unified_api(harness, connection, limit=7)]
    assert sorted(seen) == sorted(listed)  # each once, through the unified API too

    before = harness.records(connection)
    again = await run_sync(env, connection)

    assert_succeeded(again, "incremental")
    assert (again.added, again.updated, again.deleted) == (0, 0, 0)
    assert harness.records(connection) == before  # no record, no change sequence moved
    last_seq = max(record.change_seq for record in before.values())
    assert (
        unified_api(
            harness,
            connection,
            cursor=encode_cursor(last_seq, connection_id=connection, model=MODEL_NAME),
        )
        == []
    )


class RunKilled(BaseException):
    """The process dying under a run (like KeyboardInterrupt, not an error it handles)."""


class KillAfter:
    """Progress that kills the run the moment its `pages`-th page is committed. A crash
    anywhere before the next page commits leaves the same state: each page is saved with
    its checkpoint in one transaction."""

    def __init__(self, pages: int | None = None) -> None:
        self.pages = pages
        self.saved = 0
        self.records: list[int] = []
        """Records on each page saved."""

    def begin(self, run: SyncRunInfo) -> None:
        pass

    def advance(self, *, records: int, total: int | None, counts: WriteCounts) -> None:
        self.saved += 1
        self.records.append(records)
        if self.saved == self.pages:
            raise RunKilled(f"killed after page {self.pages}")


async def test_a_run_killed_after_any_page_resumes_to_the_same_records(
    harness: SandboxHarness, env: SyncEnvironment
) -> None:
    harness.seed(COMPANY)
    reference = harness.connect()
    pages = KillAfter()
    whole = await run_sync(env, reference, progress=pages)
    assert_succeeded(whole, "full")
    assert whole.pages >= 3
    expected = outcome(harness.records(reference))
    # Pages of records come first; a key list read on pages of its own follows them.
    reading = next((i for i, n in enumerate(pages.records) if not n), whole.pages)

    for k in range(1, whole.pages):
        print(f"killed after page {k}")  # shown with a failure
        connection = harness.connect()
        with pytest.raises(RunKilled):
            await run_sync(env, connection, progress=KillAfter(k))
        killed = last_run(harness, connection)
        assert (killed["status"], killed["pages"]) == ("failed", k)

        resumed = await run_sync(env, connection)

        assert_succeeded(resumed, "full")  # a full pass, resumed, is still full
        # Each customer is added once over both runs, and nothing is written twice.
        assert (killed["added"] + resumed.added, resumed.updated) == (whole.added, 0)
        assert killed["deleted"] + resumed.deleted == whole.deleted
        if harness.resumes_mid_pass:
            # Resumed after the last page saved; a key list cut short is read again whole.
            assert resumed.pages == whole.pages - min(k, reading)
        else:
            assert resumed.pages == whole.pages
            assert resumed.unchanged == killed["added"] + killed["deleted"]
        assert outcome(harness.records(connection)) == expected


class KillWhenStaged:
    """Progress that kills the run once a page has staged part of a key list."""

    def __init__(self, engine: Engine, connection_id: str) -> None:
        self.engine, self.connection_id = engine, connection_id
        self.staged: list[str] = []

    def begin(self, run: SyncRunInfo) -> None:
        pass

    def advance(self, *, records: int, total: int | None, counts: WriteCounts) -> None:
        self.staged = staged_keys(self.engine, self.connection_id)
        if self.staged:
            raise RunKilled("killed inside the key list")


async def test_a_key_list_cut_short_is_read_again_from_its_start(
    harness: SandboxHarness, env: SyncEnvironment
) -> None:
    """A full run killed inside its key list, then a customer it had listed removed
    outright: the resumed run lists every key again, so the removal is found (what the
    killed run staged says nothing of the platform now), and leaves nothing staged. (A key
    list judges only records stored before its pass began, so the pass is a second one.)"""
    harness.seed(COMPANY)
    connection = harness.connect()
    assert_succeeded(await run_sync(env, connection), "full")
    killer = KillWhenStaged(env.engine, connection)
    with pytest.raises(RunKilled):
        await run_sync(env, connection, full=True, progress=killer)
    parents = {r.payload.get("parent_id") for r in harness.records(connection).values()}
    removed = next(key for key in killer.staged if key not in parents)
    harness.remove(removed)

    resumed = await run_sync(env, connection)

    assert_succeeded(resumed, "full")
    assert harness.records(connection)[removed].deleted_at is not None
    assert_mirrors_platform(harness, connection)
    assert staged_keys(env.engine, connection) == []


async def test_changes_between_runs_are_exactly_the_changes_read(
    harness: SandboxHarness, env: SyncEnvironment
) -> None:
    harness.seed(COMPANY)
    renamed = harness.create("Contract Rename Ltd")
    deactivated = harness.create("Contract Deactivate Ltd")
    deleted = harness.create("Contract Delete Ltd")
    reactivated = harness.create("Contract Reactivate Ltd")
    harness.set_active(reactivated, False)
    connection = harness.connect()
    assert_succeeded(await run_sync(env, connection), "full")
    last_seq = max(record.change_seq for record in harness.records(connection).values())

    # On the platform, behind ledgerbridge's back.
    harness.rename(renamed, "Contract Renamed Holdings")
    harness.set_active(deactivated, False)
    harness.delete(deleted)
    harness.set_active(reactivated, True)
    created = harness.create("Contract New Co")

    second = await run_sync(env, connection)

    assert_succeeded(second, "incremental")
    assert (second.added, second.updated, second.deleted) == (2, 1, 2)
    changes = unified_api(
        harness,
        connection,
        cursor=encode_cursor(last_seq, connection_id=connection, model=MODEL_NAME),
    )
    actions = {record["id"]: record["_nango_metadata"]["last_action"] for record in changes}
    assert actions == {
        renamed: "UPDATED",
        deactivated: "DELETED",
        deleted: "DELETED",
        reactivated: "ADDED",
        created: "ADDED",
    }
    by_id = {record["id"]: record for record in changes}
    assert by_id[renamed]["display_name"] == "Contract Renamed Holdings"
    assert by_id[deactivated]["active"] is False
    assert by_id[created]["display_name"] == "Contract New Co"
    assert_mirrors_platform(harness, connection)

    third = await run_sync(env, connection)
    assert (third.status, third.added, third.updated, third.deleted) == ("succeeded", 0, 0, 0)


async def test_injected_faults_and_latency_change_nothing(
    harness: SandboxHarness, env: SyncEnvironment
) -> None:
    harness.seed(COMPANY)
    edited, dropped = harness.create("Contract Edit Ltd"), harness.create("Contract Drop Ltd")
    clean, faulty = harness.connect(), harness.connect()
    statuses: list[int] = []

    async def record_status(response: httpx.Response) -> None:
        statuses.append(response.status_code)

    env.http.event_hooks["response"].append(record_status)
    harness.reseed_faults(7)

    async def sync_both(kind: str) -> None:
        harness.configure(**FAULTS, latency_ms=2)
        under_fire = await run_sync(env, faulty)
        harness.configure(**NO_FAULTS)
        calm = await run_sync(env, clean)
        assert_succeeded(under_fire, kind)
        assert_succeeded(calm, kind)
        # The same writes: no page saved twice, none skipped, whatever was retried.
        assert counts(under_fire) == counts(calm)

    await sync_both("full")
    harness.rename(edited, "Contract Edited Ltd")
    harness.set_active(dropped, False)
    harness.create("Contract Added Ltd")
    await sync_both("incremental")

    assert outcome(harness.records(faulty)) == outcome(harness.records(clean))
    assert_mirrors_platform(harness, faulty)
    assert 429 in statuses, "no throttle was injected: the test proved nothing"
    assert {500, 502, 503} & set(statuses), "no server error was injected"


# --- Writing ---------------------------------------------------------------------------


def write_settings(harness: Harness, retry: RetryPolicy = FAST_RETRY) -> ConnectorSettings:
    return ConnectorSettings(**{"page_size": harness.page_size, **harness.settings, "retry": retry})


async def test_every_write_error_is_classified(harness: SandboxHarness) -> None:
    harness.seed(5)
    taken = harness.create("Taken Name Ltd")
    target = harness.create("Contract Target Ltd")
    connection = harness.connect()
    async with httpx.AsyncClient(timeout=30) as http:
        connector = harness.connector(http, connection, write_settings(harness))

        before = harness.listing()
        with pytest.raises(ProviderValidationError) as refused:
            await harness.write_refused(connector, before[taken].name)
        assert refused.value.provider == harness.provider
        assert refused.value.http_status in (400, 409, 422)
        assert refused.value.code
        assert harness.listing() == before  # refused: nothing written

        if harness.stale_writes_conflict:
            with pytest.raises(ConflictError) as stale:
                await harness.write_stale(connector, target)
            assert stale.value.provider == harness.provider
            assert stale.value.code
        else:
            await harness.write_stale(connector, target)
        # Refused or merged field by field: someone else's change is never overwritten.
        assert harness.listing()[target].name == "Renamed Meanwhile"

        with pytest.raises(FatalError) as missing:
            await harness.write_missing(connector)
        assert (missing.value.provider, missing.value.http_status) == (harness.provider, 404)


async def test_throttles_and_server_errors_on_writes_are_retried(
    harness: SandboxHarness,
) -> None:
    harness.seed(5)
    connection = harness.connect()
    statuses: list[int] = []

    async def record_status(response: httpx.Response) -> None:
        statuses.append(response.status_code)

    harness.reseed_faults(3)
    async with httpx.AsyncClient(timeout=30, event_hooks={"response": [record_status]}) as http:
        connector = harness.connector(http, connection, write_settings(harness))
        harness.configure(error_rate=0.5, error_statuses=[429, 500, 503])
        created = [await harness.write_new(connector, f"Retried Co {n}") for n in range(6)]
        harness.configure(**NO_FAULTS)
    assert 429 in statuses
    assert {500, 503} & set(statuses)
    names = [customer.name for customer in harness.listing().values()]
    for n, customer_id in enumerate(created):
        assert harness.listing()[customer_id].name == f"Retried Co {n}"
        assert names.count(f"Retried Co {n}") == 1  # retried, never created twice

    impatient = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.01, max_throttle_wait=0.01)
    for status, error in ((503, RetriableError), (429, ThrottledError)):
        harness.configure(error_rate=1.0, error_statuses=[status])
        async with httpx.AsyncClient(timeout=30) as http:
            connector = harness.connector(http, connection, write_settings(harness, impatient))
            with pytest.raises(error) as gave_up:
                await harness.write_new(connector, "Never Co")
        assert gave_up.value.http_status == status
        assert isinstance(gave_up.value, ThrottledError) is (status == 429)
    harness.configure(**NO_FAULTS)
    assert "Never Co" not in {customer.name for customer in harness.listing().values()}
