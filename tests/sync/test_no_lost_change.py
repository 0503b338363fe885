"""No lost change, ever: write-backs racing a full pass (QuickBooks Desktop), a crowded
second and merges (QuickBooks Online). After every run the whole of `GET /customers`
equals the platform's own answer, and a consumer following cursors throughout sees no
version twice, none older than one it was shown, and no delete the platform never made."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from conftest import API_KEY, LiveServer, sync_environment
from ledgerbridge.connect import connect_sandbox
from ledgerbridge.providers.intacct import mapper as intacct_mapper
from ledgerbridge.providers.intacct.sandbox import provider as intacct_sandbox
from ledgerbridge.providers.qbd.sandbox import provider as qbd_sandbox
from ledgerbridge.providers.registry import get_platform
from ledgerbridge.sync.engine import run_sync
from ledgerbridge.sync.runs import SyncRunInfo
from ledgerbridge.unified.records import WriteCounts
from providers.qbd.test_sync_e2e import END_USER, Desktop
from providers.qbo.live_sync import SyncSetup, seed_realm
from sync.lossless import CursorConsumer, check_lossless, read_all


class AfterPage:
    """Sync progress that runs each action once, after the page of its number is saved
    (while the connector is already reading the pages after it)."""

    def __init__(self, page: int, action: Callable[[], None], **more: Callable[[], None]) -> None:
        self.actions = {page: action, **{int(k.lstrip("p")): a for k, a in more.items()}}
        self.saved = 0

    def begin(self, run: SyncRunInfo) -> None:
        pass

    def advance(self, *, records: int, total: int | None, counts: WriteCounts) -> None:
        self.saved += 1
        action = self.actions.pop(self.saved, None)
        if action is not None:
            action()


def _unified(url: str, connection_id: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {API_KEY}", "Connection-Id": connection_id}
    return httpx.Client(base_url=url, headers=headers, timeout=60)


def _company_file(app: FastAPI, live_server: LiveServer, customers: int, seed: int) -> Desktop:
    """A seeded QuickBooks Desktop company file, as its user sees it."""
    context = app.state.sandbox
    qbd_sandbox.seed(context, END_USER, customers, seed=seed)
    secret = qbd_sandbox.credentials(context, END_USER)["CONDUCTOR_SECRET_KEY"]
    return Desktop(live_server.url, secret)


def _connect_qbd(app: FastAPI, live_server: LiveServer) -> str:
    return connect_sandbox(
        app.state.databases,
        app.state.cipher,
        provider="qbd",
        tenant=END_USER,
        server_url=live_server.url,
    ).id


@pytest.mark.anyio
async def test_qbd_write_backs_during_a_full_pass_are_neither_deleted_nor_overwritten(
    app: FastAPI, live_server: LiveServer
) -> None:
    desktop = _company_file(app, live_server, 40, seed=5)
    connection = _connect_qbd(app, live_server)
    consumer = CursorConsumer(live_server.url, connection, "qbd")
    created: list[str] = []
    patched: dict[str, str] = {}

    with _unified(live_server.url, connection) as api:
        async with sync_environment(app, page_size=5) as env:
            first = await run_sync(env, connection)
            assert first.status == "succeeded", first.error
            consumer.follow()
            listed = [c for c in desktop.customers() if c["isActive"]]

            def write_back() -> None:
                # Read after the pass began, so the pass's key list cannot hold them.
                for name in ("Raced In Ltd", "Raced In Too Ltd"):
                    answer = api.post("/customers", json={"display_name": name})
                    assert answer.status_code == 201, answer.text
                    created.append(answer.json()["id"])
                # The pass has read these pages already (or is reading them): its older
                # page must not replace the newer version written back.
                for customer in listed[5:25:4]:
                    note = f"patched during the pass {customer['id']}"
                    answer = api.patch(f"/customers/{customer['id']}", json={"notes": note})
                    assert answer.status_code == 200, answer.text
                    patched[customer["id"]] = note
                consumer.follow()

            full = await run_sync(env, connection, full=True, progress=AfterPage(1, write_back))
            assert (full.status, full.kind) == ("succeeded", "full"), full.error
            check_lossless(consumer, desktop.customers())

            stored = {r["id"]: r for r in read_all(live_server.url, connection)}
            assert {stored[i]["_nango_metadata"]["last_action"] for i in created} == {"ADDED"}
            assert {i: stored[i]["notes"] for i in patched} == patched
            # The next run finds nothing to put right.
            again = await run_sync(env, connection)
            assert (again.added, again.updated, again.deleted) == (0, 0, 0)
            consumer.follow()
            consumer.assert_clean()
    assert len(created) == 2
    assert len(patched) == 5


# -- QuickBooks Online ------------------------------------------------------------------------

EVERY_CUSTOMER = "SELECT * FROM Customer WHERE Active IN (true, false) ORDERBY Id"


class Realm:
    """The QuickBooks Online sandbox realm as a QuickBooks user or another app changes it:
    on the sandbox's clock, which the test stops at chosen seconds."""

    def __init__(self, setup: SyncSetup) -> None:
        self.setup, self.context = setup, setup.app.state.sandbox
        self.realm = setup.realm

    def at(self, moment: datetime) -> None:
        self.context.clock = lambda: moment

    def customers(self) -> list[dict[str, Any]]:
        """The platform's own answer: every customer, active or not."""
        found: list[dict[str, Any]] = []
        while True:
            page = self.realm.query(
                f"{EVERY_CUSTOMER} STARTPOSITION {len(found) + 1} MAXRESULTS 1000"
            )
            found += page
            if len(page) < 1000:
                return found

    def rename(self, customers: list[dict[str, Any]], label: str) -> None:
        """Sparse updates, 30 to a batch request (Intuit's batch limit)."""
        for start in range(0, len(customers), 30):
            items = [
                {
                    "bId": str(n),
                    "operation": "update",
                    "Customer": {
                        "Id": c["Id"],
                        "SyncToken": c["SyncToken"],
                        "sparse": True,
                        "DisplayName": f"{label} {c['Id']}",
                    },
                }
                for n, c in enumerate(customers[start : start + 30])
            ]
            response = self.realm.http.post(
                f"/sandbox/qbo/v3/company/{self.realm.realm_id}/batch",
                json={"BatchItemRequest": items},
                params={"minorversion": "75"},
                headers={"Authorization": f"Bearer {self.realm.token}"},
            )
            assert response.status_code == 200, response.text
            faults = [i for i in response.json()["BatchItemResponse"] if "Fault" in i]
            assert faults == [], faults

    def merge(self, merged_away: str, survivor: str) -> None:
        response = self.realm.http.post(
            f"/sandbox/qbo/_admin/tenants/{self.realm.realm_id}/customers/{merged_away}/merge",
            json={"into": int(survivor)},
        )
        assert response.status_code == 200, response.text


