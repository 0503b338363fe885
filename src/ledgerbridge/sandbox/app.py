"""Migrates the sandbox database and mounts provider sandboxes on a parent app.

Which sandboxes exist is the platform registry's business (`providers/registry.py`):
the shared machinery is handed them, so it imports no platform and nothing of the product.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterable

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from ledgerbridge.sandbox.base import SandboxContext, SandboxProvider, SandboxWithBackground
from ledgerbridge.sandbox.envelope import mount_any_path


def mount_sandboxes(
    app: FastAPI, context: SandboxContext, sandboxes: Iterable[SandboxProvider]
) -> None:
    for sandbox in sandboxes:
        mount_any_path(app, sandbox.mount_path, _BuiltOnFirstRequest(sandbox, context))


@contextlib.asynccontextmanager
async def sandbox_background(
    context: SandboxContext, sandboxes: Iterable[SandboxProvider]
) -> AsyncIterator[None]:
    """Run the sandboxes' background tasks for as long as the block lasts."""
    tasks = [
        asyncio.create_task(start(), name=f"sandbox {sandbox.name}")
        for sandbox in sandboxes
        if isinstance(sandbox, SandboxWithBackground)
        for start in sandbox.background(context)
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _BuiltOnFirstRequest:
    """A provider's sandbox app, assembled when its first request arrives.

    Assembling the three sandboxes (some 380 routes, each analysed by FastAPI and pydantic)
    was most of a server's start-up: 0.1-0.3 s of CPU every time an app is created, which
    the test suite does for almost every test. A process that never calls a sandbox (a
    server syncing real platforms, a test of the unified API alone) now never pays for it.
    """

    def __init__(self, provider: SandboxProvider, context: SandboxContext) -> None:
        self._provider = provider
        self._context = context
        self._app: ASGIApp | None = None
        self._lock = threading.Lock()  # test clients call one app from several threads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = self._provider.create_app(self._context)
        await self._app(scope, receive, send)
