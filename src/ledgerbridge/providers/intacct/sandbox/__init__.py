"""The Sage Intacct sandbox provider: the REST API, seed data, credentials and reset."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.providers.intacct.sandbox import entities, store, tables
from ledgerbridge.providers.intacct.sandbox.auth import PROVIDER, issuer
from ledgerbridge.providers.intacct.sandbox.companies import default_settings
from ledgerbridge.providers.intacct.wire import API_PREFIX
from ledgerbridge.sandbox import tenants
from ledgerbridge.sandbox.base import SandboxContext, SeedResult
from ledgerbridge.sandbox.tenants import count_rows

if TYPE_CHECKING:
    from fastapi import FastAPI

# The API app (FastAPI) and the seeder (Faker) are imported where they are used: the CLI's
# `sandbox token` and `reset` need neither.

MOUNT_PATH = f"/sandbox/intacct{API_PREFIX}"
DEFAULT_USER = "user"


class IntacctSandbox:
    """Sage Intacct's customer API, one company per tenant."""

    name = PROVIDER
    mount_path = MOUNT_PATH
    migrations = "ledgerbridge.providers.intacct.sandbox:migrations"
    migration_head = "i0003"

    def create_app(self, context: SandboxContext) -> FastAPI:
        from ledgerbridge.providers.intacct.sandbox.app import create_app

        return create_app(context)

    def seed(
        self, context: SandboxContext, tenant_id: str, customers: int, seed: int | None
    ) -> SeedResult:
        """Create the company if new and add `customers` customers."""
        from ledgerbridge.providers.intacct.sandbox.seed import seed_customers

        self.ensure_company(context, tenant_id)
        seed_customers(context.engine, tenant_id, customers, seed or 0, context.clock())
        return SeedResult(tenant_id=tenant_id, customers=customers)

    def seed_entities(self, context: SandboxContext, tenant_id: str) -> list[dict[str, str]]:
        """Make the company multi-entity with a few entities (`entities.SEED_ENTITIES`);
        `{key, id, href}` of those it did not have yet."""
        self.ensure_company(context, tenant_id)
        with write_transaction(context.engine) as connection:
            return entities.seed_entities(connection, tenant_id)

    def create(self, context: SandboxContext, tenant_id: str) -> None:
        """Create the company, with no customers, if new."""
        self.ensure_company(context, tenant_id)

    def ensure_company(self, context: SandboxContext, tenant_id: str) -> None:
        with write_transaction(context.engine) as connection:
            tenants.ensure_tenant(
                connection, PROVIDER, tenant_id, default_settings(), context.clock()
            )
            issuer.ensure_client(connection, context.clock())

    def credentials(self, context: SandboxContext, tenant_id: str) -> dict[str, str]:
        """Client credentials, the user of the company and a fresh token pair."""
        with write_transaction(context.engine) as connection:
            if tenants.get_tenant(connection, PROVIDER, tenant_id) is None:
                raise LookupError(
                    f"no intacct sandbox company {tenant_id!r}; create or seed it first"
                )
        username = f"{DEFAULT_USER}@{tenant_id}"
        now = context.clock()
        with write_transaction(context.engine) as connection:
            client_id, client_secret = issuer.ensure_client(connection, now)
            settings = tenants.get_tenant(connection, PROVIDER, tenant_id)
            pair = issuer.issue_pair(
                connection,
                tenant_id=tenant_id,
                client_id=client_id,
                lifetime_s=settings.token_lifetime_s if settings else 3600,
                now=now,
                subject=username,
            )
        return {
            "client_id": client_id,
            "client_secret": client_secret,
            "username": username,
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "base_url": f"{context.base_url.rstrip('/')}{MOUNT_PATH}",
        }

    def customer_count(self, context: SandboxContext, tenant_id: str) -> int:
        with read_transaction(context.engine) as connection:
            return count_rows(
                connection, tables.customers, tables.customers.c.tenant_id == tenant_id
            )

    def reset(self, context: SandboxContext, tenant_id: str | None) -> None:
        with write_transaction(context.engine) as connection:
            store.delete_company(connection, tenant_id)
            tenants.delete_tenant_rows(connection, PROVIDER, tenant_id)


provider = IntacctSandbox()
