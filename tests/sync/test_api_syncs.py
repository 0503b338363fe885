"""`POST /connections/{id}/sync`, `GET /connections/{id}/syncs`, and connecting a
QuickBooks Online company through the OAuth authorization-code flow, end to end."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import httpx
from fastapi import FastAPI

from asgi_client import TestClient
from conftest import LiveServer
from ledgerbridge.providers.registry import get_platform
from providers.qbo.live_sync import SyncSetup, seed_realm


def test_requested_runs_are_queued_run_and_listed(
    qbo: SyncSetup, app_client: TestClient, app: FastAPI
) -> None:
    seed_realm(app, 25)
    path = f"/connections/{qbo.connection_id}"
    queued = app_client.post(f"{path}/sync", json={"full": True})
    assert queued.status_code == 202, queued.text
    assert (queued.json()["status"], queued.json()["kind"]) == ("queued", "full")
    assert app_client.post(f"{path}/sync").json()["id"] == queued.json()["id"]  # reused

    # The server's own scheduler, on the server's event loop (tests run it by hand).
    scheduler = app.state.sync.scheduler
    assert app_client.portal is not None
    app_client.portal.call(scheduler.tick)
    app_client.portal.call(scheduler.drain)
    runs = app_client.get(f"{path}/syncs").json()["syncs"]
    assert len(runs) == 1
    assert runs[0]["status"] == "succeeded"
    assert runs[0]["trigger"] == "api"
    assert runs[0]["added"] + runs[0]["deleted"] == 25

    assert app_client.post(f"{path}/sync", json={"full": "yes"}).status_code == 400
    assert app_client.post(f"{path}/sync", json={"other": 1}).status_code == 400
    assert app_client.post("/connections/conn_missing/sync").status_code == 404
    assert app_client.get("/connections/conn_missing/syncs").status_code == 404
    assert app_client.get(f"{path}/syncs", params={"limit": 0}).status_code == 400


def test_connect_quickbooks_online_through_oauth(app: FastAPI, live_server: LiveServer) -> None:
    get_platform("qbo").sandbox.create(app.state.sandbox, "1234567890123456")
    with httpx.Client(
        base_url=live_server.url, headers={"Authorization": "Bearer lb_test_key"}
    ) as http:
        start = http.get(
            "/connections/qbo/authorize",
            params={"redirect_uri": "https://app.example.com/done", "sync_frequency": "2h"},
        )
        assert start.status_code == 307, start.text
        consent = start.headers["location"]
        assert consent.startswith(f"{live_server.url}/sandbox/qbo/oauth2/v1/authorize?")
        page = http.get(consent)
        assert page.status_code == 200
        fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
        fields["realmId"] = "1234567890123456"
        approved = http.post(consent.split("?")[0], data=fields)
        assert approved.status_code == 302
        callback = approved.headers["location"]
        assert callback.startswith(f"{live_server.url}/connections/qbo/callback?")
        done = http.get(callback)
        assert done.status_code == 303, done.text
        landing = urlparse(done.headers["location"])
        assert landing.netloc == "app.example.com"
        connection_id = parse_qs(landing.query)["connection_id"][0]
        connection = http.get(f"/connections/{connection_id}").json()
        assert connection["provider"] == "qbo"
        assert connection["sync_frequency"] == 7200
        assert connection["base_url"] == f"{live_server.url}/sandbox/qbo"

        replay = http.get(callback)  # the code is spent
        assert replay.status_code == 303
        assert "error" in parse_qs(urlparse(replay.headers["location"]).query)
        forged = http.get("/connections/qbo/callback", params={"state": "x", "code": "y"})
        assert forged.status_code == 400
        assert forged.json()["error"]["code"] == "invalid_state"
        bad = http.get("/connections/qbo/authorize", params={"redirect_uri": "nope"})
        assert bad.status_code == 400
