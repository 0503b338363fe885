"""The `SandboxProvider` of QuickBooks Online: app, seed, credentials, reset."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.providers.qbo.sandbox import delivery, notifications
from ledgerbridge.providers.qbo.sandbox.realms import PROVIDER, ensure_realm, realm_settings
from ledgerbridge.providers.qbo.sandbox.tables import (
    companies,
    customers,
    deleted_customers,
    webhook_events,
)
from ledgerbridge.sandbox import tenants
from ledgerbridge.sandbox.base import SandboxContext, SeedResult
from ledgerbridge.sandbox.oauth import TokenIssuer
from ledgerbridge.sandbox.tenants import count_rows

if TYPE_CHECKING:
    from fastapi import FastAPI

# The API app (FastAPI) and the seeder (Faker) are imported where they are used: the CLI's
# `sandbox token`, `webhook` and `reset` need neither.


class QboSandbox:
    """QuickBooks Online (Intuit Accounting API v3), mounted at `/sandbox/qbo`."""

    name = PROVIDER
    mount_path = "/sandbox/qbo"
    migrations = "ledgerbridge.providers.qbo.sandbox:migrations/versions"
    migration_head = "q0003"

    def __init__(self) -> None:
        self.issuer = TokenIssuer(PROVIDER)

    def create_app(self, context: SandboxContext) -> FastAPI:
        from ledgerbridge.providers.qbo.sandbox.app import create_app

        return create_app(context, self.issuer)

    def background(
        self, context: SandboxContext
    ) -> Sequence[Callable[[], Coroutine[Any, Any, None]]]:
        """Delivering change notifications to the apps' webhooks."""
        return [delivery.Deliverer(context.engine, context.clock).deliver_forever]

    def set_webhook(
        self, context: SandboxContext, changes: dict[str, Any]
    ) -> tuple[str, notifications.WebhookSettings]:
        """Set the sandbox app's webhook (what Intuit's developer portal does); returns
        the app's client id and its webhook. `pydantic.ValidationError` when wrong."""
        with write_transaction(context.engine) as connection:
            now = context.clock()
            client_id, _ = self.issuer.ensure_client(connection, now)
            return client_id, notifications.put_webhook(connection, client_id, changes, now)

    def create(self, context: SandboxContext, tenant_id: str) -> None:
        """Create the realm (a company with no customers) if new."""
        ensure_realm(context, tenant_id)

    def seed(
        self, context: SandboxContext, tenant_id: str, customers: int, seed: int | None
    ) -> SeedResult:
        """Create the realm if new and add `customers` realistic customers."""
        from ledgerbridge.providers.qbo.sandbox import seed as seeding

        ensure_realm(context, tenant_id)
        added = seeding.seed_customers(context.engine, tenant_id, customers, seed, context.clock())
        return SeedResult(tenant_id=tenant_id, customers=added)

    def credentials(self, context: SandboxContext, tenant_id: str) -> dict[str, str]:
        """A fresh token pair for the realm, the app's keys and the URLs to point clients at."""
        settings = realm_settings(context, tenant_id)
        if settings is None:
            raise LookupError(f"no qbo sandbox company {tenant_id!r}; create or seed it first")
        with write_transaction(context.engine) as connection:
            now = context.clock()
            client_id, client_secret = self.issuer.ensure_client(connection, now)
            pair = self.issuer.issue_pair(
                connection,
                tenant_id=tenant_id,
                client_id=client_id,
                lifetime_s=settings.token_lifetime_s,
                now=now,
            )
        base = f"{context.base_url.rstrip('/')}{self.mount_path}"
        return {
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "expires_in": str(pair.expires_in),
            "realm_id": tenant_id,
            "client_id": client_id,
            "client_secret": client_secret,
            "api_base_url": f"{base}/v3",
            "discovery_url": f"{base}/.well-known/openid_configuration",
            "token_url": f"{base}/oauth2/v1/tokens/bearer",
            "authorize_url": f"{base}/oauth2/v1/authorize",
        }

    def customer_count(self, context: SandboxContext, tenant_id: str) -> int:
        with read_transaction(context.engine) as connection:
            return count_rows(connection, customers, customers.c.realm_id == tenant_id)

    def reset(self, context: SandboxContext, tenant_id: str | None) -> None:
        """Forget one realm (customers, company, settings, tokens) or every realm."""
        with write_transaction(context.engine) as connection:
            for table in (customers, deleted_customers, companies, webhook_events):
                query = sa.delete(table)
                if tenant_id is not None:
                    query = query.where(table.c.realm_id == tenant_id)
                connection.execute(query)
            tenants.delete_tenant_rows(connection, PROVIDER, tenant_id)
        context.gate.reset()
