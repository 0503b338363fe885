"""No lost change, ever: write-backs racing a full pass (QuickBooks Desktop), a crowded
second and merges (QuickBooks Online). After every run the whole of `GET /customers`
equals the platform's own answer, and a consumer following cursors throughout sees no
version twice, none older than one it was shown, and no delete the platform never made."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from conftest import LiveServer, sync_environment
from ledgerbridge.connect import connect_sandbox
from ledgerbridge.providers.qbd.sandbox import provider as qbd_sandbox
from ledgerbridge.sync.engine import run_sync
from ledgerbridge.sync.runs import SyncRunInfo
from ledgerbridge.unified.records import WriteCounts
from providers.qbd.test_sync_e2e import END_USER, Desktop
from sync.lossless import API_KEY, CursorConsumer, compare, read_all


class AfterPage:
    """Sync progress that runs `action` once, after the given page is saved (while the
    connector is already reading the pages after it)."""

    def __init__(self, page: int, action: Callable[[], None]) -> None:
        self.page, self.action, self.saved = page, action, 0

    def begin(self, run: SyncRunInfo) -> None:
        pass

    def advance(self, *, records: int, total: int | None, counts: WriteCounts) -> None:
        self.saved += 1
        if self.saved == self.page:
            self.action()


def _unified(url: str, connection_id: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {API_KEY}", "Connection-Id": connection_id}
    return httpx.Client(base_url=url, headers=headers, timeout=60)


@pytest.mark.anyio
async def test_qbd_write_backs_during_a_full_pass_are_neither_deleted_nor_overwritten(
    app: FastAPI, live_server: LiveServer
) -> None:
    context = app.state.sandbox
    qbd_sandbox.seed(context, END_USER, 40, seed=5)
    secret = qbd_sandbox.credentials(context, END_USER)["CONDUCTOR_SECRET_KEY"]
    desktop = Desktop(live_server.url, secret)
    connection = connect_sandbox(
        app.state.databases,
        app.state.cipher,
        provider="qbd",
        tenant=END_USER,
        server_url=live_server.url,
    ).id
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
            consumer.follow()
            result = compare("qbd", desktop.customers(), read_all(live_server.url, connection))
            result.assert_equal()
            consumer.assert_clean()

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
