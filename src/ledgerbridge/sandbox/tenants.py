"""Sandbox tenants (a QuickBooks realm, a Conductor end user, an Intacct company) and the
per-tenant knobs that make a sandbox behave like production or misbehave on purpose."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection

from ledgerbridge.sandbox import tables


class TenantSettings(BaseModel):
    """Knobs of one tenant. Each provider sets its own realistic defaults at creation."""

    model_config = ConfigDict(extra="forbid")

    requests_per_minute: int | None = Field(
        default=None, ge=1, description="Requests a minute before a 429; None turns it off."
    )
    max_concurrent: int | None = Field(
        default=None, ge=1, description="Requests in flight at once; None turns it off."
    )
    queue_when_busy: bool = Field(
        default=False,
        description="Over max_concurrent, wait for a turn (QuickBooks Desktop) instead of 429.",
    )
    error_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Share of requests failed with an injected error."
    )
    error_statuses: list[int] = Field(default_factory=lambda: [500, 503])
    latency_ms: int = Field(default=0, ge=0, le=60_000, description="Added to every request.")
    throttle_as_xml: bool = Field(default=False, description="Answer 429s in XML (QuickBooks).")
    token_lifetime_s: int = Field(default=3600, ge=1, description="Access token lifetime.")
    refresh_token_rotation_s: int = Field(
        default=86_400,
        ge=0,
        description="QuickBooks Online: a refresh within this long of the current refresh "
        "token's issue answers with the same refresh token (Intuit: 24 hours).",
    )
    refresh_token_grace_s: int = Field(
        default=86_400,
        ge=0,
        description="QuickBooks Online: how long a replaced refresh token keeps working "
        "(Intuit: 24 hours).",
    )
    refresh_token_single_use: bool = Field(
        default=False,
        description="QuickBooks Online: every refresh issues a new refresh token and the "
        "presented one dies at once (the strictest reading of Intuit's documents).",
    )
    address_required: bool = Field(
        default=True, description="QuickBooks Online: enforce the documented address rule."
    )
    utc_offset: str = Field(
        default="-07:00", pattern=r"^[+-]\d{2}:\d{2}$", description="The company's UTC offset."
    )
    extra: dict[str, Any] = Field(default_factory=dict, description="Provider-specific knobs.")


def get_tenant(connection: Connection, provider: str, tenant_id: str) -> TenantSettings | None:
    """The tenant's settings, or None when it does not exist."""
    row = connection.execute(
        sa.select(tables.tenants.c.settings).where(
            tables.tenants.c.provider == provider, tables.tenants.c.tenant_id == tenant_id
        )
    ).first()
    return None if row is None else TenantSettings.model_validate(row.settings)


def ensure_tenant(
    connection: Connection,
    provider: str,
    tenant_id: str,
    defaults: TenantSettings,
    now: datetime,
) -> TenantSettings:
    """The tenant's settings, creating the tenant with `defaults` if it is new."""
    existing = get_tenant(connection, provider, tenant_id)
    if existing is not None:
        return existing
    connection.execute(
        sa.insert(tables.tenants).values(
            provider=provider,
            tenant_id=tenant_id,
            settings=defaults.model_dump(mode="json"),
            created_at=now,
        )
    )
    return defaults


def update_tenant(
    connection: Connection, provider: str, tenant_id: str, changes: dict[str, Any]
) -> TenantSettings:
    """Apply `changes` (validated) to an existing tenant and return the new settings."""
    current = get_tenant(connection, provider, tenant_id)
    if current is None:
        raise KeyError(tenant_id)
    updated = TenantSettings.model_validate({**current.model_dump(mode="json"), **changes})
    connection.execute(
        sa.update(tables.tenants)
        .where(tables.tenants.c.provider == provider, tables.tenants.c.tenant_id == tenant_id)
        .values(settings=updated.model_dump(mode="json"))
    )
    return updated


def list_tenants(connection: Connection, provider: str | None = None) -> list[tuple[str, str]]:
    query = sa.select(tables.tenants.c.provider, tables.tenants.c.tenant_id).order_by(
        tables.tenants.c.provider, tables.tenants.c.tenant_id
    )
    if provider is not None:
        query = query.where(tables.tenants.c.provider == provider)
    return [(row.provider, row.tenant_id) for row in connection.execute(query)]


def delete_tenant_rows(connection: Connection, provider: str, tenant_id: str | None) -> None:
    """Forget the shared rows (settings, tokens) of one tenant, or of every tenant."""
    for table in (tables.tenants, tables.oauth_tokens):
        query = sa.delete(table).where(table.c.provider == provider)
        if tenant_id is not None:
            query = query.where(table.c.tenant_id == tenant_id)
        connection.execute(query)


def count_rows(connection: Connection, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    """Rows of a sandbox table matching `where` (a tenant's customers)."""
    query = sa.select(sa.func.count()).select_from(table).where(*where)
    return int(connection.execute(query).scalar_one())
