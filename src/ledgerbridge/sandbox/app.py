"""Migrates the sandbox database and mounts provider sandboxes on a parent app.

Which sandboxes exist is the platform registry's business (`providers/registry.py`):
the shared machinery is handed them, so it imports no platform and nothing of the product.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from ledgerbridge.db import migrate
from ledgerbridge.sandbox.base import SandboxContext, SandboxProvider
from ledgerbridge.sandbox.envelope import mount_any_path

SHARED_MIGRATIONS = "ledgerbridge.sandbox:migrations"


def migrate_sandboxes(engine: Engine, sandboxes: Iterable[SandboxProvider]) -> None:
    """Create or upgrade the shared sandbox tables and each given sandbox's own."""
    migrate(
        engine,
        SHARED_MIGRATIONS,
        (
            "ledgerbridge.sandbox:migrations/versions",
            *(sandbox.migrations for sandbox in sandboxes if sandbox.migrations),
        ),
        version_table="sandbox_alembic_version",
    )


def mount_sandboxes(
    app: FastAPI, context: SandboxContext, sandboxes: Iterable[SandboxProvider]
) -> None:
    for sandbox in sandboxes:
        mount_any_path(app, sandbox.mount_path, sandbox.create_app(context))
