"""The sync service of one process: the shared HTTP client, the sync environment, the
scheduler and the webhook deliverer. `serve` runs it inside the API server; `ledgerbridge
worker` runs only it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from sqlalchemy.engine import Engine

from ledgerbridge import __version__
from ledgerbridge.crypto import CredentialCipher
from ledgerbridge.observability import metrics
from ledgerbridge.observability.logs import get_logger
from ledgerbridge.observability.provider_http import ReportingTransport
from ledgerbridge.providers.base import ConnectorSettings
from ledgerbridge.sync.engine import SyncEnvironment
from ledgerbridge.sync.scheduler import Scheduler, SchedulerSettings
from ledgerbridge.tls import tls_context
from ledgerbridge.webhooks.delivery import DeliveryPolicy, running_deliverer

log = get_logger(__name__)

# QuickBooks Online cuts requests off at 120 s; nobody else is slower.
HTTP_TIMEOUT = httpx.Timeout(120.0, connect=15.0)


def new_http_client() -> httpx.AsyncClient:
    """The one HTTP client connectors share (the transport seam); every request through it
    is logged and counted (`observability/provider_http.py`)."""
    transport = httpx.AsyncHTTPTransport(
        verify=tls_context(), limits=httpx.Limits(max_connections=64, max_keepalive_connections=32)
    )
    return httpx.AsyncClient(
        timeout=HTTP_TIMEOUT,
        transport=ReportingTransport(transport),
        headers={"User-Agent": f"ledgerbridge/{__version__}"},
    )


@dataclass
class SyncService:
    env: SyncEnvironment
    scheduler: Scheduler


@contextlib.asynccontextmanager
async def sync_service(
    engine: Engine,
    cipher: CredentialCipher,
    *,
    run_scheduler: bool,
    connector_settings: ConnectorSettings | None = None,
    scheduling: SchedulerSettings | None = None,
    webhook_policy: DeliveryPolicy | None = None,
) -> AsyncIterator[SyncService]:
    """The service for as long as the block lasts; the scheduler loop and the webhook
    deliverer run in the background when `run_scheduler` (else `scheduler.tick()` starts
    due runs on demand, and no webhook is sent by this process)."""
    async with new_http_client() as http, contextlib.AsyncExitStack() as background:
        env = SyncEnvironment(
            engine=engine,
            cipher=cipher,
            http=http,
            connector_settings=connector_settings or ConnectorSettings(),
        )
        scheduler = Scheduler(env, scheduling)
        if run_scheduler:
            policy = webhook_policy or DeliveryPolicy()
            await background.enter_async_context(
                running_deliverer(engine, cipher, owner=env.owner, policy=policy)
            )
        loop_task = asyncio.create_task(scheduler.run_forever()) if run_scheduler else None
        try:
            yield SyncService(env, scheduler)
        finally:
            if loop_task is not None:
                loop_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loop_task
            else:
                await scheduler.drain()


async def run_worker(
    engine: Engine,
    cipher: CredentialCipher,
    connector_settings: ConnectorSettings,
    scheduling: SchedulerSettings | None = None,
    webhook_policy: DeliveryPolicy | None = None,
) -> None:
    """Run the scheduler until SIGTERM or SIGINT (systemd, Docker and Kubernetes send
    SIGTERM; under `nohup` SIGINT is ignored, so it cannot be the only way). Then stop
    claiming, cancel runs in flight (a page being saved commits first: saves run in a
    thread the cancellation waits for), record them as interrupted and release their
    leases, within `SHUTDOWN_GRACE_S`; a second signal exits at once."""
    stop = asyncio.Event()
    _on_stop_signals(stop)
    async with sync_service(
        engine,
        cipher,
        run_scheduler=True,
        connector_settings=connector_settings,
        scheduling=scheduling,
        webhook_policy=webhook_policy,
    ):
        await stop.wait()
        log.info("worker stopping: cancelling runs in flight")
        # Leaving the block cancels the scheduler and its runs; bound how long that takes.
        loop = asyncio.get_running_loop()
        loop.call_later(SHUTDOWN_GRACE_S, _exit_now, "runs did not stop in time")


SHUTDOWN_GRACE_S = 30.0


def _on_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()

    def handle(signum: int) -> None:
        if stop.is_set():
            _exit_now(f"second {signal.Signals(signum).name}")
        log.info("worker received a stop signal", signal=signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, handle, signum)


def _exit_now(reason: str) -> None:
    log.warning("worker exiting at once", reason=reason)
    metrics.process_exiting()
    os._exit(1)
