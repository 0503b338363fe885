"""End to end: a seeded QuickBooks Desktop company file synced by the engine through the
connector over real loopback HTTP, changed behind our back, synced again; `GET /customers`
shows exactly those changes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from conftest import read_customers_at, sync_environment
from ledgerbridge.connect import connect_sandbox
from ledgerbridge.providers.qbd.sandbox import provider
from ledgerbridge.sync.engine import run_sync

END_USER = "end_usr_e2e"
SEEDED = 60


class Desktop:
    """The company file as a QuickBooks Desktop user (or another Conductor client) sees it."""

    def __init__(self, url: str, secret_key: str) -> None:
        self.base = url + "/sandbox/conductor/v1"
        self.headers = {"Authorization": f"Bearer {secret_key}", "Conductor-End-User-Id": END_USER}

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(
            method, self.base + path, headers=self.headers, timeout=30, **kwargs
        )
        assert response.status_code in (200, 204), response.text
        return response.json() if response.content else None

    def customers(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"status": "all"}
        while True:
            body = self.call("GET", "/quickbooks-desktop/customers", params=params)
            found += body["data"]
            if body["nextCursor"] is None:
                return found
            params = {"status": "all", "cursor": body["nextCursor"]}

    def edit(self, customer: dict[str, Any], **changes: Any) -> None:
        body = {"revisionNumber": customer["revisionNumber"], **changes}
        self.call("POST", f"/quickbooks-desktop/customers/{customer['id']}", json=body)


@pytest.mark.anyio
async def test_seed_sync_change_sync_shows_exactly_the_changes(
    app: FastAPI, live_server: Any
) -> None:
    context = app.state.sandbox
    provider.seed(context, END_USER, SEEDED, seed=3)
    desktop = Desktop(
        live_server.url, provider.credentials(context, END_USER)["CONDUCTOR_SECRET_KEY"]
    )
    connection = connect_sandbox(
        app.state.databases,
        app.state.cipher,
        provider="qbd",
        tenant=END_USER,
        server_url=live_server.url,
    )
    async with sync_environment(app, page_size=8) as env:
        first = await run_sync(env, connection.id)
        every = desktop.customers()
        inactive = [c for c in every if not c["isActive"]]
        assert (first.status, first.kind, first.error) == ("succeeded", "full", None), first.error
        assert (first.added, first.deleted) == (SEEDED - len(inactive), len(inactive))
        assert first.pages == -(-SEEDED // 8)
        stored = read_customers_at(live_server.url, connection.id, limit=25)
        assert len(stored) == SEEDED
        last_cursor = stored[-1]["_nango_metadata"]["cursor"]

        # Behind our back: edit, deactivate, reactivate, delete outright, add a job.
        active = [c for c in every if c["isActive"]]
        parents = {c["parent"]["id"] for c in every if c["parent"]}
        edited, deactivated = active[0], active[1]
        reactivated = inactive[0]
        deleted = next(c for c in reversed(active) if c["id"] not in parents)
        desktop.edit(edited, companyName="Renamed Ltd")
        desktop.edit(deactivated, isActive=False)
        desktop.edit(reactivated, isActive=True)
        desktop.call("DELETE", f"/_admin/tenants/{END_USER}/customers/{deleted['id']}")
        job = desktop.call(
            "POST",
            "/quickbooks-desktop/customers",
            json={"name": "Phase 3", "parentId": edited["id"], "jobStatus": "pending"},
        )

        second = await run_sync(env, connection.id)
        assert (second.status, second.kind, second.error) == ("succeeded", "incremental", None)
        assert (second.added, second.updated, second.deleted) == (2, 1, 2)

        changes = read_customers_at(live_server.url, connection.id, cursor=last_cursor)
        actions = {r["id"]: r["_nango_metadata"]["last_action"] for r in changes}
        assert actions == {
            edited["id"]: "UPDATED",
            deactivated["id"]: "DELETED",
            reactivated["id"]: "ADDED",
            deleted["id"]: "DELETED",
            job["id"]: "ADDED",
        }
        by_id = {r["id"]: r for r in changes}
        assert by_id[edited["id"]]["company_name"] == "Renamed Ltd"
        assert by_id[job["id"]]["parent_id"] == edited["id"]
        assert by_id[job["id"]]["fully_qualified_name"] == f"{edited['fullName']}:Phase 3"
        assert by_id[deactivated["id"]]["active"] is False

        # Nothing changed since: nothing is read as a change, nothing is written.
        third = await run_sync(env, connection.id)
        assert (third.status, third.pages, third.added, third.updated, third.deleted) == (
            "succeeded",
            0,
            0,
            0,
            0,
        )
        latest = changes[-1]["_nango_metadata"]["cursor"]
        assert read_customers_at(live_server.url, connection.id, cursor=latest) == []
