"""Opening the databases a process needs, migrated and ready.

A database that cannot be opened is a `ConfigurationError` whose message says which one,
where, and what to do, so the CLI prints one line instead of a driver's traceback: a
SQLite file in a folder that does not exist is refused (not created: a typo in a path
must not silently make an empty database elsewhere), and an unreachable server is named
by host and port.
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from ledgerbridge.config import Settings
from ledgerbridge.db import create_engine, migrate
from ledgerbridge.errors import ConfigurationError
from ledgerbridge.migrations import HEADS
from ledgerbridge.providers.base import ConnectorSettings
from ledgerbridge.providers.registry import all_platforms
from ledgerbridge.sandbox.tables import migrate_sandboxes

MAIN_MIGRATIONS = "ledgerbridge:migrations"


@dataclass(frozen=True)
class Databases:
    main: Engine
    sandbox: Engine

    def dispose(self) -> None:
        self.main.dispose()
        self.sandbox.dispose()


YOUNG_GENERATION_THRESHOLD = 50_000


def started() -> None:
    """Called once a long-running command has started (imports done, databases open): every
    object alive now lives as long as the process, so the garbage collector stops visiting
    them (`gc.freeze`). A full collection walks every tracked object; with the modules,
    SQLAlchemy's tables and the app among them, a sync's few full collections were 15% of
    its CPU (sync_bench, QuickBooks Online, 20,000 customers: 0.46 s of 2.4 s in collections,
    0.11 s after).

    The young generation is collected once 50,000 more container objects are alive than at
    the last collection, not CPython's 700. A page of 1,000 customers holds 15,000-20,000 of
    them (the parsed JSON's dicts, the payloads, the rows to write) until it is saved, so at
    700 the collector walked the same live page again and again, promoted it and walked it
    in the older generations too, and none of it was garbage: the page is freed by reference
    counting once saved, which lowers the count again. The collector still runs when cycles
    pile up (at most 50,000 objects of them, a few MB). phases_bench, QuickBooks Online,
    10,000 customers, rounds taking turns in one process, time in collections (gc.callbacks)
    a customer: 2.8-3.5 µs at 700, 2.1-2.6 at 10,000 (a page still outgrew it), 0.4 at
    20,000, 0.0 at 50,000.

    It also caps the C allocator's arenas (`limit_malloc_arenas`)."""
    freeze_and_collect_young_rarely()
    limit_malloc_arenas()


def freeze_and_collect_young_rarely() -> None:
    """The garbage collector's part of `started`: what is alive now frozen out of its
    passes, and the young generation collected at `YOUNG_GENERATION_THRESHOLD`."""
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, older, oldest)


MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # glibc's <malloc.h>


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas, as `MALLOC_ARENA_MAX=2` in the environment would; True when
    the cap was set. glibc gives each thread that meets contention an arena of its own (up
    to eight a core), and each keeps the memory freed in it: a sync's page-saving threads
    came and went and its RSS stepped from 123 to 160 MB a minute into a 1,000,000-customer
    run (peak 174-185 MB, against 131 MB at 100,000). With two arenas the same run peaked at
    137 MB, at no more CPU (sync_bench, QuickBooks Online). The GIL lets one thread run
    Python at a time, so two arenas see little contention. Left alone when the environment
    sets `MALLOC_ARENA_MAX` (an operator's choice wins) and where there is no glibc."""
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)  # musl has none
    return mallopt is not None and mallopt(_M_ARENA_MAX, arenas) == 1


def _open(
    url: str, setting: str, prepare: Callable[[Engine], None], *, temp_in_memory: bool = False
) -> Engine:
    """An engine for `url` (`db.create_engine`), migrated by `prepare`, or a
    `ConfigurationError` naming `setting` (the variable to fix)."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).parent
        if not folder.is_dir():
            raise ConfigurationError(
                f"the folder {folder} of the SQLite database {parsed.database} does not exist: "
                f"create it, or point {setting} (or LEDGERBRIDGE_DATA_DIR) elsewhere"
            )
    engine = create_engine(url, temp_in_memory=temp_in_memory)
    try:
        prepare(engine)
    except (OperationalError, DBAPIError) as exc:
        engine.dispose()
        raise ConfigurationError(_unreachable(parsed, setting, exc)) from exc
    return engine


def connector_settings(settings: Settings) -> ConnectorSettings:
    """The connector knobs the process settings choose."""
    return ConnectorSettings(page_size=settings.sync_page_size)


def migrate_sandbox_database(engine: Engine) -> None:
    """Create or upgrade the shared sandbox tables and every registered sandbox's own."""
    migrate_sandboxes(engine, (platform.sandbox for platform in all_platforms()))


def _unreachable(url: sa.engine.URL, setting: str, exc: DBAPIError) -> str:
    reason = str(exc.orig or exc).strip().splitlines()[0] if str(exc.orig or exc).strip() else ""
    if url.get_backend_name() == "sqlite":
        return f"cannot open the SQLite database {url.database} ({reason}); check {setting}"
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    return (
        f"cannot connect to the PostgreSQL database {url.database!r} at {where} ({reason}); "
        f"start the server or fix {setting}"
    )


def open_main_database(settings: Settings) -> Engine:
    return _open(
        settings.main_database_url,
        "LEDGERBRIDGE_DATABASE_URL",
        lambda engine: migrate(engine, MAIN_MIGRATIONS, known_heads=HEADS),
        temp_in_memory=True,  # the record store's pages (db.create_engine)
    )


def open_sandbox_database(settings: Settings) -> Engine:
    return _open(
        settings.sandbox_url, "LEDGERBRIDGE_SANDBOX_DATABASE_URL", migrate_sandbox_database
    )


def open_databases(settings: Settings) -> Databases:
    """Both engines, with every migration applied (Alembic, on start)."""
    main = open_main_database(settings)
    try:
        return Databases(main=main, sandbox=open_sandbox_database(settings))
    except ConfigurationError:
        main.dispose()
        raise
