"""Sandbox tenants and their knobs (`sandbox/tenants.py`) on the sandbox database: created
once with the platform's defaults, changed only through validation, listed per provider,
and forgotten one tenant (or one provider) at a time with their tokens."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.sandbox import tables, tenants
from ledgerbridge.sandbox.oauth import TokenIssuer
from ledgerbridge.sandbox.tenants import TenantSettings

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(app: FastAPI) -> Engine:
    sandbox_engine: Engine = app.state.sandbox.engine
    return sandbox_engine


def test_a_tenant_is_created_once_with_its_defaults(engine: Engine) -> None:
    strict = TenantSettings(requests_per_minute=500, max_concurrent=10)
    with write_transaction(engine) as connection:
        assert tenants.get_tenant(connection, "p1", "acme") is None
        assert tenants.ensure_tenant(connection, "p1", "acme", strict, NOW) == strict
        # Defaults apply at creation only: a later call never resets the knobs.
        assert tenants.ensure_tenant(connection, "p1", "acme", TenantSettings(), NOW) == strict
    with read_transaction(engine) as connection:
        assert tenants.get_tenant(connection, "p1", "acme") == strict
        assert tenants.get_tenant(connection, "p2", "acme") is None  # per provider


def test_changes_are_validated_and_keep_every_other_knob(engine: Engine) -> None:
    with write_transaction(engine) as connection:
        tenants.ensure_tenant(connection, "p1", "acme", TenantSettings(max_concurrent=2), NOW)
        changed = tenants.update_tenant(connection, "p1", "acme", {"latency_ms": 40})
    assert (changed.max_concurrent, changed.latency_ms) == (2, 40)

    for bad in ({"error_rate": -0.1}, {"token_lifetime_s": 0}, {"extra_knob": True}):
        with pytest.raises(ValidationError), write_transaction(engine) as connection:
            tenants.update_tenant(connection, "p1", "acme", bad)
    with pytest.raises(KeyError), write_transaction(engine) as connection:
        tenants.update_tenant(connection, "p1", "nobody", {"latency_ms": 1})
    with read_transaction(engine) as connection:
        assert tenants.get_tenant(connection, "p1", "acme") == changed


def test_tenants_are_listed_per_provider_in_order(engine: Engine) -> None:
    with write_transaction(engine) as connection:
        for provider, tenant in (("p2", "b"), ("p1", "b"), ("p1", "a")):
            tenants.ensure_tenant(connection, provider, tenant, TenantSettings(), NOW)
        assert tenants.list_tenants(connection) == [("p1", "a"), ("p1", "b"), ("p2", "b")]
        assert tenants.list_tenants(connection, "p2") == [("p2", "b")]


def _token_tenants(engine: Engine) -> list[tuple[str, str]]:
    with read_transaction(engine) as connection:
        rows = connection.execute(
            sa.select(tables.oauth_tokens.c.provider, tables.oauth_tokens.c.tenant_id)
            .distinct()
            .order_by(tables.oauth_tokens.c.provider, tables.oauth_tokens.c.tenant_id)
        )
        return [(row.provider, row.tenant_id) for row in rows]


def test_forgetting_a_tenant_drops_its_settings_and_tokens_only(engine: Engine) -> None:
    with write_transaction(engine) as connection:
        for provider, tenant in (("p1", "a"), ("p1", "b"), ("p2", "a")):
            tenants.ensure_tenant(connection, provider, tenant, TenantSettings(), NOW)
            issuer = TokenIssuer(provider)
            client_id, _ = issuer.ensure_client(connection, NOW)
            issuer.issue_pair(
                connection, tenant_id=tenant, client_id=client_id, lifetime_s=60, now=NOW
            )

    with write_transaction(engine) as connection:
        tenants.delete_tenant_rows(connection, "p1", "a")
        assert tenants.list_tenants(connection) == [("p1", "b"), ("p2", "a")]
    assert _token_tenants(engine) == [("p1", "b"), ("p2", "a")]

    with write_transaction(engine) as connection:
        tenants.delete_tenant_rows(connection, "p1", None)  # every tenant of p1
        assert tenants.list_tenants(connection) == [("p2", "a")]
    assert _token_tenants(engine) == [("p2", "a")]
