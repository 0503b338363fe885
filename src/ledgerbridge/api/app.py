"""Assembles the server: the unified API, the sandboxes under /sandbox, and error handling."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ledgerbridge import __version__
from ledgerbridge.api.errors import install_error_handlers
from ledgerbridge.api.routes import authorize, connections, customers, health, syncs
from ledgerbridge.api.text_input import RefuseUnstorableText
from ledgerbridge.config import Settings
from ledgerbridge.crypto import CredentialCipher, load_or_create_key
from ledgerbridge.providers.registry import all_platforms
from ledgerbridge.runtime import Databases, connector_settings, open_databases
from ledgerbridge.sandbox.app import mount_sandboxes
from ledgerbridge.sandbox.base import SandboxContext
from ledgerbridge.sync.worker import sync_service


def create_app(settings: Settings, databases: Databases | None = None) -> FastAPI:
    """The whole product as one ASGI app. Databases are opened (and migrated) now."""
    databases = databases or open_databases(settings)
    cipher = CredentialCipher(load_or_create_key(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """The sync service (HTTP client, scheduler when enabled) lives as long as the app."""
        async with sync_service(
            databases.main,
            cipher,
            run_scheduler=settings.scheduler,
            connector_settings=connector_settings(settings),
        ) as service:
            app.state.sync = service
            yield

    app = FastAPI(
        lifespan=lifespan,
        title="ledgerbridge",
        version=__version__,
        summary="A unified Customers API for QuickBooks Online, QuickBooks Desktop and Sage "
        "Intacct, with local sandboxes of all three.",
    )
    app.state.settings = settings
    app.state.databases = databases
    app.state.cipher = cipher
    app.state.sandbox = SandboxContext(engine=databases.sandbox, base_url=settings.base_url)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(authorize.router)
    app.include_router(connections.router)
    app.include_router(customers.router)
    app.include_router(syncs.router)
    mount_sandboxes(app, app.state.sandbox, (p.sandbox for p in all_platforms()))
    app.add_middleware(
        RefuseUnstorableText,
        skip_prefixes=tuple(p.sandbox.mount_path for p in all_platforms()),
    )
    return app
