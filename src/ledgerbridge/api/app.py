"""Assembles the server: the unified API, the sandboxes under /sandbox (unless
`LEDGERBRIDGE_SANDBOXES=false`), docs, health, metrics, access logs and error handling."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette.routing import BaseRoute

from ledgerbridge import __version__, ui
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
    notifications,
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
from ledgerbridge.sandbox.app import mount_sandboxes, sandbox_background
from ledgerbridge.sandbox.base import SandboxContext
from ledgerbridge.sync.scheduler import SchedulerSettings
from ledgerbridge.sync.worker import sync_service
from ledgerbridge.webhooks.delivery import DeliveryPolicy

ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    metrics.router,
    authorize.router,
    connections.router,
    customers.router,
    syncs.router,
    keys.router,
    environments.router,
    connect_sessions.router,
    *ui.ROUTERS,
    webhooks.router,
    notifications.router,
)
"""The API's and the dashboard's routes, in the order a request is matched against them."""


@functools.cache
def _included_routes() -> tuple[BaseRoute, ...]:
    """`ROUTERS` included once per process, shared by every app it creates.

    FastAPI analyses an included router's routes (dependencies, parameter and body models)
    on the first request of each app that includes it: 30-50 ms of CPU per app, paid by the
    test suite for nearly every test. These routes hold nothing of an app (a request finds
    its app's databases, settings and services in `request.app.state`), so one analysis
    serves them all. They are included into a router with no app behind it, so
    `app.dependency_overrides` does not reach them (nothing here uses it).
    """
    holder = APIRouter()
    for router in ROUTERS:
        holder.include_router(router)
    return tuple(holder.routes)


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
        """The sync service (HTTP client, scheduler when enabled) and the sandboxes'
        background work (change notifications) live as long as the app."""
        sandboxes = [p.sandbox for p in all_platforms()] if settings.sandboxes else []
        async with (
            sync_service(
                databases.main,
                cipher,
                run_scheduler=settings.scheduler,
                connector_settings=connector_settings(settings),
                scheduling=SchedulerSettings.from_settings(settings),
                webhook_policy=DeliveryPolicy.from_settings(settings),
            ) as service,
            sandbox_background(app.state.sandbox, sandboxes),
        ):
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
    app.router.routes.extend(_included_routes())
    platforms = all_platforms()
    if settings.sandboxes:
        mount_sandboxes(app, app.state.sandbox, (p.sandbox for p in platforms))
    app.add_middleware(
        RefuseUnstorableText,
        skip_prefixes=tuple(p.sandbox.mount_path for p in platforms),
    )
    return app
