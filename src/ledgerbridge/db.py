"""Engines, transactions and the few places SQLite and PostgreSQL differ.

Everything dialect-specific lives here: SQLite's WAL mode and explicit write locks,
PostgreSQL's row locks, and timezone-aware timestamps on both. The one exception is how
the record store shapes its queries for PostgreSQL's planner: `_PostgreSQL` in
`unified/records.py`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from ledgerbridge.observability.logs import get_logger

if TYPE_CHECKING:
    from alembic.config import Config

_log = get_logger(__name__)
_IMMEDIATE = "ledgerbridge_write"
SQLITE_PAGE_SIZE = 16_384


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def create_engine(url: str, *, temp_in_memory: bool = False, **kwargs: Any) -> Engine:
    """An engine for `url`: SQLite gets WAL, a busy timeout and `BEGIN IMMEDIATE` for writes.

    `temp_in_memory`: SQLite keeps its temporary files in memory (`temp_store=MEMORY`). The
    record store's page of inserts needs a statement journal (a unique index or a foreign
    key may abort it halfway), which SQLite spills to a temporary file past 64 KiB: a file
    looked for, created and written again on every page (strace, a 50,000-customer Desktop
    sync: 62,000 of its 197,000 `pwrite` calls). In memory, the syncing process took 93-96
    against 100-102 µs a customer (Intacct 100,000: 37-38 against 39-41). At a million
    Intacct customers it gains nothing and a page's journal holds much of the external-id
    index (peak RSS 220 against 187 MB). (`INSERT OR FAIL` does not spare the journal: the
    foreign key on `connection_id` still may abort a statement of many rows.) Only for a
    database whose queries read through indexes with a limit: a sort is then kept wholly in
    memory too (100,000 sandbox customers sorted on an unindexed column: 59 against 17 MB),
    so the sandbox's database, which sorts on any field a client names, keeps the default."""
    parsed = sa.engine.make_url(url)
    options: dict[str, Any] = {
        "json_serializer": _json_dumps,
        "json_deserializer": orjson.loads,
        **kwargs,
    }
    if parsed.get_backend_name() != "sqlite":
        options.setdefault("pool_pre_ping", True)
        # At most 15 connections a process, as SQLAlchemy's default (5 kept + 10 overflow),
        # but all kept: overflow connections are closed on return, so a busy worker (16
        # runs at once) opened and closed a PostgreSQL connection every few runs, each a
        # new server process (scheduler_bench: about 1 in 45 runs, and its CPU).
        options.setdefault("pool_size", 15)
        options.setdefault("max_overflow", 0)
        return sa.create_engine(url, **options)

    in_memory = _in_memory(parsed)
    if in_memory:
        options.setdefault("poolclass", StaticPool)
    options.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
    if parsed.database and not in_memory:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, **options)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's implicit BEGIN cannot take a write lock up front; we issue our own.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # Takes effect when the database is created (an existing one keeps its size). A
        # record is about 2 KB; 16 KB pages halve a sync's commits, which write the WAL a
        # page at a time (sync_bench, 20,000 customers: 8.4 to 4.1 µs a record).
        cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if temp_in_memory:
            cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def is_sqlite(bind: Engine | Connection) -> bool:
    return bind.dialect.name == "sqlite"


def _in_memory(url: sa.URL) -> bool:
    return url.database in (None, "", ":memory:")


class WalCheckpoints:
    """SQLite's write-ahead log copied back into the database on a thread of its own, while
    a long run of commits (a sync's pages) goes on.

    SQLite checkpoints in the committing thread once the log holds 1,000 pages (16 MB
    here): copying them into the database file and syncing both files stalls that commit,
    and with it the sync, which meanwhile neither maps nor stores. Here each `request`
    (one a committed page) wakes a thread that runs a passive checkpoint on a connection
    of its own, outside the engine's pool: it takes no lock a writer or a reader waits for
    (SQLite's `wal_checkpoint(PASSIVE)`), the copying runs outside the GIL beside the next
    page's mapping, and the next write finds the log copied and starts it again from the
    top, so the writers' own checkpoints seldom come due. Should a checkpoint fail, the
    thread logs it and stops; the writers' own checkpoints go on as before. On PostgreSQL
    and an in-memory SQLite database it does nothing.

    sync_bench, QuickBooks Online, 1,000,000 customers, the tree before and this one taking
    turns: 20,735-21,204 → 24,048-24,841 records/s; the commit's share of the saving
    thread's samples (py-spy) 18% → 3%."""

    def __init__(self, connect: Callable[[], Any] | None) -> None:
        self._connect = connect
        self._wanted = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        """Ask for a checkpoint (after a commit); requests made while one runs make one more."""
        if self._connect is None or self._closing:
            return
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="ledgerbridge-wal-checkpoints", daemon=True
            )
            self._thread.start()
        self._wanted.set()

    def close(self) -> None:
        """Stop the thread once any checkpoint under way has finished, and close its
        connection (blocking: call it from a worker thread in async code)."""
        self._closing = True
        self._wanted.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        assert self._connect is not None
        connection = None
        try:
            connection = self._connect()
            while True:
                self._wanted.wait()
                self._wanted.clear()
                if self._closing:
                    return
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except Exception as exc:  # the writers' own checkpoints remain
            _log.warning("wal_checkpoints_stopped", error=str(exc))
        finally:
            if connection is not None:
                connection.close()


