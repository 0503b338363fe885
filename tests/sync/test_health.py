"""Connection health: runs that keep failing turn a connection to `error` with the last
error and when, back off between attempts (growing, capped) and are still scheduled; a
success makes it `active` again. `needs_reauth` is left to reconnecting. The scheduler
fails runs whose process died (their lease expired) without waiting for a sync."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from asgi_client import TestClient
from ledgerbridge.connections import create_connection, delete_connection, get_connection
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.sync import health, leases, runs
from ledgerbridge.sync.engine import SyncEnvironment, run_sync
from ledgerbridge.sync.scheduler import Scheduler
from ledgerbridge.tables import sync_runs, sync_state
from providers.qbo.live_sync import SyncSetup, seed_realm

pytestmark = pytest.mark.anyio


def _next_run_in(env: SyncEnvironment, connection_id: str) -> timedelta:
    with read_transaction(env.engine) as conn:
        next_run_at = conn.execute(
            sa.select(sync_state.c.next_run_at).where(sync_state.c.connection_id == connection_id)
        ).scalar_one()
    return next_run_at - utcnow()


async def test_failing_runs_turn_a_connection_to_error_then_a_success_recovers_it(
    qbo: SyncSetup, env: SyncEnvironment, app_client: TestClient
) -> None:
    seed_realm(qbo.app, 10)
    qbo.realm.configure(error_rate=1.0, error_statuses=[503])  # the platform is down
    waits = []
    for attempt in range(1, health.ERROR_AFTER_FAILURES + 1):
        run = await run_sync(env, qbo.connection_id)
        assert run.status == "failed"
        waits.append(_next_run_in(env, qbo.connection_id))
        shown = app_client.get(f"/connections/{qbo.connection_id}").json()
        assert shown["consecutive_failures"] == attempt
        assert "503" in shown["last_error"]
        assert shown["last_error_at"] is not None
        expected = "error" if attempt == health.ERROR_AFTER_FAILURES else "active"
        assert shown["status"] == expected, shown
    assert "the last 3 syncs failed" in shown["status_message"]
    assert "503" in shown["status_message"]
    # Back-off: 1, 2, then 4 minutes.
    assert [round(w.total_seconds() / 60) for w in waits] == [1, 2, 4]

    # Still scheduled: once its back-off has passed, the scheduler runs it again.
    qbo.realm.configure(error_rate=0.0)
    with write_transaction(env.engine) as conn:
        conn.execute(
            sa.update(sync_state)
            .where(sync_state.c.connection_id == qbo.connection_id)
            .values(next_run_at=utcnow() - timedelta(seconds=1))
        )
    scheduler = Scheduler(env)
    assert len(await scheduler.tick()) == 1
    await scheduler.drain()
    shown = app_client.get(f"/connections/{qbo.connection_id}").json()
    assert (shown["status"], shown["status_message"]) == ("active", None)
    assert shown["consecutive_failures"] == 0
    assert "503" in shown["last_error"]  # kept as history
    assert _next_run_in(env, qbo.connection_id) > timedelta(minutes=59)


@pytest.mark.parametrize(
    ("failures", "minutes"),
    [(1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (50, 60)],  # doubles, capped at an hour
)
def test_back_off_grows_and_is_capped(failures: int, minutes: int) -> None:
    assert health.retry_delay(failures) == timedelta(minutes=minutes)


async def test_needs_reauth_is_not_turned_into_error(qbo: SyncSetup, env: SyncEnvironment) -> None:
    with write_transaction(env.engine) as conn:
        conn.execute(
            sa.text("UPDATE connections SET status = 'needs_reauth' WHERE id = :id"),
            {"id": qbo.connection_id},
        )
        for _ in range(health.ERROR_AFTER_FAILURES + 1):
            health.run_failed(conn, qbo.connection_id, "refused", utcnow())
        assert get_connection(conn, qbo.connection_id).status == "needs_reauth"


async def test_the_scheduler_fails_the_runs_of_a_dead_process_once_its_lease_expires(
    qbo: SyncSetup, env: SyncEnvironment
) -> None:
    now = utcnow()
    with write_transaction(env.engine) as conn:
        run = runs.enqueue(conn, qbo.connection_id, full=True, trigger="schedule", now=now)
        runs.update_run(conn, run.id, status=runs.RunStatus.RUNNING, started_at=now, owner="gone:1")
        leases.take_request(conn, qbo.connection_id)  # as a starting run does
        conn.execute(  # its process died: nobody renews the lease, and no run is due
            sa.update(sync_state)
            .where(sync_state.c.connection_id == qbo.connection_id)
            .values(
                lease_owner="gone:1",
                lease_expires_at=now + timedelta(seconds=30),
                next_run_at=now + timedelta(hours=1),
            )
        )
    scheduler = Scheduler(env)
    assert await scheduler.tick() == []
    with read_transaction(env.engine) as conn:
        assert runs.get_run(conn, run.id).status == "running"  # the lease is still live
    env.clock = lambda: now + timedelta(seconds=31)
    assert await scheduler.tick() == []  # nothing due: only the dead run is dealt with
    with read_transaction(env.engine) as conn:
        dead = runs.get_run(conn, run.id)
        lease = conn.execute(
            sa.select(sync_state.c.lease_owner).where(
                sync_state.c.connection_id == qbo.connection_id
            )
        ).scalar_one()
    assert dead.status == "failed"
    assert str(dead.error).startswith("interrupted")
    assert lease is None


def test_run_ids_are_never_reused_after_a_connection_is_deleted(qbo: SyncSetup) -> None:
    engine, cipher = qbo.app.state.databases.main, qbo.app.state.cipher
    now = utcnow()
    with write_transaction(engine) as conn:
        for _ in range(3):
            last = runs.enqueue(conn, qbo.connection_id, full=True, trigger="api", now=now)
            runs.update_run(conn, last.id, status=runs.RunStatus.SUCCEEDED)
        delete_connection(conn, qbo.connection_id)
        assert conn.execute(sa.select(sa.func.count()).select_from(sync_runs)).scalar() == 0
        other = create_connection(
            conn,
            cipher,
            provider="qbd",
            base_url="http://127.0.0.1:1/sandbox/conductor/v1",
            credentials={"api_key": "sk_x", "end_user_id": "end_usr_x"},
            sync_frequency_s=3600,
            now=now,
        )
        first = runs.enqueue(conn, other.id, full=True, trigger="api", now=now)
    assert first.id > last.id
