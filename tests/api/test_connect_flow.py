"""The QuickBooks Online connect flow end to end over real loopback HTTP, through the
sandbox's consent page: re-authorising a connection keeps its id, records, checkpoint and
cursors; a realm connected already is updated, not twinned (unless asked); connect
sessions start the flow from a browser with no key, once, before they expire, in their
own environment; the Deny button brings the user back with `access_denied`."""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from conftest import LiveServer, sync_environment
from ledgerbridge.connect import connect_sandbox
from ledgerbridge.connections import ConnectionStatus, set_status
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.providers.registry import get_platform
from ledgerbridge.sync.engine import run_sync
from ledgerbridge.tables import connect_sessions, connections, sync_state

REALM, OTHER_REALM = "4620816365257778", "9130355377389416"
APP = "https://app.example/done"
OPERATOR = {"Authorization": "Bearer lb_test_key"}
PROD = {**OPERATOR, "Ledgerbridge-Environment": "prod"}


@pytest.fixture
def server(app: FastAPI, live_server: LiveServer) -> LiveServer:
    for realm in (REALM, OTHER_REALM):
        get_platform("qbo").sandbox.create(app.state.sandbox, realm)
    get_platform("qbo").sandbox.seed(app.state.sandbox, REALM, 5, 7)
    return live_server


def _consent(browser: httpx.Client, start: httpx.Response, realm: str, decision: str) -> Any:
    """Through the sandbox consent page (as a person would) back to our callback; the
    callback's answer."""
    assert start.status_code == 307, start.text
    consent = start.headers["location"]
    page = browser.get(consent)
    assert '<strong id="realm">' in page.text
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
    answer = browser.post(
        consent.split("?")[0], data={**fields, "realmId": realm, "decision": decision}
    )
    assert answer.status_code == 302, answer.text
    return browser.get(answer.headers["location"])


def _landing(done: httpx.Response) -> dict[str, str]:
    assert done.status_code == 303, done.text
    landing = urlparse(done.headers["location"])
    assert f"{landing.scheme}://{landing.netloc}{landing.path}" == APP
    return {name: values[0] for name, values in parse_qs(landing.query).items()}


def _authorize(http: httpx.Client, realm: str, decision: str = "approve", **params: str) -> Any:
    start = http.get("/connections/qbo/authorize", params={"redirect_uri": APP, **params})
    return _landing(_consent(http, start, realm, decision))


async def _sync(app: FastAPI, connection_id: str) -> None:
    async with sync_environment(app) as env:
        assert (await run_sync(env, connection_id)).status == "succeeded"


def _count(app: FastAPI) -> int:
    with read_transaction(app.state.databases.main) as conn:
        return len(conn.execute(sa.select(connections.c.id)).all())


def test_reauthorising_keeps_the_connection_its_records_and_cursors(
    app: FastAPI, server: LiveServer
) -> None:
    connection_id = connect_sandbox(
        app.state.databases, app.state.cipher, provider="qbo", tenant=REALM, server_url=server.url
    ).id
    asyncio.run(_sync(app, connection_id))
    engine = app.state.databases.main
    with write_transaction(engine) as conn:
        set_status(conn, connection_id, ConnectionStatus.NEEDS_REAUTH, "refresh token refused")
        checkpoint = conn.execute(sa.select(sync_state.c.checkpoint)).scalar_one()
    assert checkpoint is not None
    with httpx.Client(base_url=server.url, headers=OPERATOR, timeout=30) as http:
        records = {"Connection-Id": connection_id}
        first = http.get("/customers", params={"limit": 2}, headers=records).json()
        assert _authorize(http, REALM, connection_id=connection_id) == {
            "connection_id": connection_id
        }
        restored = http.get(f"/connections/{connection_id}").json()
        assert (restored["status"], restored["status_message"]) == ("active", None)
        rest = http.get("/customers", params={"cursor": first["next_cursor"]}, headers=records)
        assert rest.status_code == 200
        assert len(rest.json()["records"]) == 3
        # Another company is refused: the records would mix two companies.
        refused = _authorize(http, OTHER_REALM, connection_id=connection_id)
        assert refused["error"] == "account_mismatch"
        assert http.get(f"/connections/{connection_id}").json()["remote_account_id"] == REALM
        # The same realm again, without naming the connection: updated, not twinned.
        assert _authorize(http, REALM)["connection_id"] == connection_id
        assert _count(app) == 1
        twin = _authorize(http, REALM, allow_duplicate="true")["connection_id"]
        assert twin != connection_id
        assert _count(app) == 2
    with read_transaction(engine) as conn:
        kept = conn.execute(
            sa.select(sync_state.c.checkpoint).where(sync_state.c.connection_id == connection_id)
        ).scalar_one()
    assert kept == checkpoint
    asyncio.run(_sync(app, connection_id))  # the restored credentials work


def test_the_deny_button_brings_the_user_back_with_access_denied(
    app: FastAPI, server: LiveServer
) -> None:
    with httpx.Client(base_url=server.url, headers=OPERATOR, timeout=30) as http:
        assert _authorize(http, REALM, decision="deny") == {"error": "access_denied"}
    assert _count(app) == 0


def _session(http: httpx.Client, **body: Any) -> dict[str, Any]:
    made = http.post(
        "/connect/sessions",
        json={"end_user_id": "user-42", "allowed_providers": ["qbo"], **body},
        headers=PROD,
    )
    assert made.status_code == 201, made.text
    session: dict[str, Any] = made.json()
    return session


def test_a_connect_session_starts_the_flow_once_in_its_environment(
    app: FastAPI, server: LiveServer
) -> None:
    with (
        httpx.Client(base_url=server.url, timeout=30) as backend,
        httpx.Client(timeout=30) as browser,  # no key: only the session's token
    ):
        session = _session(backend, metadata={"plan": "gold"}, redirect_uri=APP)
        assert session["environment"] == "prod"
        assert session["connect_url"].startswith(f"{server.url}/connections/qbo/authorize?")
        landed = _landing(_consent(browser, browser.get(session["connect_url"]), REALM, "approve"))
        connection_id = landed["connection_id"]
        made = backend.get(f"/connections/{connection_id}", headers=PROD).json()
        assert (made["end_user_id"], made["metadata"], made["environment"]) == (
            "user-42",
            {"plan": "gold"},
            "prod",
        )
        assert backend.get(f"/connections/{connection_id}", headers=OPERATOR).status_code == 404
        # Replayed: refused, back to the app with the reason.
        replay = browser.get(session["connect_url"])
        assert _landing(replay)["error"] == "connect_session_used"
        # Expired: refused the same way.
        late = _session(backend, redirect_uri=APP)
        with write_transaction(app.state.databases.main) as conn:
            conn.execute(sa.update(connect_sessions).values(expires_at=utcnow()))
        assert _landing(browser.get(late["connect_url"]))["error"] == "connect_session_expired"
        unknown = browser.get(f"{server.url}/connections/qbo/authorize?connect_session_token=x")
        assert unknown.status_code == 400
        assert unknown.json()["error"]["code"] == "connect_session_unknown"
        # The same end user again, with no redirect: the same connection, shown on a page.
        page_only = _session(backend)
        done = _consent(browser, browser.get(page_only["connect_url"]), REALM, "approve")
        assert done.status_code == 200
        assert connection_id in done.text
        assert _count(app) == 1
        refused = backend.post(
            "/connect/sessions",
            json={"end_user_id": "u", "allowed_providers": ["qbd"]},
            headers=PROD,
        )
        assert refused.status_code == 400  # no browser flow for QuickBooks Desktop
