"""Builds the sandbox context and mounts every provider sandbox on a parent app."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from ledgerbridge.db import migrate
from ledgerbridge.sandbox.base import SandboxContext
from ledgerbridge.sandbox.envelope import mount_any_path
from ledgerbridge.sandbox.registry import all_sandboxes

SHARED_MIGRATIONS = "ledgerbridge.sandbox:migrations"


def migrate_sandbox_database(engine: Engine) -> None:
    """Create or upgrade the shared sandbox tables and every provider's own."""
    migrate(
        engine,
        SHARED_MIGRATIONS,
        (
            "ledgerbridge.sandbox:migrations/versions",
            *(provider.migrations for provider in all_sandboxes()),
        ),
        version_table="sandbox_alembic_version",
    )


def mount_sandboxes(app: FastAPI, context: SandboxContext) -> None:
    for provider in all_sandboxes():
        mount_any_path(app, provider.mount_path, provider.create_app(context))
