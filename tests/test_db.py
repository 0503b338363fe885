"""How `db.create_engine` sets up SQLite files, the migrated schema, and the write-ahead
log's checkpoints on a thread of their own (`wal_checkpoints`)."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi import FastAPI

from ledgerbridge.config import Settings
from ledgerbridge.db import SQLITE_PAGE_SIZE, create_engine, wal_checkpoints, write_transaction
from ledgerbridge.runtime import open_databases
from ledgerbridge.tables import metadata
from observability.support import captured_logs, log_lines


def _pragma(path: Path, name: str) -> object:
    with sqlite3.connect(path) as connection:
        return connection.execute(f"PRAGMA {name}").fetchone()[0]


def test_a_new_database_gets_large_pages_and_a_write_ahead_log(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    engine = create_engine(f"sqlite:///{path}")
    with write_transaction(engine) as conn:
        conn.exec_driver_sql("CREATE TABLE t (a INTEGER)")
    engine.dispose()
    assert _pragma(path, "page_size") == SQLITE_PAGE_SIZE
    assert _pragma(path, "journal_mode") == "wal"


def test_only_the_main_database_keeps_its_temporary_files_in_memory(tmp_path: Path) -> None:
    """The record store's page inserts keep their statement journal in memory; the
    sandbox's database, which sorts on any field a client names, lets big sorts spill."""
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'main.db'}",
        sandbox_database_url=f"sqlite:///{tmp_path / 'sandbox.db'}",
        _env_file=None,  # type: ignore[call-arg]
    )
    databases = open_databases(settings)
    try:
        temp_stores = {}
        for name, engine in (("main", databases.main), ("sandbox", databases.sandbox)):
            with engine.connect() as conn:
                temp_stores[name] = conn.exec_driver_sql("PRAGMA temp_store").scalar_one()
    finally:
        databases.dispose()
    assert temp_stores == {"main": 2, "sandbox": 0}  # MEMORY, and the default


def test_an_existing_database_keeps_its_page_size_and_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA page_size=4096")
        connection.execute("CREATE TABLE t (a INTEGER)")
        connection.execute("INSERT INTO t VALUES (1)")
    engine = create_engine(f"sqlite:///{path}")
    with write_transaction(engine) as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (2)")
        assert [row[0] for row in conn.exec_driver_sql("SELECT a FROM t ORDER BY a")] == [1, 2]
    engine.dispose()
    assert _pragma(path, "page_size") == 4096


def test_the_migrations_build_the_schema_tables_py_declares(app: FastAPI) -> None:
    """What Alembic's autogenerate would write for the difference: nothing, on either
    database (a table added to `tables.py` without its migration, or the reverse, fails)."""
    with app.state.databases.main.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []


def _checkpoint_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "ledgerbridge-wal-checkpoints"}


def test_a_requested_checkpoint_copies_the_log_into_the_database_on_its_own_thread(
    tmp_path: Path,
) -> None:
    """The writer's own checkpoints are off, so only the background thread can move the
    written pages from the log into the database file."""
    path = tmp_path / "wal.db"
    engine = create_engine(f"sqlite:///{path}")
    with write_transaction(engine) as conn:
        conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")  # this pooled connection's
        conn.exec_driver_sql("CREATE TABLE t (a TEXT)")
    for _ in range(4):
        with write_transaction(engine) as conn:
            conn.exec_driver_sql(
                "INSERT INTO t SELECT hex(randomblob(100)) FROM json_each(?)",
                (str(list(range(1000))),),
            )
    empty = path.stat().st_size
    assert Path(f"{path}-wal").stat().st_size > 500_000 > empty

    others = _checkpoint_threads()
    checkpoints = wal_checkpoints(engine)
    assert _checkpoint_threads() == others  # started by the first request
    checkpoints.request()
    assert len(_checkpoint_threads() - others) == 1
    deadline = time.monotonic() + 10
    while path.stat().st_size < 500_000 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert path.stat().st_size > 500_000
    checkpoints.close()
    assert _checkpoint_threads() <= others
    with write_transaction(engine) as conn:  # the writer goes on, nothing lost
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar_one() == 4000
    engine.dispose()


def test_checkpoints_that_cannot_run_are_logged_and_change_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "gone"
    engine = create_engine(f"sqlite:///{folder / 'x.db'}")
    shutil.rmtree(folder)
    checkpoints = wal_checkpoints(engine)
    with captured_logs() as logs:
        checkpoints.request()
        checkpoints.close()
        checkpoints.request()  # after it stopped: still no error
    [line] = [line for line in log_lines(logs) if line["event"] == "wal_checkpoints_stopped"]
    assert line["level"] == "warning"
    assert "unable to open database file" in line["error"]
    engine.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "postgresql+psycopg://nobody@127.0.0.1:1/none"])
def test_postgresql_and_an_in_memory_database_get_no_checkpoint_thread(url: str) -> None:
    engine = create_engine(url)  # PostgreSQL's is never connected to
    others = _checkpoint_threads()
    checkpoints = wal_checkpoints(engine)
    with captured_logs() as logs:
        checkpoints.request()
        assert _checkpoint_threads() <= others
        checkpoints.close()
    # A thread started for PostgreSQL would have failed to connect (port 1) and said so.
    assert [line for line in log_lines(logs) if line["event"] == "wal_checkpoints_stopped"] == []
    engine.dispose()
