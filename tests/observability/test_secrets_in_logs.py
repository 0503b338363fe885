"""No secret ever reaches a log line: a whole OAuth connect, a sync with a token refresh
and a write-back run with every log at debug (provider requests included), and the
captured lines are searched for every credential value that was in play; likewise webhook
subscriptions, secret rotations and signed deliveries (failed ones too) and their secrets."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import parse_qs, urlparse

import httpx
from fastapi import FastAPI

from asgi_client import TestClient
from conftest import LiveServer
from ledgerbridge.connections import read_credentials, write_credentials
from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.providers.registry import get_platform
from ledgerbridge.sync.engine import SyncEnvironment, run_sync
from ledgerbridge.sync.runs import SyncRunInfo
from ledgerbridge.sync.worker import new_http_client
from ledgerbridge.webhooks.delivery import Deliverer, new_webhook_client
from observability.support import captured_logs, log_lines
from webhooks.receiver import Receiver
from webhooks.support import FAST, deliver_until, new_connection, pending, subscribe

REALM = "1234567890123456"


def _oauth_connect(http: httpx.Client, secrets: set[str]) -> str:
    """Connect a QuickBooks Online company through the consent flow, as a browser does;
    the code and state it carries are secrets too."""
    start = http.get(
        "/connections/qbo/authorize", params={"redirect_uri": "https://app.example.com/done"}
    )
    consent = start.headers["location"]
    page = http.get(consent)
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
    fields["realmId"] = REALM
    callback = http.post(consent.split("?")[0], data=fields).headers["location"]
    query = parse_qs(urlparse(callback).query)
    secrets.update(query["code"] + query["state"])
    done = http.get(callback)
    assert done.status_code == 303, done.text
    return parse_qs(urlparse(done.headers["location"]).query)["connection_id"][0]


def _expire_access_token(app: FastAPI, connection_id: str) -> None:
    """So that the sync refreshes it (and rotates the refresh token)."""
    with write_transaction(app.state.databases.main) as conn:
        stored = read_credentials(conn, app.state.cipher, connection_id)
        stored["access_token_expires_at"] = 0
        write_credentials(conn, app.state.cipher, connection_id, stored)


def _credential_values(app: FastAPI, connection_id: str) -> set[str]:
    with read_transaction(app.state.databases.main) as conn:
        stored = read_credentials(conn, app.state.cipher, connection_id)
    return {stored[k] for k in ("client_secret", "refresh_token", "access_token")}


async def _sync(app: FastAPI, connection_id: str) -> SyncRunInfo:
    """A full sync through the production HTTP client (whose requests are logged)."""
    async with new_http_client() as client:
        env = SyncEnvironment(app.state.databases.main, app.state.cipher, client)
        return await run_sync(env, connection_id, full=True)


def test_no_credential_value_appears_in_any_log_line(app: FastAPI, live_server: LiveServer) -> None:
    secrets = {"lb_test_key"}
    get_platform("qbo").sandbox.create(app.state.sandbox, REALM)
    # Every refresh rotates the refresh token too, so the new one is a secret to look for.
    knobs = {"refresh_token_single_use": True}
    made = httpx.patch(f"{live_server.url}/sandbox/qbo/_admin/tenants/{REALM}", json=knobs)
    assert made.status_code == 200, made.text
    sandbox_app = get_platform("qbo").sandbox.credentials(app.state.sandbox, REALM)
    secrets.update(sandbox_app[k] for k in ("client_secret", "refresh_token", "access_token"))
    with (
        captured_logs() as buffer,
        httpx.Client(
            base_url=live_server.url, headers={"Authorization": "Bearer lb_test_key"}
        ) as http,
    ):
        connection_id = _oauth_connect(http, secrets)
        connected = _credential_values(app, connection_id)
        secrets |= connected
        get_platform("qbo").sandbox.seed(app.state.sandbox, REALM, 30, 7)
        _expire_access_token(app, connection_id)
        run = asyncio.run(_sync(app, connection_id))
        assert run.status == "succeeded", run.error
        refreshed = _credential_values(app, connection_id)
        assert len(refreshed - connected) == 2, "the sync refreshed the tokens"
        secrets |= refreshed
        headers = {"Connection-Id": connection_id}
        created = http.post(
            "/customers",
            headers=headers,
            json={"display_name": "Leak Check Ltd", "bill_address": {"city": "Tucson"}},
        )
        assert created.status_code == 201, created.text
        changed = http.patch(
            f"/customers/{created.json()['id']}", headers=headers, json={"notes": "x"}
        )
        assert changed.status_code == 200, changed.text
        secrets |= _credential_values(app, connection_id)
    text = buffer.getvalue()
    lines = log_lines(buffer)
    events = {line["event"] for line in lines}
    # The scenario was logged: requests, provider requests with ids, the run's line.
    assert {"request", "provider request", "sync run finished"} <= events, events
    provider_requests = [line for line in lines if line["event"] == "provider request"]
    assert all(line["provider"] == "qbo" for line in provider_requests)
    assert all(line["provider_request_id"] for line in provider_requests), provider_requests
    assert all(len(secret) >= 8 for secret in secrets)
    leaked = sorted(secret for secret in secrets if secret in text)
    assert leaked == [], f"{len(leaked)} secrets in the logs"


async def _deliver_all(app: FastAPI) -> None:
    async with new_webhook_client(FAST) as http:
        worker = Deliverer(app.state.databases.main, app.state.cipher, http, "worker-a", FAST)
        await deliver_until(lambda: pending(app) == 0, worker)


def test_no_webhook_secret_appears_in_any_log_line(app: FastAPI, client: TestClient) -> None:
    receiver = Receiver().start()
    try:
        with captured_logs() as buffer:
            created = subscribe(client, receiver.url, ["connection.created"])
            rotated = client.post(f"/webhooks/{created['id']}/rotate-secret").json()
            receiver.behaviour.failure_rate = 0.5  # failed attempts are logged too
            for _ in range(4):
                new_connection(app)
            asyncio.run(_deliver_all(app))
        assert len(receiver.events()) == 4
    finally:
        receiver.stop()
    events = {line["event"] for line in log_lines(buffer)}
    assert {"request", "webhook attempt"} <= events, events
    text = buffer.getvalue()
    for secret in (created["secret"], rotated["secret"]):
        assert secret not in text
        assert secret.removeprefix("whsec_") not in text
