"""How `db.create_engine` sets up SQLite files, and the migrated schema."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi import FastAPI

from ledgerbridge.db import SQLITE_PAGE_SIZE, create_engine, write_transaction
from ledgerbridge.tables import metadata


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