def _check(realm: Realm, setup: SyncSetup, consumer: CursorConsumer) -> None:
    check_lossless(consumer, realm.customers())


@pytest.mark.slow
@pytest.mark.anyio
async def test_qbo_crowded_second_with_edits_during_the_read_loses_nothing(
    qbo: SyncSetup,
) -> None:
    """1,150 updates in two seconds (743 in the first), page size 50, so CDC cannot answer
    and the keyset reads a second fifteen pages deep while customers are edited (some leave
    the second, some join it, some change twice in it) and one is merged away."""
    realm = Realm(qbo)
    qbo.realm.configure(
        extra={"batch_requests_per_minute": 10_000}
    )  # the bulk import below is ours
    now = datetime.now(UTC).replace(microsecond=0)
    crowded = now - timedelta(minutes=10)
    realm.at(crowded - timedelta(minutes=10))
    seed_realm(qbo.app, 1400)
    consumer = CursorConsumer(qbo.server.url, qbo.connection_id, "qbo")
    async with sync_environment(qbo.app, page_size=50) as env:
        full = await run_sync(env, qbo.connection_id)
        assert full.status == "succeeded", full.error
        _check(realm, qbo, consumer)

        # Renaming a parent changes its jobs too: rename customers without jobs only.
        listed = realm.customers()
        parents = {c["ParentRef"]["value"] for c in listed if c.get("ParentRef")}
        everyone = [c for c in listed if c["Id"] not in parents]
        assert len(everyone) >= 1170
        first, second, third = (
            crowded,
            crowded + timedelta(seconds=1),
            crowded + timedelta(seconds=2),
        )
        realm.at(first)
        realm.rename(everyone[:743], "Bulk")
        realm.at(second)  # and the run begins while this second is the platform's current one
        realm.rename(everyone[743:1150], "Bulk")

        def fresh(chosen: list[dict[str, Any]]) -> list[dict[str, Any]]:
            current = {c["Id"]: c for c in realm.customers()}
            return [current[c["Id"]] for c in chosen]

        def while_the_first_second_is_read() -> None:
            realm.rename(fresh(everyone[3:740:37]), "Left")  # leave the first second
            realm.rename(fresh(everyone[745:1150:40]), "Again")  # twice in the second one
            realm.rename(fresh(everyone[1150:1170]), "Joined")  # join the second one
            consumer.follow()

        def while_the_second_second_is_read() -> None:
            realm.rename(fresh(everyone[750:1150:45]), "Twice")  # the current second, again
            realm.at(third)
            realm.rename(fresh(everyone[760:1150:50]), "Moved")  # leave it while it is read
            consumer.platform_deletes.add(everyone[20]["Id"])
            realm.merge(everyone[20]["Id"], everyone[21]["Id"])
            consumer.follow()

        progress = AfterPage(3, while_the_first_second_is_read, p18=while_the_second_second_is_read)
        incremental = await run_sync(env, qbo.connection_id, progress=progress)
        assert (incremental.status, incremental.kind) == ("succeeded", "incremental")
        assert incremental.error is None
        _check(realm, qbo, consumer)
        stored = {r["id"]: r for r in read_all(qbo.server.url, qbo.connection_id)}
        assert stored[everyone[20]["Id"]]["_nango_metadata"]["last_action"] == "DELETED"

        realm.at(datetime.now(UTC))
        again = await run_sync(env, qbo.connection_id)
        assert again.status == "succeeded", again.error
        _check(realm, qbo, consumer)


