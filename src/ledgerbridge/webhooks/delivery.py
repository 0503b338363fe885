"""The deliverer: the loop every worker process (and `serve`, with its scheduler) runs to
send pending webhook deliveries, signed, and record each attempt.

At least once: a delivery is marked succeeded only after its receiver answered 2xx, in a
transaction after the request; a worker killed in between leaves a lease that expires,
and another worker sends the same event (same id) again. Failures are retried with
exponential back-off and full jitter (AWS's "Exponential Backoff And Jitter": a random
wait up to the doubled delay, so many failing deliveries do not retry in step), from
`retry_base` doubling to `retry_cap`, until `retry_window` has passed since the event;
then the delivery fails and its subscription is disabled with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy.engine import Engine

from ledgerbridge import __version__
from ledgerbridge.config import Settings
from ledgerbridge.crypto import CredentialCipher
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.observability import metrics
from ledgerbridge.observability.logs import get_logger
from ledgerbridge.threads import in_thread
from ledgerbridge.tls import tls_context
from ledgerbridge.webhooks import deliveries, subscriptions
from ledgerbridge.webhooks.deliveries import AttemptResult, Claimed
from ledgerbridge.webhooks.events import DeliveryStatus, event_body
from ledgerbridge.webhooks.signing import SIGNATURE_HEADER, sign

log = get_logger("ledgerbridge.webhooks")


BACKLOG_EVERY_S = 5.0
"""How often a deliverer counts the pending deliveries for the backlog gauge."""


@dataclass(frozen=True)
class DeliveryPolicy:
    """How hard, how long and how fast to try (the `LEDGERBRIDGE_WEBHOOK_*` settings)."""

    retry_window: timedelta = timedelta(days=3)
    retry_base: timedelta = timedelta(seconds=30)
    retry_cap: timedelta = timedelta(hours=1)
    timeout_s: float = 10.0
    lease_ttl: timedelta = timedelta(seconds=60)
    """Longer than a request can take (`timeout_s`), so a live worker never loses one."""
    batch: int = 16
    poll_interval_s: float = 0.5

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryPolicy:
        return cls(
            retry_window=timedelta(seconds=settings.webhook_retry_window_s),
            retry_base=timedelta(seconds=settings.webhook_retry_base_s),
            retry_cap=timedelta(seconds=settings.webhook_retry_cap_s),
            timeout_s=settings.webhook_timeout_s,
            lease_ttl=timedelta(seconds=settings.webhook_lease_s),
        )

    def retry_in(self, failures: int, rng: random.Random) -> timedelta:
        """The wait after the `failures`-th failure in a row (>= 1): full jitter over
        `retry_base * 2**(failures-1)`, capped at `retry_cap`, never under a tenth of it."""
        ceiling: timedelta = min(self.retry_base * 2 ** min(failures - 1, 30), self.retry_cap)
        return ceiling * (0.1 + 0.9 * rng.random())


def new_webhook_client(policy: DeliveryPolicy) -> httpx.AsyncClient:
    """The deliverer's own HTTP client: a receiver is the user's app, not a platform, so it
    gets its own short timeout and no redirects (a redirect is a failed delivery)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(policy.timeout_s),
        verify=tls_context(),
        follow_redirects=False,
        headers={"User-Agent": f"ledgerbridge-webhooks/{__version__}"},
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
    )


