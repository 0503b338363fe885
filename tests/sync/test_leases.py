"""One run per connection at a time, across processes: leases, racing schedulers, expiry
and take-over, and a run killed with SIGKILL that resumes and loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from conftest import cancel_inside
from ledgerbridge.config import Settings
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.sync import leases
from ledgerbridge.sync.engine import SyncBusyError, SyncEnvironment, run_sync
from ledgerbridge.sync.runs import SyncRunInfo
from ledgerbridge.sync.scheduler import Scheduler
from ledgerbridge.tables import sync_runs
from ledgerbridge.unified.records import WriteCounts
from providers.qbo.live_sync import SyncSetup, seed_realm

pytestmark = pytest.mark.anyio


def _runs(app: FastAPI, connection_id: str) -> list[sa.Row[tuple[str, str, int]]]:
    with read_transaction(app.state.databases.main) as conn:
        return list(
            conn.execute(
                sa.select(sync_runs.c.status, sync_runs.c.kind, sync_runs.c.pages)
                .where(sync_runs.c.connection_id == connection_id)
                .order_by(sync_runs.c.id)
            )
        )


async def test_racing_schedulers_start_one_run(qbo: SyncSetup, env: SyncEnvironment) -> None:
    seed_realm(qbo.app, 30)
    rivals = [
        Scheduler(SyncEnvironment(env.engine, env.cipher, env.http, env.connector_settings))
        for _ in range(4)
    ]
    started = await asyncio.gather(*(s.tick() for s in rivals))
    assert sum(len(tasks) for tasks in started) == 1
    for scheduler in rivals:
        await scheduler.drain()
    assert [(r.status, r.kind) for r in _runs(qbo.app, qbo.connection_id)] == [
        ("succeeded", "full")
    ]
    # Done and not due again for an hour: nobody starts another.
    again = await asyncio.gather(*(s.tick() for s in rivals))
    assert sum(len(tasks) for tasks in again) == 0


async def test_a_live_lease_refuses_and_an_expired_one_is_taken_over(
    qbo: SyncSetup, env: SyncEnvironment
) -> None:
    seed_realm(qbo.app, 20)
    with write_transaction(env.engine) as conn:
        assert leases.claim(
            conn, qbo.connection_id, "other:1", now=utcnow(), ttl=timedelta(minutes=5)
        )
    with pytest.raises(SyncBusyError, match="other:1"):
        await run_sync(env, qbo.connection_id)
    with write_transaction(env.engine) as conn:
        assert leases.renew(
            conn, qbo.connection_id, "other:1", now=utcnow(), ttl=timedelta(seconds=-1)
        )
    run = await run_sync(env, qbo.connection_id)
    assert run.status == "succeeded"


def _cli_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "LEDGERBRIDGE_DATA_DIR": str(settings.data_dir),
        "LEDGERBRIDGE_DATABASE_URL": settings.main_database_url,
        "LEDGERBRIDGE_SANDBOX_DATABASE_URL": settings.sandbox_url,
        "LEDGERBRIDGE_SYNC_PAGE_SIZE": "20",
    }


@pytest.mark.slow
async def test_a_killed_run_resumes_and_loses_nothing(
    qbo: SyncSetup, env: SyncEnvironment, settings: Settings
) -> None:
    seed_realm(qbo.app, 600)  # 30 pages of 20
    qbo.realm.configure(latency_ms=300)
    command = [sys.executable, "-m", "ledgerbridge", "sync", qbo.connection_id]
    errors = settings.data_dir / "sync-stderr.txt"
    with errors.open("w") as stderr:
        process = subprocess.Popen(  # noqa: ASYNC220 - a real process, to kill it for real
            command, env=_cli_env(settings), stdout=subprocess.DEVNULL, stderr=stderr
        )
    deadline = time.monotonic() + 60
    try:
        while True:
            runs_now = _runs(qbo.app, qbo.connection_id)
            if runs_now and runs_now[0].pages >= 3:
                break
            assert process.poll() is None, errors.read_text()
            assert time.monotonic() < deadline, "the sync never saved a page"
            await asyncio.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    killed = _runs(qbo.app, qbo.connection_id)[0]
    assert killed.status == "running"
    assert killed.pages < 30

    qbo.realm.configure(latency_ms=0)
    env.lease_ttl = timedelta(seconds=60)
    with write_transaction(env.engine) as conn:  # the dead process's lease runs out
        leases.renew(
            conn, qbo.connection_id, _lease_owner(qbo), now=utcnow(), ttl=timedelta(seconds=-1)
        )
    resumed = await run_sync(env, qbo.connection_id)
    assert (resumed.status, resumed.kind) == ("succeeded", "full")
    assert resumed.pages + killed.pages <= 31, "resumed from the last saved page"
    statuses = [r.status for r in _runs(qbo.app, qbo.connection_id)]
    assert statuses == ["failed", "succeeded"]
    interrupted = qbo.records()

    qbo.connection_id = qbo.connect_again()
    await run_sync(env, qbo.connection_id)
    uninterrupted = qbo.records()
    assert {k: r.payload for k, r in interrupted.items()} == {
        k: r.payload for k, r in uninterrupted.items()
    }
    assert len(interrupted) == 600


def _lease_owner(qbo: SyncSetup) -> str:
    from ledgerbridge.tables import sync_state

    with read_transaction(qbo.app.state.databases.main) as conn:
        owner = conn.execute(
            sa.select(sync_state.c.lease_owner).where(
                sync_state.c.connection_id == qbo.connection_id
            )
        ).scalar_one()
    assert owner is not None
    return str(owner)


@pytest.mark.slow
def test_two_worker_processes_run_a_due_connection_once(qbo: SyncSetup, settings: Settings) -> None:
    seed_realm(qbo.app, 50)
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "ledgerbridge", "worker"],
            env=_cli_env(settings),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 60
        while not any(r.status == "succeeded" for r in _runs(qbo.app, qbo.connection_id)):
            assert all(w.poll() is None for w in workers), "a worker died"
            assert time.monotonic() < deadline, "no worker ran the sync"
            time.sleep(0.1)
        time.sleep(1.0)  # room for a second run, if the lease let one through
        for worker in workers:  # what systemd, Docker and Kubernetes send
            worker.send_signal(signal.SIGTERM)
        assert [worker.wait(timeout=20) for worker in workers] == [0, 0]
    finally:
        for worker in workers:  # never leave one running, whatever happened
            worker.kill()
            worker.wait()
    assert [(r.status, r.kind) for r in _runs(qbo.app, qbo.connection_id)] == [
        ("succeeded", "full")
    ]
    assert len(qbo.records()) == 50


@pytest.mark.slow
async def test_a_cancelled_run_is_recorded_releases_its_lease_and_resumes(
    qbo: SyncSetup, env: SyncEnvironment
) -> None:
    seed_realm(qbo.app, 300)
    qbo.realm.configure(latency_ms=100)
    saved = asyncio.Event()

    class FirstPage:
        def begin(self, run: SyncRunInfo) -> None:
            pass

        def advance(self, *, records: int, total: int | None, counts: WriteCounts) -> None:
            saved.set()

    task = asyncio.create_task(run_sync(env, qbo.connection_id, progress=FirstPage()))
    await saved.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with read_transaction(env.engine) as conn:
        assert leases.holder(conn, qbo.connection_id, now=utcnow()) is None
        error = conn.execute(sa.select(sync_runs.c.error)).scalar_one()
    assert error.startswith("cancelled")
    qbo.realm.configure(latency_ms=0)
    resumed = await run_sync(env, qbo.connection_id)
    assert (resumed.status, resumed.kind) == ("succeeded", "full")
    assert len(qbo.records()) == 300


@pytest.mark.parametrize(
    ("statement", "pages"),
    [("INSERT INTO sync_runs", 0), ("UPDATE sync_runs SET pages", 1)],
    ids=["starting", "saving-a-page"],
)
async def test_a_run_cancelled_inside_a_transaction_waits_for_it_then_records_it(
    qbo: SyncSetup, env: SyncEnvironment, statement: str, pages: int
) -> None:
    """A native `task.cancel()` (what stopping a worker or a server does) does not wait for
    a thread by itself: the run must let the transaction in flight (the run's start, a
    page's save) end before it records itself cancelled, or the two race: on PostgreSQL
    they lock the run and the connection's state in opposite orders and one is aborted as
    a deadlock, leaving the run `running`; a run stopped as it began was left `running`
    with its lease held."""
    seed_realm(qbo.app, 120)
    inside, events = threading.Event(), []

    def slow(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if sql.startswith(statement) and not inside.is_set():
            inside.set()
            time.sleep(0.5)  # the transaction, still open, when the cancel comes
            events.append("transaction ended")

    sa.event.listen(env.engine, "before_cursor_execute", slow)
    try:
        await cancel_inside(run_sync(env, qbo.connection_id), inside)
        events.append("run returned")
    finally:
        sa.event.remove(env.engine, "before_cursor_execute", slow)
    assert events == ["transaction ended", "run returned"]
    assert [(r.status, r.pages) for r in _runs(qbo.app, qbo.connection_id)] == [("failed", pages)]
    with read_transaction(env.engine) as conn:
        assert leases.holder(conn, qbo.connection_id, now=utcnow()) is None
        error = conn.execute(sa.select(sync_runs.c.error)).scalar_one()
    assert error.startswith("cancelled")
    resumed = await run_sync(env, qbo.connection_id)
    assert (resumed.status, resumed.kind) == ("succeeded", "full")
    assert len(qbo.records()) == 120


@pytest.mark.parametrize("ignore_sigint", [False, True], ids=["plain", "nohup"])
def test_sigterm_stops_a_worker_mid_run_and_records_it_interrupted(
    qbo: SyncSetup, settings: Settings, ignore_sigint: bool
) -> None:
    seed_realm(qbo.app, 600)  # 30 pages of 20
    qbo.realm.configure(latency_ms=200)
    worker = subprocess.Popen(
        [sys.executable, "-m", "ledgerbridge", "worker"],
        env=_cli_env(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # As under `nohup`: SIGINT ignored, which Ctrl+C handling alone cannot stop.
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        if ignore_sigint
        else None,
    )
    try:
        deadline = time.monotonic() + 60
        while not (found := _runs(qbo.app, qbo.connection_id)) or found[0].pages < 2:
            assert worker.poll() is None, "the worker died"
            assert time.monotonic() < deadline, "the worker never saved a page"
            time.sleep(0.05)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        worker.kill()
        worker.wait()
    (stopped,) = _runs(qbo.app, qbo.connection_id)
    assert stopped.status == "failed"
    assert stopped.pages < 30
    with read_transaction(qbo.app.state.databases.main) as conn:
        error = conn.execute(sa.select(sync_runs.c.error)).scalar_one()
        assert leases.holder(conn, qbo.connection_id, now=utcnow()) is None
    assert error.startswith("cancelled")
