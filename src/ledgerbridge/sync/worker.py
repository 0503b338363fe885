"""The sync service of one process: the shared HTTP client, the sync environment and the
scheduler. `serve` runs it inside the API server; `ledgerbridge worker` runs only it."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from sqlalchemy.engine import Engine

from ledgerbridge import __version__
from ledgerbridge.crypto import CredentialCipher
from ledgerbridge.providers.base import ConnectorSettings
from ledgerbridge.sync.engine import SyncEnvironment
from ledgerbridge.sync.scheduler import Scheduler

# QuickBooks Online cuts requests off at 120 s; nobody else is slower.
HTTP_TIMEOUT = httpx.Timeout(120.0, connect=15.0)


def new_http_client() -> httpx.AsyncClient:
    """The one HTTP client connectors share (the transport seam)."""
    return httpx.AsyncClient(
        verify=tls_context(),
        timeout=HTTP_TIMEOUT,
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        headers={"User-Agent": f"ledgerbridge/{__version__}"},
    )


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default verification (certifi's CA bundle, or `SSL_CERT_FILE`), built once
    per process: loading the bundle takes 50-100 ms, paid by every client built without it
    (each app's lifespan, each test)."""
    return httpx.create_ssl_context()


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
    poll_interval: float = 5.0,
) -> AsyncIterator[SyncService]:
    """The service for as long as the block lasts; the scheduler loop runs in the
    background when `run_scheduler` (else `scheduler.tick()` starts due runs on demand)."""
    async with new_http_client() as http:
        env = SyncEnvironment(
            engine=engine,
            cipher=cipher,
            http=http,
            connector_settings=connector_settings or ConnectorSettings(),
        )
        scheduler = Scheduler(env, poll_interval=poll_interval)
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
    engine: Engine, cipher: CredentialCipher, connector_settings: ConnectorSettings
) -> None:
    """Run the scheduler until the process is stopped."""
    async with sync_service(
        engine, cipher, run_scheduler=True, connector_settings=connector_settings
    ):
        await asyncio.Event().wait()
