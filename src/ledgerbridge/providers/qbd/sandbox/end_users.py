"""The sandbox's end users (company files): their settings, and creating one. Kept apart
from the web routes, so the CLI's `sandbox create`, `seed`, `token` and `reset` load no
FastAPI (as QuickBooks Online's `realms`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Connection

from ledgerbridge.providers.qbd.sandbox import store
from ledgerbridge.providers.qbd.sandbox.paging import (
    CURSOR_LIFETIME_KNOB,
    DEFAULT_CURSOR_LIFETIME_S,
)
from ledgerbridge.sandbox import tenants

PROVIDER = "qbd"


def default_settings() -> tenants.TenantSettings:
    """A new company file: one request at a time (queued), the desktop offline as the fault."""
    return tenants.TenantSettings(
        queue_when_busy=True,
        error_statuses=[502],
        extra={CURSOR_LIFETIME_KNOB: DEFAULT_CURSOR_LIFETIME_S},
    )


def ensure_end_user(connection: Connection, end_user_id: str, now: datetime) -> None:
    """The end user and the sandbox's secret key, each created if new."""
    store.secret_key(connection, now)
    tenants.ensure_tenant(connection, PROVIDER, end_user_id, default_settings(), now)
