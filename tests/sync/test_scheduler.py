"""Scheduling many connections: requested runs first, then the oldest due; batched claims
that never lease one connection twice; runs started at their due time rather than at the
next poll; claims that never read run history; and run history retention."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from conftest import cancel_inside, sync_environment
from ledgerbridge.connections import create_connection
from ledgerbridge.db import is_sqlite, read_transaction, utcnow, write_transaction
from ledgerbridge.sync import leases, runs
from ledgerbridge.sync.retention import RunRetention, prune_runs
from ledgerbridge.sync.scheduler import Scheduler, SchedulerSettings
from ledgerbridge.tables import connections, sync_runs, sync_state

pytestmark = pytest.mark.anyio

TTL = timedelta(minutes=5)


def _connections(app: FastAPI, count: int, *, due: list[timedelta] | None = None) -> list[str]:
    """`count` Conductor connections to a port nobody listens on (a run fails at once),
    each due at now + due[i] (default: already due)."""
    engine, now = app.state.databases.main, utcnow()
    ids = []
    with write_transaction(engine) as conn:
        for i in range(count):
            info = create_connection(
                conn,
                app.state.cipher,
                provider="qbd",
                base_url="http://127.0.0.1:9/sandbox/conductor/v1",
                credentials={"api_key": "sk_x", "end_user_id": f"end_usr_{i}"},
                sync_frequency_s=3600,
                now=now,
            )
            offset = due[i] if due else timedelta(seconds=-1)
            leases.schedule(conn, info.id, now + offset)
            ids.append(info.id)
    return ids


def _claim(engine: Engine, owner: str, limit: int, now: datetime | None = None) -> list[str]:
    with write_transaction(engine) as conn:
        return leases.claim_due(conn, owner, now=now or utcnow(), ttl=TTL, limit=limit)


def test_requested_runs_come_first_then_the_oldest_due(app: FastAPI) -> None:
    minutes = [-5, -1, -3, -10, 30, 30]
    ids = _connections(app, len(minutes), due=[timedelta(minutes=m) for m in minutes])
    engine = app.state.databases.main
    with write_transaction(engine) as conn:  # asked for by hand, though not due for 30 min
        runs.enqueue(conn, ids[4], full=False, trigger="api", now=utcnow())
    assert _claim(engine, "a", 3) == [ids[4], ids[3], ids[0]]
    assert _claim(engine, "b", 10) == [ids[2], ids[1]]  # never one already leased
    assert _claim(engine, "c", 10) == []  # ids[5] is not due


def test_racing_batched_claims_lease_each_due_connection_once(app: FastAPI) -> None:
    ids = _connections(app, 40)
    engine, claimed, lock = app.state.databases.main, [], threading.Lock()

    def claimer(owner: str) -> None:
        while batch := _claim(engine, owner, 3):
            with lock:
                claimed.extend(batch)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(ids)  # every one, none twice


def test_a_started_run_takes_the_request(app: FastAPI) -> None:
    (connection_id,) = _connections(app, 1, due=[timedelta(hours=1)])
    engine = app.state.databases.main
    with write_transaction(engine) as conn:
        runs.enqueue(conn, connection_id, full=True, trigger="api", now=utcnow())
    assert _claim(engine, "a", 5) == [connection_id]
    with write_transaction(engine) as conn:
        leases.take_request(conn, connection_id)  # what the run does as it starts
        leases.release(conn, [connection_id], "a")
    assert _claim(engine, "b", 5) == []  # served; not due for an hour


async def test_a_scheduler_stopped_while_claiming_hands_its_claim_back(app: FastAPI) -> None:
    """The claim's thread commits even when the scheduler is stopped meanwhile (a worker's
    SIGTERM): what it leased is handed back, so another worker starts those runs now, not
    once the leases expire."""
    ids = _connections(app, 3)
    claiming, go_on = threading.Event(), threading.Event()

    class HeldInItsClaim(Scheduler):
        def _claim(self, limit: int) -> list[str]:
            claiming.set()
            go_on.wait(10)
            return super()._claim(limit)

    async with sync_environment(app) as env:
        held = HeldInItsClaim(env)
        await cancel_inside(held.tick(), claiming, go_on)
        assert held._running == {}
    assert sorted(_claim(app.state.databases.main, "another worker", 10)) == sorted(ids)


async def test_a_run_starts_at_its_due_time_not_at_the_next_poll(app: FastAPI) -> None:
    (connection_id,) = _connections(app, 1, due=[timedelta(seconds=0.6)])
    with read_transaction(app.state.databases.main) as conn:
        due = conn.execute(
            sa.select(sync_state.c.next_run_at).where(sync_state.c.connection_id == connection_id)
        ).scalar_one()
    async with sync_environment(app) as env:
        scheduler = Scheduler(env, SchedulerSettings(poll_interval=30.0, jitter=0.01))
        loop = asyncio.create_task(scheduler.run_forever())
        try:
            for _ in range(100):
                with read_transaction(env.engine) as conn:
                    started = conn.execute(
                        sa.select(sync_runs.c.started_at).where(
                            sync_runs.c.connection_id == connection_id
                        )
                    ).scalar_one_or_none()
                if started is not None:
                    break
                await asyncio.sleep(0.05)
        finally:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
    assert started is not None, "the scheduler slept through the due time"
    assert timedelta(0) <= started - due < timedelta(seconds=0.5)


async def test_the_claim_floor_grows_while_claims_lease_little(app: FastAPI) -> None:
    """Claims that lease fewer runs than their target space themselves out (doubling, up to
    `max_tick`), so a worker does not claim ten times a second for a share of one run each;
    a claim that leases its target brings the floor back at once."""
    settings = SchedulerSettings(min_tick=0.1, max_tick=0.4, claim_target=2, jitter=0.0)
    async with sync_environment(app) as env:
        scheduler = Scheduler(env, settings)
        floors = []
        for _ in range(3):  # nothing due: each claim leases nothing
            assert await scheduler.tick() == []
            floors.append(scheduler._floor)
        assert floors == [0.2, 0.4, 0.4]
        _connections(app, 1)
        assert len(await scheduler.tick()) == 1  # one of a target of two: still spaced out
        assert scheduler._floor == 0.4
        _connections(app, 3, due=[timedelta(seconds=0.3)] * 3)
        assert await scheduler.tick() == []  # not due yet, but soon: the floor binds
        assert scheduler._sleep_s() == pytest.approx(0.4, abs=0.05)
        await asyncio.sleep(0.35)
        assert len(await scheduler.tick()) == 3
        assert scheduler._floor == 0.1
        await scheduler.drain()


def test_claims_read_no_run_history(app: FastAPI) -> None:
    """Finding due work must cost the same with 25,600 past runs as with none."""
    (connection_id,) = _connections(app, 1)
    engine, now = app.state.databases.main, utcnow()
    _finished_runs(engine, connection_id, [1] * 100)
    copied = [c for c in sync_runs.c if c.name != "id"]
    with write_transaction(engine) as conn:
        for _ in range(8):  # doubled eight times, in the database
            conn.execute(sa.insert(sync_runs).from_select(copied, sa.select(*copied)))
    with write_transaction(engine) as conn:
        explain = "EXPLAIN QUERY PLAN" if is_sqlite(conn) else "EXPLAIN"
        for query in leases.due_queries(now, 100):
            compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
            plan = "\n".join(str(row) for row in conn.exec_driver_sql(f"{explain} {compiled}"))
            assert "sync_state" in plan
            assert "sync_runs" not in plan, plan
    assert _claim(engine, "a", 10) == [connection_id]


def _many_due(app: FastAPI, count: int) -> None:
    """`count` more due connections, copies of one made the usual way, written in bulk."""
    (model,) = _connections(app, 1)
    engine = app.state.databases.main
    with write_transaction(engine) as conn:
        row = conn.execute(sa.select(connections).where(connections.c.id == model)).one()
        state = conn.execute(sa.select(sync_state).where(sync_state.c.connection_id == model)).one()
        ids = [f"{model}_{i}" for i in range(count)]
        conn.execute(
            sa.insert(connections),
            [{**row._asdict(), "id": id_, "end_user_id": None} for id_ in ids],
        )
        conn.execute(
            sa.insert(sync_state), [{**state._asdict(), "connection_id": id_} for id_ in ids]
        )


def test_a_claim_reads_connections_only_by_key_even_without_statistics(app: FastAPI) -> None:
    """With no statistics for its tables (a PostgreSQL server without autovacuum, or before
    its first pass), finding due work reads each candidate's connection by its key, and
    scheduled work through the due index in due order. (Joined, PostgreSQL guessed three
    schedulable connections, read every one and probed `sync_state` for each, at every
    claim: a cost growing with the number of connections.)"""
    _many_due(app, 2_000)
    engine, now = app.state.databases.main, utcnow()
    requested, due = leases.due_queries(now, 32)
    with write_transaction(engine) as conn:
        sqlite = is_sqlite(conn)
        explain = "EXPLAIN QUERY PLAN" if sqlite else "EXPLAIN"
        plans = []
        for query in (requested, due):
            compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
            plans.append("\n".join(str(r) for r in conn.exec_driver_sql(f"{explain} {compiled}")))
    for plan in plans:
        assert ("SCAN connections" if sqlite else "Seq Scan on connections") not in plan, plan
    assert "ix_sync_state_due" in plans[1], plans[1]
    assert len(_claim(engine, "a", 32)) == 32


def _finished_runs(engine: Engine, connection_id: str, ages_days: list[int]) -> list[int]:
    now, ids = utcnow(), []
    with write_transaction(engine) as conn:
        for age in ages_days:
            at = now - timedelta(days=age)
            run = runs.enqueue(conn, connection_id, full=False, trigger="schedule", now=at)
            runs.update_run(conn, run.id, status=runs.RunStatus.SUCCEEDED, finished_at=at)
            ids.append(run.id)
    return ids


def test_retention_keeps_recent_runs_and_each_connections_latest(app: FastAPI) -> None:
    busy, quiet = _connections(app, 2)
    engine = app.state.databases.main
    old = _finished_runs(engine, busy, [40] * 25)  # older than 30 days
    recent = _finished_runs(engine, busy, [1] * 5)
    quiet_runs = _finished_runs(engine, quiet, [90] * 3)  # old, but its latest three
    with write_transaction(engine) as conn:
        waiting = runs.enqueue(conn, quiet, full=False, trigger="api", now=utcnow() - TTL * 9999)
    retention = RunRetention(days=30, keep=20, batch=4)
    pruned = []
    while True:
        with write_transaction(engine) as conn:
            count = prune_runs(conn, retention, now=utcnow())
        if not count:
            break
        assert count <= retention.batch  # small batches
        pruned.append(count)
    with read_transaction(engine) as conn:
        left = set(conn.execute(sa.select(sync_runs.c.id)).scalars())
    # The busy connection keeps its latest 20 (+ the waiting run); the 10 oldest go.
    assert left == {*old[10:], *recent, *quiet_runs, waiting.id}
    assert pruned == [4, 4, 2]
