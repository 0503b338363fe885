"""The scheduler: starts the runs that are due, in any number of processes at once.

Each tick leases due connections (`leases.claim_due`, one batch of up to the free room in
one transaction) and runs them as tasks; a connection is due when a run was asked for
(`POST /connections/{id}/sync`, served first) or its `sync_frequency` has passed since the
last run (served oldest first). Leases keep two schedulers from ever running one
connection twice, and a dead scheduler's leases expire and are taken over.

Between ticks a scheduler with room sleeps until the next connection falls due, never
longer than `poll_interval` (which bounds how late a run asked for through another
process starts), plus a random jitter so workers started together do not wake together.
It sleeps at least a floor though: when connections fall due every few milliseconds (ten
thousand every five minutes is 33 a second), one claim then leases the few that fell due
meanwhile instead of a claim per run. The floor adapts to the scheduler's share of the due
work: it starts at `min_tick`, doubles (up to `max_tick`) after a claim that leased fewer
than `claim_target` runs, and drops back after one that leased that many. A claim costs
the database about as much as a run does, whatever it finds: with a fixed 0.1 s floor each
worker claimed about ten times a second however small its share, and PostgreSQL's CPU a run
grew with the number of workers (`scheduler_bench --quick`, 1,000 due a minute: 4.1, 5.8
and 9.7 ms a run with 1, 2 and 4 workers, the same with the rounds in either order; with
this floor 3.7, 4.7 and 6.2 ms, start delay p95 0.25, 0.21 and 0.17 s against 0.14, 0.12
and 0.10). `max_tick` bounds what the floor adds to a run's start delay. A finished run
wakes a scheduler that had no room at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection

from ledgerbridge.config import Settings
from ledgerbridge.db import write_transaction
from ledgerbridge.observability import metrics
from ledgerbridge.observability.logs import get_logger
from ledgerbridge.sync import leases, runs
from ledgerbridge.sync.engine import SyncEnvironment, run_sync
from ledgerbridge.sync.retention import RunRetention, prune_runs
from ledgerbridge.sync.runs import SyncRunInfo
from ledgerbridge.threads import in_thread

log = get_logger(__name__)

RECLAIM_EVERY = timedelta(seconds=1)
"""How often a scheduler looks for expired leases to free (not at every claim: a claim
takes an expired lease anyway, and the run that starts fails the dead one's run)."""


@dataclass(frozen=True)
class SchedulerSettings:
    """How one process schedules: runs at once, the longest sleep between looks for due
    work, the bounds of the adaptive shortest one and the runs a claim aims to lease, the
    jitter added to each sleep, and run history retention."""

    max_parallel: int = 16
    poll_interval: float = 1.0
    min_tick: float = 0.1
    max_tick: float = 0.4
    claim_target: int = 2
    jitter: float = 0.05
    retention: RunRetention = field(default_factory=RunRetention)
    prune_every: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SchedulerSettings:
        """What the process settings (`LEDGERBRIDGE_WORKER_*`, `LEDGERBRIDGE_RUN_RETENTION_*`)
        choose."""
        return cls(
            max_parallel=settings.worker_max_parallel,
            poll_interval=settings.worker_poll_interval,
            retention=RunRetention(
                days=settings.run_retention_days, keep=settings.run_retention_keep
            ),
        )


class Scheduler:
    def __init__(self, env: SyncEnvironment, settings: SchedulerSettings | None = None) -> None:
        self.env = env
        self.settings = settings or SchedulerSettings()
        self._wake = asyncio.Event()
        self._running: dict[str, asyncio.Task[SyncRunInfo]] = {}
        self._next_due: datetime | None = None
        self._floor = self.settings.min_tick
        """The shortest sleep between claims now (see the module's docstring)."""
        self._full = False
        """The last tick used all the room: a finished run wakes the scheduler."""
        self._pruned_at = -float("inf")
        self._reclaimed_at: datetime | None = None

    @property
    def max_parallel(self) -> int:
        return self.settings.max_parallel

    def wake(self) -> None:
        """Look for due runs now instead of at the next poll (a run was just asked for)."""
        self._wake.set()

    def _claim(self, limit: int) -> list[str]:
        """One transaction: free expired leases, lease up to `limit` due connections, and
        note when the next one falls due."""
        env, now = self.env, self.env.clock()
        with write_transaction(env.engine) as conn:
            if self._reclaimed_at is None or now - self._reclaimed_at >= RECLAIM_EVERY:
                self._reclaim_expired(conn)
                self._reclaimed_at = now
            claimed = leases.claim_due(conn, env.owner, now=now, ttl=env.lease_ttl, limit=limit)
            self._full = len(claimed) >= limit  # no room left: a finished run wakes us
            self._next_due = None if self._full else leases.next_due_at(conn, now=now)
            return claimed

    def _release(self, claimed: list[str]) -> None:
        if not claimed:
            return
        with write_transaction(self.env.engine) as conn:
            leases.release(conn, claimed, self.env.owner)

    def _reclaim_expired(self, conn: Connection) -> None:
        """Runs whose process died hold a lease nobody renews: once it expires, free it
        and mark those runs failed (interrupted) now, not at the connection's next run."""
        now = self.env.clock()
        expired = leases.reclaim_expired(conn, now=now)
        if not expired:
            return
        interrupted = runs.fail_interrupted(conn, *expired, now=now)
        metrics.LEASE_TAKEOVERS.inc(len(expired))
        metrics.INTERRUPTED_RUNS.inc(interrupted)
        log.warning(
            "expired leases reclaimed",
            connections=expired,
            interrupted_runs=interrupted,
        )

    async def tick(self) -> list[asyncio.Task[SyncRunInfo]]:
        """Start every due run there is room for; returns their tasks."""
        room = self.max_parallel - len(self._running)
        if room <= 0:
            self._next_due, self._full = None, True
            return []
        # Stopped while the claim's thread runs, it commits all the same: its leases are
        # handed back (another worker starts those runs now, not once they expire).
        claimed = await in_thread(self._claim, room, undo=self._release)
        self._adapt_floor(len(claimed), room)
        started = []
        for connection_id in claimed:
            task = asyncio.create_task(
                run_sync(self.env, connection_id, trigger="schedule", leased=True),
                name=f"sync {connection_id}",
            )
            self._running[connection_id] = task
            task.add_done_callback(functools.partial(self._done, connection_id))
            started.append(task)
        return started

    def _adapt_floor(self, claimed: int, room: int) -> None:
        """A claim that leased its target (or all the room) brings the floor back to
        `min_tick`; one that leased less doubles it, up to `max_tick`."""
        settings = self.settings
        if claimed >= min(settings.claim_target, room):
            self._floor = settings.min_tick
        else:
            self._floor = min(self._floor * 2, settings.max_tick)

    def _sleep_s(self) -> float:
        """Until the next connection falls due, between the floor and `poll_interval`,
        plus jitter."""
        sleep = self.settings.poll_interval
        if self._next_due is not None:
            until_due = (self._next_due - self.env.clock()).total_seconds()
            sleep = min(sleep, max(until_due, self._floor))
        return sleep + random.uniform(0.0, self.settings.jitter)

    def _prune(self) -> int:
        with write_transaction(self.env.engine) as conn:
            return prune_runs(conn, self.settings.retention, now=self.env.clock())

    async def prune_history(self) -> int:
        """Delete one batch of expired run history when it is time; a full batch means
        more is waiting, so the next tick prunes again."""
        if time.monotonic() - self._pruned_at < self.settings.prune_every:
            return 0
        pruned = await in_thread(self._prune)
        if pruned < self.settings.retention.batch:
            self._pruned_at = time.monotonic()
        if pruned:
            log.info("run history pruned", runs=pruned)
        return pruned

    def _done(self, connection_id: str, task: asyncio.Task[SyncRunInfo]) -> None:
        self._running.pop(connection_id, None)
        if task.cancelled():
            return
        if (error := task.exception()) is not None:
            log.error("sync crashed", connection_id=connection_id, exc_info=error)
        if self._full:
            self._wake.set()  # room for another run

    async def run_forever(self) -> None:
        """Tick until cancelled; running syncs are cancelled with it (and marked failed)."""
        try:
            while True:
                self._wake.clear()  # before the tick: a wake during it is not lost
                try:
                    await self.tick()
                    await self.prune_history()
                except Exception:  # a database hiccup must not stop the scheduler
                    log.exception("scheduler tick failed")
                    self._next_due = None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._sleep_s())
        finally:
            tasks = list(self._running.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def drain(self) -> None:
        """Wait for the runs started so far (tests and the demo)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)
