"""The scheduler: starts the runs that are due, in any number of processes at once.

Each tick leases due connections (`leases.claim_due`) and runs them as tasks; a connection
is due when a run was asked for (`POST /connections/{id}/sync`) or its `sync_frequency` has
passed since the last run. Leases keep two schedulers from ever running one connection
twice, and a dead scheduler's leases expire and are taken over.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools

from anyio import to_thread
from sqlalchemy.engine import Connection

from ledgerbridge.db import write_transaction
from ledgerbridge.observability import metrics
from ledgerbridge.observability.logs import get_logger
from ledgerbridge.sync import leases, runs
from ledgerbridge.sync.engine import SyncEnvironment, run_sync
from ledgerbridge.sync.runs import SyncRunInfo

log = get_logger(__name__)


class Scheduler:
    def __init__(
        self, env: SyncEnvironment, *, poll_interval: float = 5.0, max_parallel: int = 4
    ) -> None:
        self.env = env
        self.poll_interval = poll_interval
        self.max_parallel = max_parallel
        self._wake = asyncio.Event()
        self._running: dict[str, asyncio.Task[SyncRunInfo]] = {}

    def wake(self) -> None:
        """Look for due runs now instead of at the next poll (a run was just asked for)."""
        self._wake.set()

    def _claim(self, limit: int) -> list[str]:
        env = self.env
        with write_transaction(env.engine) as conn:
            self._reclaim_expired(conn)
            return leases.claim_due(
                conn, env.owner, now=env.clock(), ttl=env.lease_ttl, limit=limit
            )

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
            return []
        started = []
        for connection_id in await to_thread.run_sync(self._claim, room):
            task = asyncio.create_task(
                run_sync(self.env, connection_id, trigger="schedule", leased=True),
                name=f"sync {connection_id}",
            )
            self._running[connection_id] = task
            task.add_done_callback(functools.partial(self._done, connection_id))
            started.append(task)
        return started

    def _done(self, connection_id: str, task: asyncio.Task[SyncRunInfo]) -> None:
        self._running.pop(connection_id, None)
        if task.cancelled():
            return
        if (error := task.exception()) is not None:
            log.error("sync crashed", connection_id=connection_id, exc_info=error)
        self._wake.set()  # room for another run

    async def run_forever(self) -> None:
        """Tick until cancelled; running syncs are cancelled with it (and marked failed)."""
        try:
            while True:
                try:
                    await self.tick()
                except Exception:  # a database hiccup must not stop the scheduler
                    log.exception("scheduler tick failed")
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
        finally:
            tasks = list(self._running.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def drain(self) -> None:
        """Wait for the runs started so far (tests and the demo)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)