@dataclass
class Deliverer:
    """Sends due deliveries; any number may run against one database."""

    engine: Engine
    cipher: CredentialCipher
    http: httpx.AsyncClient
    owner: str
    policy: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    clock: Callable[[], datetime] = utcnow
    rng: random.Random = field(default_factory=random.Random)

    def _claim(self) -> list[tuple[Claimed, str]]:
        """Due deliveries leased to this worker, with their subscriptions' secrets."""
        with write_transaction(self.engine) as conn:
            claimed = deliveries.claim_due(
                conn,
                self.owner,
                now=self.clock(),
                ttl=self.policy.lease_ttl,
                limit=self.policy.batch,
            )
            return [
                (c, subscriptions.signing_secret(conn, self.cipher, c.subscription_id))
                for c in claimed
            ]

    async def deliver_due(self) -> int:
        """One round: claim what is due, send it all concurrently, then record every
        attempt in one transaction (one write per round, not per delivery: writers queue
        on SQLite's lock); how many were sent."""
        # Stopped while the claim's thread runs, it commits all the same: what it took is
        # handed back too (a claim that failed took nothing).
        claimed = await in_thread(self._claim, undo=self._release)
        if not claimed:
            return 0
        try:
            results = await asyncio.gather(*(self._send(c, secret) for c, secret in claimed))
        except asyncio.CancelledError:
            await in_thread(self._release, claimed)
            raise
        outcomes = [(c, result) for (c, _), result in zip(claimed, results, strict=True)]
        await in_thread(self._record, outcomes)
        return len(claimed)

    async def run_forever(self) -> None:
        """Deliver until cancelled: at once while there is work, else every poll interval.
        A database error is logged and the loop goes on."""
        counted_at = -BACKLOG_EVERY_S
        while True:
            try:
                sent = await self.deliver_due()
                if time.monotonic() - counted_at >= BACKLOG_EVERY_S:
                    await in_thread(self._report_backlog)
                    counted_at = time.monotonic()
            except Exception:
                log.exception("webhook delivery round failed; trying again")
                sent = 0
            if not sent:
                await asyncio.sleep(self.policy.poll_interval_s)

    def _release(self, claimed: list[tuple[Claimed, str]]) -> None:
        """Stopping (SIGTERM, shutdown) with a round claimed: hand it back, so another
        worker sends it now rather than after the leases expire. Best effort: should the
        database refuse, the leases expire as before, and the stop goes on (an error here
        must not turn the cancellation into a failed round the loop would carry on from)."""
        if not claimed:
            return
        try:
            with write_transaction(self.engine) as conn:
                deliveries.release(conn, [c.id for c, _ in claimed], self.owner)
        except Exception:
            log.warning("webhook round not handed back; its leases will expire", exc_info=True)

    def _report_backlog(self) -> None:
        with read_transaction(self.engine) as conn:
            metrics.WEBHOOK_BACKLOG.set(deliveries.backlog(conn))

    async def _send(self, claimed: Claimed, secret: str) -> AttemptResult:
        body = event_body(
            claimed.event_id, claimed.event_type, claimed.event_created_at, claimed.data
        )
        return await self._post(claimed.url, body, secret)

    def _record(self, outcomes: list[tuple[Claimed, AttemptResult]]) -> None:
        """Record the round's attempts, then count and log them, here in the same thread: a
        round stopped while it records (a shutdown) still counts what it recorded (counted
        after the thread, such a round was recorded but never counted or logged)."""
        with write_transaction(self.engine) as conn:
            now = self.clock()
            statuses = [
                deliveries.record_attempt(
                    conn,
                    claimed,
                    self.owner,
                    result,
                    now=now,
                    retry_in=self.policy.retry_in(claimed.attempts + 1, self.rng),
                    retry_window=self.policy.retry_window,
                )
                for claimed, result in outcomes
            ]
        for (delivered, result), status in zip(outcomes, statuses, strict=True):
            _report(delivered, result, status)

    async def _post(self, url: str, body: bytes, secret: str) -> AttemptResult:
        """One signed POST; every outcome (an answer, a time-out, a refused connection)
        becomes an `AttemptResult`, never an exception."""
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, body, int(time.time())),
        }
        started = time.monotonic()
        try:
            response = await self.http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return AttemptResult(
                status_code=None,
                latency_ms=_ms_since(started),
                response_snippet=None,
                error=f"{type(exc).__name__}: {exc}"[:500] if str(exc) else type(exc).__name__,
            )
        snippet = response.text[: deliveries.SNIPPET_CHARS]
        return AttemptResult(
            status_code=response.status_code,
            latency_ms=_ms_since(started),
            response_snippet=snippet,
            error=None if response.is_success else f"HTTP {response.status_code}",
        )


def _report(claimed: Claimed, result: AttemptResult, status: DeliveryStatus | None) -> None:
    """The attempt's metrics and log line."""
    outcome = "succeeded" if result.succeeded else "failed"
    metrics.WEBHOOK_ATTEMPTS.labels(outcome).inc()
    metrics.WEBHOOK_LATENCY.observe(result.latency_ms / 1000)
    if status == DeliveryStatus.FAILED:
        metrics.WEBHOOK_GIVEN_UP.inc()
    log.log(
        logging.INFO if result.succeeded else logging.WARNING,
        "webhook attempt",
        subscription_id=claimed.subscription_id,
        delivery_id=claimed.id,
        event_id=claimed.event_id,
        event_type=claimed.event_type,
        attempt=claimed.attempts + 1,
        status_code=result.status_code,
        latency_ms=result.latency_ms,
        error=result.error,
        outcome=outcome,
        delivery_status=status.value if status is not None else "lease_lost",
    )


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


@contextlib.asynccontextmanager
async def running_deliverer(
    engine: Engine, cipher: CredentialCipher, *, owner: str, policy: DeliveryPolicy
) -> AsyncIterator[Deliverer]:
    """A deliverer looping in the background for as long as the block lasts (the hook
    `sync/worker.py` starts next to the scheduler)."""
    async with new_webhook_client(policy) as http:
        deliverer = Deliverer(engine, cipher, http, owner, policy)
        task = asyncio.create_task(deliverer.run_forever())
        try:
            yield deliverer
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