def wal_checkpoints(engine: Engine) -> WalCheckpoints:
    """`WalCheckpoints` for `engine`'s database: a thread (started at the first request)
    for a SQLite file, nothing for the others."""
    if not is_sqlite(engine) or _in_memory(engine.url):
        return WalCheckpoints(None)
    dialect = engine.dialect
    arguments, options = dialect.create_connect_args(engine.url)
    return WalCheckpoints(lambda: dialect.connect(*arguments, **options))


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that writes: on SQLite it holds the write lock from its first statement,
    so two writers queue instead of failing with a stale snapshot."""
    with engine.connect() as connection:
        connection = connection.execution_options(**{_IMMEDIATE: True})
        with connection.begin():
            yield connection


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction: one consistent snapshot for everything read inside it."""
    with engine.connect() as connection, connection.begin():
        yield connection


def json_text_array(values: Sequence[str]) -> str:
    """Text values as one JSON array, to be bound as one parameter and read back as rows
    (`json_array_rows`): one statement whatever their number, and no per-value work in the
    driver (an `executemany` on SQLite waits out the GIL each row; a list of bound values
    is compiled and bound anew each time)."""
    return orjson.dumps(list(values)).decode()


def json_array_rows(array: sa.ColumnElement[str], *, sqlite: bool) -> sa.TableValuedAlias:
    """The elements of a bound JSON array of text (`json_text_array`) as rows of one column,
    `value`: SQLite's `json_each`, PostgreSQL's `jsonb_array_elements_text`."""
    if sqlite:
        return sa.func.json_each(array).table_valued("value")
    return sa.func.jsonb_array_elements_text(sa.cast(array, JSONB)).table_valued("value")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite keeps no offset, so every value is converted to UTC on the way in and marked
    UTC on the way out; PostgreSQL uses `timestamptz`.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def migrate(
    engine: Engine,
    script_location: str,
    version_locations: tuple[str, ...] = (),
    version_table: str = "alembic_version",
    known_heads: frozenset[str] | None = None,
) -> None:
    """Apply every Alembic migration under `script_location` (a `package:folder` path) and
    any extra `version_locations` (independent branches, one per sandbox provider).

    A database already at every head is left alone after one query: every process start
    (and every test's app) checks, and Alembic's own upgrade would load each migration
    file again to find it has nothing to do. With `known_heads` (the heads the package
    declares; a test holds them equal to Alembic's), a database at them is recognised
    without importing Alembic at all: a sixth of a CLI command's start-up."""
    stored = _stored_heads(engine, version_table)
    if known_heads is not None and stored == known_heads:
        return
    from alembic import command

    if stored == alembic_heads(script_location, version_locations):
        return
    config = _alembic_config(script_location, version_locations)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        config.attributes["version_table"] = version_table
        command.upgrade(config, "heads")


def _stored_heads(engine: Engine, version_table: str) -> frozenset[str]:
    """The revisions the database says it is at; none when it was never migrated."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table(version_table):
            return frozenset()
        rows = connection.execute(sa.text(f"SELECT version_num FROM {version_table}"))
        return frozenset(str(row[0]) for row in rows)


def _alembic_config(script_location: str, version_locations: tuple[str, ...]) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", script_location)
    if version_locations:
        config.set_main_option("version_locations", " ".join(version_locations))
        config.set_main_option("path_separator", "space")
    return config


@functools.cache
def alembic_heads(script_location: str, version_locations: tuple[str, ...] = ()) -> frozenset[str]:
    """The head revisions of the migrations, as Alembic reads them (they do not change while
    a process runs)."""
    from alembic.script import ScriptDirectory

    config = _alembic_config(script_location, version_locations)
    return frozenset(ScriptDirectory.from_config(config).get_heads())