@pytest.mark.anyio
async def test_qbo_merges_during_a_full_run_and_an_incremental_are_deletes(
    qbo: SyncSetup,
) -> None:
    realm = Realm(qbo)
    seed_realm(qbo.app, 120)
    consumer = CursorConsumer(qbo.server.url, qbo.connection_id, "qbo")
    parents = {c["ParentRef"]["value"] for c in realm.customers() if c.get("ParentRef")}
    # QuickBooks merges customers without sub-customers only; active ones, to tell apart.
    everyone = [
        c for c in realm.customers() if c["Active"] and not c.get("Job") and c["Id"] not in parents
    ]
    merged = {everyone[3]["Id"]: everyone[4]["Id"], everyone[-1]["Id"]: everyone[2]["Id"]}
    async with sync_environment(qbo.app, page_size=20) as env:

        def merge_both() -> None:
            # One already read by this run (a lower id vanishes: keyset pages do not
            # shift), one not yet read.
            for away, survivor in merged.items():
                consumer.platform_deletes.add(away)
                realm.merge(away, survivor)

        full = await run_sync(env, qbo.connection_id, progress=AfterPage(2, merge_both))
        assert (full.status, full.kind) == ("succeeded", "full"), full.error
        # What changed behind pages already read (the survivors, the merged-away one read
        # before its merge) is the next incremental's: CDC names the merged-away ones.
        incremental = await run_sync(env, qbo.connection_id)
        assert (incremental.status, incremental.kind) == ("succeeded", "incremental")
        _check(realm, qbo, consumer)

        # A merge before a full run: the run's key list lacks it.
        away, survivor = everyone[10]["Id"], everyone[11]["Id"]
        consumer.platform_deletes.add(away)
        realm.merge(away, survivor)
        again = await run_sync(env, qbo.connection_id, full=True)
        assert (again.status, again.kind) == ("succeeded", "full"), again.error
        _check(realm, qbo, consumer)

        # A merge between incrementals: CDC reports it deleted.
        last_away, last_survivor = everyone[14]["Id"], everyone[15]["Id"]
        consumer.platform_deletes.add(last_away)
        realm.merge(last_away, last_survivor)
        latest = await run_sync(env, qbo.connection_id)
        assert (latest.status, latest.kind, latest.deleted) == ("succeeded", "incremental", 1)
        _check(realm, qbo, consumer)
    stored = {r["id"]: r for r in read_all(qbo.server.url, qbo.connection_id)}
    # Merged away before this run read it: never stored, never shown.
    assert everyone[-1]["Id"] not in stored
    for gone in [everyone[3]["Id"], away, last_away]:
        assert stored[gone]["_nango_metadata"]["last_action"] == "DELETED"
    for kept in [*merged.values(), survivor, last_survivor]:
        assert stored[kept]["_nango_metadata"]["last_action"] != "DELETED"


