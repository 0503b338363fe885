"""Tables of the sandbox database shared by every provider sandbox, and how the sandbox
database is migrated (the shared tables and each sandbox's own branch)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ledgerbridge.db import UTCDateTime, migrate

if TYPE_CHECKING:
    from ledgerbridge.sandbox.base import SandboxProvider

metadata = sa.MetaData()

tenants = sa.Table(
    "sandbox_tenants",
    metadata,
    sa.Column("provider", sa.String(32), primary_key=True),
    sa.Column("tenant_id", sa.String(128), primary_key=True),
    sa.Column("settings", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

oauth_clients = sa.Table(
    "sandbox_oauth_clients",
    metadata,
    sa.Column("provider", sa.String(32), primary_key=True),
    sa.Column("client_id", sa.String(128), primary_key=True),
    sa.Column("client_secret", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

oauth_tokens = sa.Table(
    "sandbox_oauth_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("tenant_id", sa.String(128), nullable=False),
    sa.Column("client_id", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # access | refresh | code
    sa.Column("subject", sa.String(255), nullable=False, server_default=""),
    sa.Column("redirect_uri", sa.String(1000), nullable=True),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # Refresh tokens of one grant share a family (the hash of its first refresh token);
    # superseded_at is when a newer one replaced this one (see sandbox/oauth.py).
    sa.Column("family", sa.String(64), nullable=True),
    sa.Column("superseded_at", UTCDateTime, nullable=True),
)
sa.Index("ix_sandbox_oauth_tokens_family", oauth_tokens.c.family)


SHARED_MIGRATIONS = "ledgerbridge.sandbox:migrations"
SHARED_HEAD = "s0002_refresh_rotation"
"""The newest revision of the shared tables' branch (`migrations/versions/`)."""


def migrate_sandboxes(engine: Engine, sandboxes: Iterable[SandboxProvider]) -> None:
    """Create or upgrade the shared sandbox tables and each given sandbox's own. A database
    already at every branch's declared head is left alone without importing Alembic or the
    sandboxes' code: a sandbox command's start-up halves."""
    chosen = list(sandboxes)
    migrate(
        engine,
        SHARED_MIGRATIONS,
        version_locations(chosen),
        version_table="sandbox_alembic_version",
        known_heads=sandbox_heads(chosen),
    )


def version_locations(sandboxes: Iterable[SandboxProvider]) -> tuple[str, ...]:
    """Alembic's version folders of a sandbox database: the shared tables' branch and each
    sandbox's own."""
    own = (sandbox.migrations for sandbox in sandboxes if sandbox.migrations)
    return (f"{SHARED_MIGRATIONS}/versions", *own)


def sandbox_heads(sandboxes: Iterable[SandboxProvider]) -> frozenset[str]:
    """The head revisions a sandbox database migrated for `sandboxes` is at: the shared
    branch's and each sandbox's own (a sandbox that declares none is left to Alembic)."""
    own = (sandbox.migration_head for sandbox in sandboxes if sandbox.migration_head)
    return frozenset({SHARED_HEAD, *own})
