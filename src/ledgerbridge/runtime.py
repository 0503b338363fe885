"""Opening the databases a process needs, migrated and ready."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from ledgerbridge.config import Settings
from ledgerbridge.db import create_engine, migrate
from ledgerbridge.providers.base import ConnectorSettings
from ledgerbridge.providers.registry import all_platforms
from ledgerbridge.sandbox.app import migrate_sandboxes

MAIN_MIGRATIONS = "ledgerbridge:migrations"


@dataclass(frozen=True)
class Databases:
    main: Engine
    sandbox: Engine

    def dispose(self) -> None:
        self.main.dispose()
        self.sandbox.dispose()


def open_main_database(settings: Settings) -> Engine:
    engine = create_engine(settings.main_database_url)
    migrate(engine, MAIN_MIGRATIONS)
    return engine


def connector_settings(settings: Settings) -> ConnectorSettings:
    """The connector knobs the process settings choose."""
    return ConnectorSettings(page_size=settings.sync_page_size)


def migrate_sandbox_database(engine: Engine) -> None:
    """Create or upgrade the shared sandbox tables and every registered sandbox's own."""
    migrate_sandboxes(engine, (platform.sandbox for platform in all_platforms()))


def open_sandbox_database(settings: Settings) -> Engine:
    engine = create_engine(settings.sandbox_url)
    migrate_sandbox_database(engine)
    return engine


def open_databases(settings: Settings) -> Databases:
    """Both engines, with every migration applied (Alembic, on start)."""
    return Databases(main=open_main_database(settings), sandbox=open_sandbox_database(settings))
