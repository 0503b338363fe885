"""Migrated databases for each test, copied from a template migrated once per test process.

Applying every Alembic migration (the main database and each sandbox's branch) costs a
test about 0.1 s on SQLite and 0.5 s on PostgreSQL; copying a migrated template costs a few
milliseconds. Every test still gets databases of its own, and the app still runs `migrate` on
them when it starts (and finds them at head); the migrations themselves run from empty once
per process and backend, as on a fresh install.

SQLite copies the template's files. PostgreSQL cannot copy a schema, so the statements the
migrations sent to an empty schema are recorded and replayed into each new schema in one
transaction; the first replay is compared with the template (every column, index,
constraint and row), so a migration whose statements do not replay fails loudly here
instead of testing the wrong database. Replaying (about 0.1 s) and dropping (about 30 ms)
happen in a thread of their own: the next test's schemas are made while this test runs,
and a finished test's are dropped while the next one runs.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ledgerbridge.db import create_engine, migrate
from ledgerbridge.runtime import MAIN_MIGRATIONS, migrate_sandbox_database

MIGRATIONS: dict[str, Callable[[Engine], None]] = {
    "main": lambda engine: migrate(engine, MAIN_MIGRATIONS),
    "sandbox": migrate_sandbox_database,
}
"""The two databases a process opens, by file name, and how each is migrated."""


class SQLiteTemplate:
    """Migrated `main.db` and `sandbox.db` in `folder`, copied whole for each test."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        for name, apply in MIGRATIONS.items():
            engine = create_engine(f"sqlite:///{folder / f'{name}.db'}")
            apply(engine)
            with engine.connect() as connection:
                # Everything into the main file, so the file alone is the database.
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            engine.dispose()

    def copy_to(self, folder: Path) -> tuple[str, str]:
        """(main, sandbox) URLs of fresh copies in `folder`."""
        urls = []
        for name in MIGRATIONS:
            shutil.copyfile(self.folder / f"{name}.db", folder / f"{name}.db")
            urls.append(f"sqlite:///{folder / f'{name}.db'}")
        return urls[0], urls[1]


@dataclass
class _Recording:
    """Every statement an engine sends, with its parameters, in order."""

    statements: list[tuple[str, Any, bool]] = field(default_factory=list)

    def __call__(
        self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, many: bool
    ) -> None:
        self.statements.append((statement, parameters, many))

    def steps(self) -> list[tuple[str, Any, bool]]:
        """The statements to replay, consecutive plain ones joined into one script (one
        round trip, not fifty). Reads are left out (Alembic looking for its version table):
        the first replay's comparison with the template proves nothing was lost."""
        steps: list[tuple[str, Any, bool]] = []
        script: list[str] = []
        for statement, parameters, many in self.statements:
            if statement.lstrip()[:6].upper() == "SELECT":
                continue
            if many or parameters or "%" in statement:
                steps += [(";\n".join(script), None, False)] if script else []
                steps.append((statement, parameters, many))
                script = []
            else:
                script.append(statement.strip())
        return steps + ([(";\n".join(script), None, False)] if script else [])


class PostgreSQLTemplate:
    """The statements that migrate an empty schema, replayed into each test's new schema."""

    def __init__(self, schema_url: Callable[[str], str]) -> None:
        self._admin = sa.create_engine(schema_url("public"), isolation_level="AUTOCOMMIT")
        self._replayer = sa.create_engine(schema_url("public"))
        self._steps: dict[str, list[tuple[str, Any, bool]]] = {}
        self._templates: dict[str, str] = {}
        self._checked = False
        self._background = ThreadPoolExecutor(1, thread_name_prefix="test-schemas")
        self._next: Future[list[str]] | None = None
        for name, apply in MIGRATIONS.items():
            schema = f"lbtest_{secrets.token_hex(6)}"
            with self._admin.connect() as connection:
                connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
            engine = create_engine(schema_url(schema))
            recording = _Recording()
            sa.event.listen(engine, "before_cursor_execute", recording)
            apply(engine)
            engine.dispose()
            if any(schema in statement for statement, _, _ in recording.statements):
                raise AssertionError(f"a migration names its schema {schema}: it cannot replay")
            self._steps[name] = recording.steps()
            self._templates[name] = schema

    def create(self) -> list[str]:
        """Two new migrated schemas (main, sandbox); the caller drops them with `drop`."""
        made = self._next or self._background.submit(self._make)
        self._next = self._background.submit(self._make)
        schemas = made.result()
        if not self._checked:
            for template, schema in zip(self._templates.values(), schemas, strict=True):
                _assert_same_schema(self._admin, template, schema)
            self._checked = True
        return schemas

    def _make(self) -> list[str]:
        """Two new migrated schemas, in one transaction."""
        schemas = [f"lbtest_{secrets.token_hex(6)}" for _ in self._steps]
        with self._replayer.begin() as connection:
            cursor = connection.connection.cursor()
            for schema, steps in zip(schemas, self._steps.values(), strict=True):
                cursor.execute(f"CREATE SCHEMA {schema}; SET LOCAL search_path TO {schema}")
                for statement, parameters, many in steps:
                    if many:
                        cursor.executemany(statement, parameters)
                    else:
                        cursor.execute(statement, parameters)
        return schemas

    def drop(self, schemas: list[str]) -> None:
        """Drop `schemas` in the background (before `close` returns)."""
        self._background.submit(self._drop, schemas)

    def _drop(self, schemas: list[str]) -> None:
        with self._admin.connect() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {', '.join(schemas)} CASCADE")

    def close(self) -> None:
        if self._next is not None:
            self.drop(self._next.result())
        self._background.shutdown(wait=True)
        self._drop(list(self._templates.values()))
        self._admin.dispose()
        self._replayer.dispose()


_CATALOG = {
    "columns": """SELECT table_name, column_name, data_type, is_nullable, column_default
                  FROM information_schema.columns WHERE table_schema = :schema""",
    "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = :schema",
    "constraints": """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
                      FROM pg_constraint WHERE connamespace = :schema ::regnamespace""",
    "sequences": """SELECT sequencename, last_value FROM pg_sequences
                    WHERE schemaname = :schema""",
}


def _describe(connection: sa.Connection, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """A schema's tables, indexes, constraints, sequences and rows, with its name blanked."""
    description: dict[str, list[tuple[Any, ...]]] = {}
    for part, query in _CATALOG.items():
        rows = connection.execute(sa.text(query), {"schema": schema})
        description[part] = sorted(
            tuple(str(value).replace(schema, "S") for value in row) for row in rows
        )
    for (table,) in connection.execute(
        sa.text("SELECT tablename FROM pg_tables WHERE schemaname = :schema"), {"schema": schema}
    ):
        rows = connection.exec_driver_sql(f'SELECT * FROM {schema}."{table}"')
        description[f"rows of {table}"] = sorted(tuple(map(str, row)) for row in rows)
    return description


def _assert_same_schema(engine: Engine, template: str, copy: str) -> None:
    with engine.connect() as connection:
        expected, actual = _describe(connection, template), _describe(connection, copy)
    if expected != actual:
        raise AssertionError(f"replaying the migrations of {template} into {copy} differs")
