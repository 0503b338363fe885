"""Crashes that really kill: `ledgerbridge sync` runs as its own process against the live
server's QuickBooks Online sandbox and is SIGKILLed mid-pages and in the middle of a token
rotation (after the platform rotated, before the answer arrived). After the runs that
follow (in the test's process: starting a process costs seconds here) the whole
of `GET /customers` equals the platform's own answer. Under Intuit's documented rotation a
crash costs nothing; under strict single-use the connection says it needs a person."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import sync_environment
from ledgerbridge.config import Settings
from ledgerbridge.connections import (
    ConnectionStatus,
    get_connection,
    read_credentials,
    write_credentials,
)
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.sandbox import tables as sandbox_tables
from ledgerbridge.sync.engine import run_sync
from ledgerbridge.tables import credential_claims, sync_runs, sync_state
from providers.qbo.live_sync import REALM, SyncSetup, seed_realm
from sync.lossless import CursorConsumer, check_lossless
from sync.test_no_lost_change import EVERY_CUSTOMER

PAGE_SIZE = 20


class SyncProcess:
    """`ledgerbridge sync CONNECTION` in a process of its own, on the test's databases."""

    def __init__(self, settings: Settings, connection_id: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERBRIDGE_")}
        env |= {
            "LEDGERBRIDGE_DATA_DIR": str(settings.data_dir),
            "LEDGERBRIDGE_DATABASE_URL": settings.database_url,
            "LEDGERBRIDGE_SANDBOX_DATABASE_URL": settings.sandbox_database_url,
            "LEDGERBRIDGE_SYNC_PAGE_SIZE": str(PAGE_SIZE),
            "LEDGERBRIDGE_LOG_LEVEL": "warning",
            "COLUMNS": "200",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ledgerbridge", "sync", connection_id],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.communicate(timeout=10)


def _wait_for(condition: Callable[[], bool], what: str, process: SyncProcess) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert process.process.poll() is None, f"the sync ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


class Killed:
    """The test's view of the main and sandbox databases."""

    def __init__(self, qbo: SyncSetup, settings: Settings) -> None:
        self.qbo, self.settings = qbo, settings
        self.main = qbo.app.state.databases.main
        self.sandbox = qbo.app.state.databases.sandbox

    def start(self) -> SyncProcess:
        return SyncProcess(self.settings, self.qbo.connection_id)

    def pages_saved(self) -> int:
        with read_transaction(self.main) as conn:
            pages = conn.execute(
                sa.select(sa.func.max(sync_runs.c.pages)).where(
                    sync_runs.c.connection_id == self.qbo.connection_id,
                    sync_runs.c.status == "running",
                )
            ).scalar()
        return int(pages or 0)

    def access_tokens_issued(self) -> int:
        tokens = sandbox_tables.oauth_tokens.c
        with read_transaction(self.sandbox) as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count()).where(
                        tokens.tenant_id == REALM, tokens.kind == "access"
                    )
                ).scalar_one()
            )

    def let_time_pass(self) -> None:
        """What the lease's and the refresh claim's expiry do for a dead process (a minute
        or two later), at once."""
        past = utcnow() - timedelta(seconds=1)
        connection_id = self.qbo.connection_id
        with write_transaction(self.main) as conn:
            conn.execute(
                sa.update(sync_state)
                .where(sync_state.c.connection_id == connection_id)
                .values(lease_expires_at=past)
            )
            conn.execute(
                sa.update(credential_claims)
                .where(credential_claims.c.connection_id == connection_id)
                .values(expires_at=past)
            )

    def customers(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            page = self.qbo.realm.query(
                f"{EVERY_CUSTOMER} STARTPOSITION {len(found) + 1} MAXRESULTS 1000"
            )
            found += page
            if len(page) < 1000:
                return found

    def check(self, consumer: CursorConsumer) -> None:
        check_lossless(consumer, self.customers())

    def rename(self, ids: list[str], label: str) -> None:
        for customer_id in ids:
            current = self.qbo.realm.get(customer_id)
            self.qbo.realm.save(
                {
                    "Id": customer_id,
                    "SyncToken": current["SyncToken"],
                    "sparse": True,
                    "DisplayName": f"{label} {customer_id}",
                }
            )

    def forget_access_token(self) -> None:
        """The stored access token expired: the next request must rotate."""
        cipher = self.qbo.app.state.cipher
        with write_transaction(self.main) as conn:
            stored = read_credentials(conn, cipher, self.qbo.connection_id)
            stored.pop("access_token")
            stored.pop("access_token_expires_at")
            write_credentials(conn, cipher, self.qbo.connection_id, stored)


@pytest.fixture
def killed(qbo: SyncSetup, settings: Settings) -> Killed:
    return Killed(qbo, settings)


@pytest.mark.slow
@pytest.mark.anyio
async def test_killed_mid_pages_twice_loses_nothing(killed: Killed) -> None:
    seed_realm(killed.qbo.app, 100)
    killed.qbo.realm.configure(latency_ms=60)  # a page every tenth of a second or so
    consumer = CursorConsumer(killed.qbo.server.url, killed.qbo.connection_id, "qbo")

    first = killed.start()
    _wait_for(lambda: killed.pages_saved() >= 2, "two pages saved", first)
    first.kill()
    consumer.follow()
    killed.rename(["3", "45", "90"], "Between kills")  # read already, and not yet
    killed.let_time_pass()

    second = killed.start()
    _wait_for(lambda: killed.pages_saved() >= 3, "three more pages saved", second)
    second.kill()
    consumer.follow()
    killed.let_time_pass()

    killed.qbo.realm.configure(latency_ms=0)
    async with sync_environment(killed.qbo.app, page_size=PAGE_SIZE) as env:
        resumed = await run_sync(env, killed.qbo.connection_id)
        assert (resumed.status, resumed.kind) == ("succeeded", "full"), resumed.error
        # What changed behind pages read before the kills is the next run's.
        after = await run_sync(env, killed.qbo.connection_id)
        assert (after.status, after.kind) == ("succeeded", "incremental"), after.error
    killed.check(consumer)


@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.parametrize(
    ("single_use", "survives"),
    [
        (False, True),  # Intuit's documented rotation: the stored token stays valid 24 h
        (True, False),  # strict single-use: the connection is lost, and says so
    ],
)
async def test_killed_inside_a_token_rotation(
    killed: Killed, single_use: bool, survives: bool
) -> None:
    seed_realm(killed.qbo.app, 30)
    # Every refresh rotates (Intuit's 24-hour reuse of one token would spare the crash).
    killed.qbo.realm.configure(
        refresh_token_single_use=single_use, refresh_token_rotation_s=0, latency_ms=3000
    )
    killed.forget_access_token()
    consumer = CursorConsumer(killed.qbo.server.url, killed.qbo.connection_id, "qbo")
    issued = killed.access_tokens_issued()

    process = killed.start()
    # The platform rotated (a new access token exists); its answer is 3 s away.
    _wait_for(lambda: killed.access_tokens_issued() > issued, "the rotation", process)
    process.kill()
    killed.qbo.realm.configure(latency_ms=0)
    killed.let_time_pass()

    async with sync_environment(killed.qbo.app, page_size=PAGE_SIZE) as env:
        restarted = await run_sync(env, killed.qbo.connection_id)
    with read_transaction(killed.main) as conn:
        info = get_connection(conn, killed.qbo.connection_id)
    if survives:
        assert restarted.status == "succeeded", restarted.error
        assert info.status == ConnectionStatus.ACTIVE
        killed.check(consumer)
    else:
        assert restarted.status == "failed"
        assert info.status == ConnectionStatus.NEEDS_REAUTH
        assert info.status_message is not None
        assert "invalid_grant" in info.status_message
        assert "Reconnect the QuickBooks company" in info.status_message
