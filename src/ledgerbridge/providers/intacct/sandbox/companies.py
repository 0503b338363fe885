"""The settings a new sandbox company starts with. Kept apart from the web routes, so the
CLI's `sandbox create`, `seed`, `token` and `reset` load no FastAPI (as QuickBooks Online's
`realms`)."""

from __future__ import annotations

from ledgerbridge.sandbox import tenants


def default_settings() -> tenants.TenantSettings:
    """A new company behaves like the lowest tier: two requests in flight at once."""
    return tenants.TenantSettings(max_concurrent=2)
