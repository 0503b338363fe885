"""The connector's OAuth 2.0 refresh against the sandbox's rotating refresh tokens: before
expiry, on a 401, single-flight across connectors and event loops, and a refused grant."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from conftest import FAST_RETRY
from ledgerbridge.connect import connect_sandbox
from ledgerbridge.connections import ConnectionStatus
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.providers.base import AuthError, ConnectorSettings
from ledgerbridge.providers.qbo.connector import QboConnector
from ledgerbridge.providers.qbo.oauth import INTUIT_TOKEN_URL, default_token_url
from ledgerbridge.providers.registry import get_platform
from ledgerbridge.sync.credentials import DatabaseCredentials
from ledgerbridge.tables import credential_claims
from ledgerbridge.unified.customer import MODEL_NAME
from ledgerbridge.unified.records import IncomingRecord, save_records
from providers.qbo.connector_support import QboConnection, Recorder, collect, ids_of, run

BILL = {"line1": "1 Main St", "city": "Tucson"}


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://quickbooks.api.intuit.com", INTUIT_TOKEN_URL),
        ("https://sandbox-quickbooks.api.intuit.com/", INTUIT_TOKEN_URL),
        (
            "http://127.0.0.1:8000/sandbox/qbo",
            "http://127.0.0.1:8000/sandbox/qbo/oauth2/v1/tokens/bearer",
        ),
        # Only a host that is intuit.com or under it counts.
        ("https://notintuit.com/qbo", "https://notintuit.com/qbo/oauth2/v1/tokens/bearer"),
    ],
)
def test_default_token_url(base_url: str, expected: str) -> None:
    assert default_token_url(base_url) == expected


def _without_access_token(qbo_connection: QboConnection) -> dict[str, Any]:
    stored = qbo_connection.credentials()
    stored.pop("access_token")
    stored.pop("access_token_expires_at")
    qbo_connection.write_credentials(stored)
    return stored


def test_tokens_refresh_across_a_long_read(qbo_connection: QboConnection) -> None:
    qbo_connection.configure(refresh_token_single_use=True)  # every refresh rotates
    # One-second access tokens and slow answers: the read outlives many tokens.
    qbo_connection.configure(token_lifetime_s=1, latency_ms=120)
    qbo_connection.seed(120)
    _without_access_token(qbo_connection)
    first_refresh_token = qbo_connection.credentials()["refresh_token"]
    recorder = Recorder()
    pages = run(
        lambda http: collect(
            qbo_connection.connector(http, page_size=10, token_refresh_margin_s=0.4), None
        ),
        recorder,
    )

    assert ids_of(pages) == qbo_connection.sandbox_ids()
    assert recorder.token_calls() >= 3, recorder.token_calls()
    assert qbo_connection.info().status == ConnectionStatus.ACTIVE
    stored = qbo_connection.credentials()
    assert stored["refresh_token"] != first_refresh_token
    assert set(stored) == {
        "realm_id",
        "client_id",
        "client_secret",
        "refresh_token",
        "access_token",
        "access_token_expires_at",
    }
    # The stored refresh token is the live one: it rotates once more.
    qbo_connection.configure(latency_ms=0)
    _without_access_token(qbo_connection)
    run(lambda http: qbo_connection.connector(http).get("1"), recorder)
    assert qbo_connection.info().status == ConnectionStatus.ACTIVE


def test_a_refused_access_token_is_refreshed_once(qbo_connection: QboConnection) -> None:
    qbo_connection.seed(3)
    stored = qbo_connection.credentials()
    # Looks good for an hour by its expiry, but the API does not know it.
    far = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    qbo_connection.write_credentials(
        {**stored, "access_token": "at_revoked", "access_token_expires_at": far}
    )
    recorder = Recorder()
    customer = run(lambda http: qbo_connection.connector(http).get("2"), recorder)
    assert customer["Id"] == "2"
    assert recorder.token_calls() == 1
    assert recorder.statuses.count(401) == 1
    assert qbo_connection.credentials()["access_token"] != "at_revoked"


def test_a_company_the_token_is_not_for_is_an_auth_error(qbo_connection: QboConnection) -> None:
    # A token of this realm, used on another company: QuickBooks' 403 AuthorizationFailed
    # (3100), which no refresh can cure.
    qbo_connection.write_credentials({**qbo_connection.credentials(), "realm_id": "555"})
    recorder = Recorder()
    with pytest.raises(AuthError) as raised:
        run(lambda http: qbo_connection.connector(http).get("1"), recorder)
    assert raised.value.http_status == 403
    assert recorder.statuses.count(403) >= 1


def test_a_refused_refresh_token_needs_reauthorisation(qbo_connection: QboConnection) -> None:
    qbo_connection.configure(refresh_token_single_use=True)  # a replaced token dies at once
    stored = _without_access_token(qbo_connection)
    # Someone else rotated the refresh token and lost the answer: the stored one is dead.
    rotated = httpx.post(
        f"{qbo_connection.base_url}/oauth2/v1/tokens/bearer",
        data={"grant_type": "refresh_token", "refresh_token": stored["refresh_token"]},
        auth=(stored["client_id"], stored["client_secret"]),
    )
    assert rotated.status_code == 200
    recorder = Recorder()
    with pytest.raises(AuthError, match="invalid_grant"):
        run(lambda http: qbo_connection.connector(http).get("1"), recorder)
    assert recorder.token_calls() == 1  # not retried
    assert recorder.api_calls() == []
    info = qbo_connection.info()
    assert info.status == ConnectionStatus.NEEDS_REAUTH
    assert info.status_message is not None
    assert "Reconnect" in info.status_message
    assert qbo_connection.credentials() == stored  # nothing half-written


def test_concurrent_refreshers_in_one_process_rotate_once(qbo_connection: QboConnection) -> None:
    qbo_connection.seed(5)
    _without_access_token(qbo_connection)
    recorder = Recorder()

    async def both(http: httpx.AsyncClient) -> list[dict[str, Any]]:
        # Two connectors of the same connection, and several requests each.
        first, second = qbo_connection.connector(http), qbo_connection.connector(http)
        calls = [c.get(str(i)) for c in (first, second) for i in range(1, 6)]
        return await asyncio.gather(*calls)

    customers = run(both, recorder)
    assert [c["Id"] for c in customers] == [str(i) for i in range(1, 6)] * 2
    assert recorder.token_calls() == 1


def test_refreshers_on_two_event_loops_rotate_once(qbo_connection: QboConnection) -> None:
    """Two threads, each its own event loop, client and credential store, as two worker
    processes would be: only the database lock stands between their refreshes."""
    qbo_connection.seed(2)
    _without_access_token(qbo_connection)
    start = threading.Barrier(2)
    recorders = [Recorder(), Recorder()]
    results: list[Any] = [None, None]

    def worker(index: int) -> None:
        async def fetch(http: httpx.AsyncClient) -> dict[str, Any]:
            connector = qbo_connection.connector(http)
            await asyncio.to_thread(start.wait)
            return await connector.get(str(index + 1))

        try:
            results[index] = run(fetch, recorders[index])
        except Exception as exc:  # reported by the assertion below
            results[index] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [r["Id"] for r in results] == ["1", "2"], results
    assert sum(r.token_calls() for r in recorders) == 1
    assert qbo_connection.info().status == ConnectionStatus.ACTIVE


class CrashBeforeCommit(DatabaseCredentials):
    """The process dies after the token endpoint answered, before the answer is committed
    (as a SIGKILL there would leave it: nothing stored)."""

    @asynccontextmanager
    async def rotating(self) -> AsyncIterator[Any]:
        async with super().rotating() as rotation:

            async def save_then_die(credentials: dict[str, Any]) -> dict[str, Any]:
                raise RuntimeError("killed between the token answer and the commit")

            rotation.save = save_then_die
            yield rotation


@pytest.mark.parametrize(
    ("single_use", "survives"),
    [
        (False, True),  # Intuit's documented rotation: the stored token still works
        (True, False),  # strict single-use: the connection is lost, and says so
    ],
)
def test_a_crash_inside_a_token_rotation(
    qbo_connection: QboConnection, single_use: bool, survives: bool
) -> None:
    qbo_connection.configure(refresh_token_single_use=single_use)
    qbo_connection.seed(5)
    stored = _without_access_token(qbo_connection)
    crashing = CrashBeforeCommit(
        qbo_connection.app.state.databases.main,
        qbo_connection.app.state.cipher,
        qbo_connection.connection_id,
    )

    async def crash(http: httpx.AsyncClient) -> Any:
        connector = QboConnector(
            base_url=qbo_connection.base_url,
            credentials=crashing,
            http=http,
            settings=ConnectorSettings(retry=FAST_RETRY),
        )
        return await connector.get("1")

    with pytest.raises(RuntimeError, match="killed"):
        run(crash, Recorder())
    assert qbo_connection.credentials() == stored  # the platform's answer never committed

    recorder = Recorder()
    if survives:
        customer = run(lambda http: qbo_connection.connector(http).get("1"), recorder)
        assert customer["Id"] == "1"
        assert qbo_connection.info().status == ConnectionStatus.ACTIVE
    else:
        with pytest.raises(AuthError, match="invalid_grant"):
            run(lambda http: qbo_connection.connector(http).get("1"), recorder)
        info = qbo_connection.info()
        assert info.status == ConnectionStatus.NEEDS_REAUTH
        assert info.status_message is not None
        assert "Reconnect the QuickBooks company" in info.status_message
    assert recorder.token_calls() == 1


def test_tokens_shorter_than_the_margin_are_not_refreshed_before_every_request(
    qbo_connection: QboConnection,
) -> None:
    # One-minute access tokens against the five-minute refresh margin.
    qbo_connection.configure(token_lifetime_s=60)
    qbo_connection.seed(200)
    _without_access_token(qbo_connection)
    recorder = Recorder()
    pages = run(lambda http: collect(qbo_connection.connector(http, page_size=10), None), recorder)

    assert ids_of(pages) == qbo_connection.sandbox_ids()
    assert len(recorder.api_calls()) > 20
    assert recorder.token_calls() == 1


def _claimed(qbo_connection: QboConnection) -> bool:
    with read_transaction(qbo_connection.app.state.databases.main) as conn:
        claim = credential_claims.c
        found = conn.execute(
            sa.select(claim.owner).where(claim.connection_id == qbo_connection.connection_id)
        ).first()
    return found is not None


def test_a_slow_token_endpoint_holds_no_database_lock(qbo_connection: QboConnection) -> None:
    """While the token endpoint takes its time, another connection saves a page at once:
    the refresh holds a claim, not the database's write lock (on SQLite that lock would
    stop every writer of the whole database)."""
    app = qbo_connection.app
    qbo_connection.configure(latency_ms=1000)  # the token answer too
    qbo_connection.seed(2)
    _without_access_token(qbo_connection)
    get_platform("qbd").sandbox.seed(qbo_connection.sandbox, "end_usr_other", 1, 1)
    other = connect_sandbox(
        app.state.databases,
        app.state.cipher,
        provider="qbd",
        tenant="end_usr_other",
        server_url=qbo_connection.server.url,
    ).id
    saved_in: list[float] = []
    recorder = Recorder()

    def save_meanwhile() -> None:
        deadline = time.monotonic() + 10
        while recorder.token_calls() == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # the token request is on the wire, its answer 1 s away
        assert (recorder.token_calls(), recorder.in_flight) == (1, 1)
        started = time.monotonic()
        page = [IncomingRecord(f"c{n}", {"display_name": f"C {n}"}) for n in range(50)]
        with write_transaction(app.state.databases.main) as conn:
            save_records(conn, connection_id=other, model=MODEL_NAME, batch=page, now=utcnow())
        saved_in.append(time.monotonic() - started)

    saver = threading.Thread(target=save_meanwhile)
    saver.start()
    customer = run(lambda http: qbo_connection.connector(http).get("1"), recorder)
    saver.join(timeout=30)
    assert customer["Id"] == "1"
    assert recorder.token_calls() == 1
    assert len(saved_in) == 1, saved_in  # the saver's own checks held
    assert saved_in[0] < 0.5, saved_in
    assert not _claimed(qbo_connection)  # released with the answer's commit
