"""The Conductor (QuickBooks Desktop) sandbox, mounted at `/sandbox/conductor/v1`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.providers.qbd.sandbox import store, tables
from ledgerbridge.providers.qbd.sandbox.end_users import ensure_end_user
from ledgerbridge.sandbox import tenants
from ledgerbridge.sandbox.base import SandboxContext, SeedResult
from ledgerbridge.sandbox.tenants import count_rows

if TYPE_CHECKING:
    from fastapi import FastAPI

# The API app (FastAPI) and the seeder (Faker) are imported where they are used: the CLI's
# `sandbox token` and `reset` need neither (0.1-0.15 s of imports a command).

migrations = "ledgerbridge.providers.qbd.sandbox:migrations"


class ConductorSandbox:
    """QuickBooks Desktop through Conductor: one end user (`end_usr_...`) per company file,
    one secret key (`sk_...`) for the whole sandbox."""

    name = "qbd"
    mount_path = "/sandbox/conductor/v1"
    migrations = migrations
    migration_head = "d0001"

    def create_app(self, context: SandboxContext) -> FastAPI:
        """The Conductor API app."""
        from ledgerbridge.providers.qbd.sandbox import app

        return app.create_app(context)

    def create(self, context: SandboxContext, tenant_id: str) -> None:
        """Create the end user (an empty company file) if new."""
        with write_transaction(context.engine) as connection:
            ensure_end_user(connection, tenant_id, context.clock())

    def seed(
        self, context: SandboxContext, tenant_id: str, customers: int, seed: int | None
    ) -> SeedResult:
        """Create the end user if new and add `customers` customers and jobs."""
        from ledgerbridge.providers.qbd.sandbox.seed import seed_customers

        now = context.clock()
        with write_transaction(context.engine) as connection:
            ensure_end_user(connection, tenant_id, now)
            added = seed_customers(connection, tenant_id, customers, seed, now)
        return SeedResult(tenant_id=tenant_id, customers=added)

    def credentials(self, context: SandboxContext, tenant_id: str) -> dict[str, str]:
        """The secret key, end user id and base URL a Conductor SDK needs."""
        with read_transaction(context.engine) as connection:
            known = tenants.get_tenant(connection, self.name, tenant_id) is not None
        if not known:
            raise LookupError(f"no qbd sandbox end user {tenant_id!r}; create or seed it first")
        with write_transaction(context.engine) as connection:
            key = store.secret_key(connection, context.clock())
        return {
            "CONDUCTOR_SECRET_KEY": key,
            "CONDUCTOR_END_USER_ID": tenant_id,
            "CONDUCTOR_BASE_URL": context.base_url.rstrip("/") + self.mount_path,
        }

    def customer_count(self, context: SandboxContext, tenant_id: str) -> int:
        with read_transaction(context.engine) as connection:
            return count_rows(
                connection, tables.customers, tables.customers.c.end_user_id == tenant_id
            )

    def reset(self, context: SandboxContext, tenant_id: str | None) -> None:
        """Forget one end user's company file, or every one (the secret key stays)."""
        with write_transaction(context.engine) as connection:
            store.delete_tenant(connection, tenant_id)
            tenants.delete_tenant_rows(connection, self.name, tenant_id)


provider = ConductorSandbox()