# -- QuickBooks Desktop: renamed parents ------------------------------------------------------


def _create(desktop: Desktop, name: str, parent: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name}
    if parent is not None:
        body["parentId"] = parent["id"]
    created: dict[str, Any] = desktop.call("POST", "/quickbooks-desktop/customers", json=body)
    return created


def _current(desktop: Desktop, customer: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = desktop.call("GET", f"/quickbooks-desktop/customers/{customer['id']}")
    return found


@pytest.mark.anyio
async def test_qbd_jobs_follow_a_renamed_parent_and_grandparent(
    app: FastAPI, live_server: LiveServer
) -> None:
    """QuickBooks Desktop renames a job with its parent without moving the job's
    `updatedAt`: the incremental run after a rename (of a parent, of a grandparent, during
    a run, through our own API) still leaves every job's full name right."""
    desktop = _company_file(app, live_server, 12, seed=7)
    grand = _create(desktop, "Grand Co")
    site = _create(desktop, "Site", grand)
    phases = [_create(desktop, f"Phase {n}", site) for n in range(3)]
    parent = _create(desktop, "Parent Ltd")
    jobs = [_create(desktop, f"Job {n}", parent) for n in range(7)]
    desktop.edit(_current(desktop, jobs[2]), isActive=False)  # an inactive job is renamed too
    connection = _connect_qbd(app, live_server)
    consumer = CursorConsumer(live_server.url, connection, "qbd")

    def check() -> None:
        check_lossless(consumer, desktop.customers())

    def names() -> dict[str, str]:
        stored = read_all(live_server.url, connection)
        return {r["id"]: r["fully_qualified_name"] for r in stored}

    async with sync_environment(app, page_size=5) as env:
        first = await run_sync(env, connection)
        assert first.status == "succeeded", first.error
        check()

        desktop.edit(_current(desktop, parent), name="Parent Renamed Ltd")
        desktop.edit(_current(desktop, grand), name="Grand Renamed Co")
        renamed = await run_sync(env, connection)
        assert (renamed.status, renamed.kind) == ("succeeded", "incremental"), renamed.error
        check()
        stored = names()
        assert stored[phases[0]["id"]] == "Grand Renamed Co:Site:Phase 0"
        assert stored[jobs[2]["id"]] == "Parent Renamed Ltd:Job 2"
        # Nothing stale is left: the next run reads nothing again.
        again = await run_sync(env, connection)
        assert (again.added, again.updated, again.deleted) == (0, 0, 0)

        def rename_during_the_run() -> None:
            desktop.edit(_current(desktop, parent), name="Parent Moved Ltd")
            desktop.edit(_current(desktop, site), name="Site B")

        desktop.edit(_current(desktop, jobs[0]), jobDescription="edited before the run")
        during = await run_sync(env, connection, progress=AfterPage(1, rename_during_the_run))
        assert during.status == "succeeded", during.error
        after = await run_sync(env, connection)
        assert after.status == "succeeded", after.error
        check()
        assert names()[phases[2]["id"]] == "Grand Renamed Co:Site B:Phase 2"

        # A rename written back through our API is stored at once; its jobs follow in the
        # next run.
        with _unified(live_server.url, connection) as api:
            answer = api.patch(f"/customers/{grand['id']}", json={"display_name": "Grand Again"})
            assert answer.status_code == 200, answer.text
        written = await run_sync(env, connection)
        assert written.status == "succeeded", written.error
        check()
        assert names()[phases[1]["id"]] == "Grand Again:Site B:Phase 1"


# -- Sage Intacct -----------------------------------------------------------------------------

INTACCT_COMPANY = "LOSSLESS"
INTACCT_CUSTOMERS = "/objects/accounts-receivable/customer"


class IntacctCompany:
    """The Intacct sandbox company as another Intacct client changes and reads it."""

    def __init__(self, app: FastAPI, live_server: LiveServer) -> None:
        issued = get_platform("intacct").sandbox.credentials(app.state.sandbox, INTACCT_COMPANY)
        self.http = httpx.Client(
            base_url=f"{live_server.url}/sandbox/intacct/ia/api/v1",
            headers={"Authorization": f"Bearer {issued['access_token']}"},
            timeout=60,
        )

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code in (200, 201, 204), response.text
        return response.json() if response.content else None

    def customers(self) -> list[dict[str, Any]]:
        """The platform's own answer: every customer, any status, in the connector's fields."""
        found: list[dict[str, Any]] = []
        start: int | None = 1
        while start is not None:
            body = {
                "object": "accounts-receivable/customer",
                "fields": list(intacct_mapper.QUERY_FIELDS),
                "start": start,
                "size": 4000,
            }
            answer = self.call("POST", "/services/core/query", json=body)
            found += [intacct_mapper.from_query_row(row) for row in answer["ia::result"]]
            start = answer["ia::meta"]["next"]
        return found

    def change(self, key: str, **fields: Any) -> None:
        self.call("PATCH", f"{INTACCT_CUSTOMERS}/{key}", json=fields)

    def create(self, name: str) -> str:
        return str(self.call("POST", INTACCT_CUSTOMERS, json={"name": name})["ia::result"]["key"])

    def delete(self, key: str, consumer: CursorConsumer) -> None:
        """Delete outright (a hard delete, which Intacct reports nowhere)."""
        consumer.platform_deletes.add(key)
        self.call("DELETE", f"{INTACCT_CUSTOMERS}/{key}")


def _intacct_company(
    app: FastAPI, live_server: LiveServer, seed: int
) -> tuple[IntacctCompany, str, CursorConsumer]:
    """A seeded Intacct company of 60, a connection to it, and a reader of that connection."""
    intacct_sandbox.seed(app.state.sandbox, INTACCT_COMPANY, 60, seed=seed)
    connection = connect_sandbox(
        app.state.databases,
        app.state.cipher,
        provider="intacct",
        tenant=INTACCT_COMPANY,
        server_url=live_server.url,
    ).id
    consumer = CursorConsumer(live_server.url, connection, "intacct")
    return IntacctCompany(app, live_server), connection, consumer


@pytest.mark.anyio
async def test_intacct_edits_deactivations_and_hard_deletes_lose_nothing(
    app: FastAPI, live_server: LiveServer
) -> None:
    """Edits, deactivations, creates and hard deletes, some during a run, with the
    reconciliation on every run (`reconcile_every: 1`): nothing lost, nothing phantom."""
    company, connection, consumer = _intacct_company(app, live_server, seed=3)
    # Customers with transactions cannot be deleted: these have none.
    doomed = [company.create(f"Doomed {n}") for n in range(3)]
    settings = {"page_size": 10, "lag_seconds": 5, "extra": {"reconcile_every": 1}}
    async with sync_environment(app, **settings) as env:
        first = await run_sync(env, connection)
        assert first.status == "succeeded", first.error
        check_lossless(consumer, company.customers())

        keys = [c["key"] for c in company.customers() if c["status"] == "active"]
        for key in keys[:5]:
            company.change(key, name=f"Renamed {key}")
        company.change(keys[6], status="inactive")
        for key in doomed[:2]:
            company.delete(key, consumer)

        def meanwhile() -> None:
            company.change(keys[11], name="Renamed during the run")
            company.create("New during the run")
            company.delete(doomed[2], consumer)
            consumer.follow()

        during = await run_sync(env, connection, progress=AfterPage(1, meanwhile))
        assert during.status == "succeeded", during.error
        after = await run_sync(env, connection)
        assert after.status == "succeeded", after.error
        check_lossless(consumer, company.customers())
    company.http.close()


@pytest.mark.anyio
async def test_intacct_edits_behind_a_full_runs_key_order_read_are_read_by_the_same_run(
    app: FastAPI, live_server: LiveServer
) -> None:
    """A first full run reads in key order: customers edited, deactivated or added behind
    its read, while it reads, are in `GET /customers` as the platform has them when that
    same run ends."""
    company, connection, consumer = _intacct_company(app, live_server, seed=5)
    active = sorted((c["key"] for c in company.customers() if c["status"] == "active"), key=int)

    def meanwhile() -> None:  # after the first page of ten: keys up to about the tenth
        company.change(active[0], name="Renamed behind the read")
        company.change(active[1], status="inactive")
        company.change(active[-1], name="Renamed ahead of the read")
        company.create("New during the run")
        consumer.follow()

    settings = {"page_size": 10, "lag_seconds": 5}
    async with sync_environment(app, **settings) as env:
        full = await run_sync(env, connection, progress=AfterPage(1, meanwhile))
    assert (full.status, full.kind) == ("succeeded", "full"), full.error
    check_lossless(consumer, company.customers())
    company.http.close()
