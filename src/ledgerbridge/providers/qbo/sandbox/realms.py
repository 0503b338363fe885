"""The sandbox's realms (companies): their settings, and creating one. Kept apart from the
web routes, so the CLI's `sandbox token`, `seed` and `reset` load no FastAPI."""

from __future__ import annotations

from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.providers.qbo.sandbox import store
from ledgerbridge.sandbox import tenants
from ledgerbridge.sandbox.base import SandboxContext

PROVIDER = "qbo"


def default_settings() -> tenants.TenantSettings:
    """A new realm behaves like production QuickBooks Online: 500 requests a minute,
    10 at once, no injected faults."""
    return tenants.TenantSettings(requests_per_minute=500, max_concurrent=10)


def realm_settings(context: SandboxContext, realm_id: str) -> tenants.TenantSettings | None:
    """The realm's settings, or None when no such company was created."""
    with read_transaction(context.engine) as connection:
        return tenants.get_tenant(connection, PROVIDER, realm_id)


def ensure_realm(context: SandboxContext, realm_id: str) -> tenants.TenantSettings:
    """The realm's settings, creating the tenant and its company if new (only `sandbox
    seed`, `sandbox create` and the admin API create companies)."""
    with write_transaction(context.engine) as connection:
        now = context.clock()
        settings = tenants.ensure_tenant(connection, PROVIDER, realm_id, default_settings(), now)
        store.ensure_company(connection, realm_id, now)
        return settings
