"""Assembles the server: the unified API, the sandboxes under /sandbox (unless
`LEDGERBRIDGE_SANDBOXES=false`), docs, health, metrics, access logs and error handling."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ledgerbridge import __version__
from ledgerbridge.api.docs import install_docs
from ledgerbridge.api.errors import install_error_handlers
from ledgerbridge.api.openapi import install_openapi
from ledgerbridge.api.routes import (
    authorize,
    connect_sessions,
    connections,
    customers,
    environments,
    health,
    keys,
    metrics,
    syncs,
    webhooks,
)
from ledgerbridge.api.text_input import RefuseUnstorableText
from ledgerbridge.config import Settings
from ledgerbridge.connections import fill_remote_account_ids
from ledgerbridge.crypto import CredentialCipher, load_or_create_key
from ledgerbridge.db import write_transaction
from ledgerbridge.keys import accepts_api_key
from ledgerbridge.observability.access import AccessLogMiddleware
from ledgerbridge.providers.registry import all_platforms
from ledgerbridge.runtime import Databases, connector_settings, open_databases
from ledgerbridge.sandbox.app import mount_sandboxes
from ledgerbridge.sandbox.base import SandboxContext
from ledgerbridge.sync.scheduler import SchedulerSettings
from ledgerbridge.sync.worker import sync_service
from ledgerbridge.ui import install_ui
from ledgerbridge.webhooks.delivery import DeliveryPolicy


def _fill_remote_account_ids(databases: Databases, cipher: CredentialCipher) -> None:
    """Connections made before `remote_account_id` was stored get it now (migration 0005
    cannot: only the process holds the key to their credentials)."""
    fields = {p.name: p.account_field for p in all_platforms() if p.account_field}
    with write_transaction(databases.main) as conn:
        fill_remote_account_ids(conn, cipher, fields)


def create_app(settings: Settings, databases: Databases | None = None) -> FastAPI:
    """The whole product as one ASGI app. Databases are opened (and migrated) now."""
    databases = databases or open_databases(settings)
    cipher = CredentialCipher(load_or_create_key(settings))
    _fill_remote_account_ids(databases, cipher)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """The sync service (HTTP client, scheduler when enabled) lives as long as the app."""
        async with sync_service(
            databases.main,
            cipher,
            run_scheduler=settings.scheduler,
            connector_settings=connector_settings(settings),
            scheduling=SchedulerSettings.from_settings(settings),
            webhook_policy=DeliveryPolicy.from_settings(settings),
        ) as service:
            app.state.sync = service
            yield

    app = FastAPI(
        lifespan=lifespan,
        title="ledgerbridge",
        version=__version__,
        summary="A unified Customers API for QuickBooks Online, QuickBooks Desktop and Sage "
        "Intacct, with local sandboxes of all three.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.databases = databases
    app.state.cipher = cipher
    app.state.sandbox = SandboxContext(
        engine=databases.sandbox,
        base_url=settings.base_url,
        admin_key_check=None
        if settings.listens_on_loopback
        else lambda key: accepts_api_key(databases.main, settings, key),
    )
    install_error_handlers(app)
    app.add_middleware(AccessLogMiddleware)
    install_docs(app)
    install_openapi(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(authorize.router)
    app.include_router(connections.router)
    app.include_router(customers.router)
    app.include_router(syncs.router)
    app.include_router(keys.router)
    app.include_router(environments.router)
    app.include_router(connect_sessions.router)
    install_ui(app)
    app.include_router(webhooks.router)
    platforms = all_platforms()
    if settings.sandboxes:
        mount_sandboxes(app, app.state.sandbox, (p.sandbox for p in platforms))
    app.add_middleware(
        RefuseUnstorableText,
        skip_prefixes=tuple(p.sandbox.mount_path for p in platforms),
    )
    return app
