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
instead of testing the wrong database. Replaying costs PostgreSQL 0.1-0.2 s, longer than
most tests, so a finished test's schemas are emptied back to the template's rows, sequence
positions and planner statistics (none) instead: a few milliseconds, in a thread of its
own while the next test starts. The next test gets them; the first emptied pair is
compared with the template too. Schemas whose shape a test changed (a downgrade, say) or
that a test still locks are dropped, not reused.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
        self._compared: set[bool] = set()  # kinds of pair compared: new (False), emptied (True)
        self._background = ThreadPoolExecutor(1, thread_name_prefix="test-schemas")
        self._free: list[list[str]] = []
        self._shapes: dict[str, tuple[Any, ...]] = {}
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
        with self._replayer.connect() as connection:
            self._reset_scripts = {
                template: _reset_script(connection, template, _SCHEMA)
                for template in self._templates.values()
            }

    def create(self) -> list[str]:
        """Two migrated schemas (main, sandbox) holding exactly what the migrations left;
        the caller hands them back with `release`."""
        schemas, recycled = self._background.submit(self._acquire).result()
        if recycled not in self._compared:
            for template, schema in zip(self._templates.values(), schemas, strict=True):
                _assert_same_schema(self._admin, template, schema)
            self._compared.add(recycled)
        return schemas

    def release(self, schemas: list[str]) -> None:
        """A test is done with `schemas`: emptied back to the template for the next test
        (or dropped), in the background."""
        self._background.submit(self._recycle, schemas)

    def _acquire(self) -> tuple[list[str], bool]:
        """An emptied pair when there is one, else a new one; and whether it was used."""
        if self._free:
            return self._free.pop(), True
        return self._make(), False

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
            for schema in schemas:
                self._shapes[schema] = _shape(connection, schema)
        return schemas

    def _recycle(self, schemas: list[str]) -> None:
        """Empty `schemas` back to their templates' rows and sequences, in one
        transaction, unless a test changed their shape (tables, columns, indexes,
        constraints) or still holds a lock on them: those are dropped."""
        try:
            with self._replayer.begin() as connection:
                connection.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
                if any(_shape(connection, s) != self._shapes[s] for s in schemas):
                    raise _Reshaped
                connection.exec_driver_sql(
                    "SET LOCAL session_replication_role = replica;\n"  # no FK order needed
                    + ";\n".join(
                        self._reset_scripts[template].replace(_SCHEMA, schema)
                        for template, schema in zip(self._templates.values(), schemas, strict=True)
                    )
                )
        except (_Reshaped, sa.exc.DBAPIError):
            self._drop(schemas)
            return
        self._free.append(schemas)

    def _drop(self, schemas: list[str]) -> None:
        for schema in schemas:
            self._shapes.pop(schema, None)
        with self._admin.connect() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {', '.join(schemas)} CASCADE")

    def close(self) -> None:
        self._background.shutdown(wait=True)
        for schemas in self._free:
            self._drop(schemas)
        self._drop(list(self._templates.values()))
        self._admin.dispose()
        self._replayer.dispose()


_CATALOGS = ", ".join(
    f"pg_catalog.{name}"
    for name in (
        "pg_class", "pg_attribute", "pg_type", "pg_depend", "pg_index", "pg_constraint",
        "pg_attrdef", "pg_sequence", "pg_namespace", "pg_statistic", "pg_shdepend",
    )
)  # fmt: skip


def compact_catalogs(url: str) -> None:
    """Every schema created and dropped leaves dead rows in PostgreSQL's catalogs
    (`pg_class`, `pg_attribute`, ...). Autovacuum clears them, but a server may run without
    it (the CI machine's does): there they piled up run after run, to 1 GB of
    `pg_attribute`, and made every catalog lookup, so every schema replay, 5 times slower.
    Rewritten when bloated, vacuumed otherwise (milliseconds)."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        size = connection.exec_driver_sql("SELECT pg_relation_size('pg_attribute')").scalar()
        full = "FULL " if (size or 0) > 50 * 2**20 else ""
        connection.exec_driver_sql(f"VACUUM {full}{_CATALOGS}")
    engine.dispose()


_SCHEMA = "__schema__"
"""Stands for the emptied schema's name in a cached reset script."""


class _Reshaped(Exception):
    """A test changed a schema's tables: it cannot be emptied for the next test."""


def _shape(connection: sa.Connection, schema: str) -> tuple[Any, ...]:
    """What a test could have changed in a schema's structure, in one query: its relations,
    columns and constraints (a dropped and re-created table has a new oid)."""
    row = connection.execute(
        sa.text(
            """SELECT (SELECT array_agg(oid ORDER BY oid) FROM pg_class
                       WHERE relnamespace = :schema ::regnamespace),
                      (SELECT count(*) FROM pg_attribute a JOIN pg_class c ON a.attrelid = c.oid
                       WHERE c.relnamespace = :schema ::regnamespace AND NOT a.attisdropped),
                      (SELECT count(*) FROM pg_constraint
                       WHERE connamespace = :schema ::regnamespace)"""
        ),
        {"schema": schema},
    ).one()
    return tuple(row)


def _reset_script(connection: sa.Connection, template: str, schema: str) -> str:
    """The statements that give `schema` the rows and sequence positions of `template`."""
    tables = connection.execute(
        sa.text("SELECT tablename FROM pg_tables WHERE schemaname = :s ORDER BY tablename"),
        {"s": template},
    ).scalars()
    sequences = connection.execute(
        sa.text("SELECT sequencename FROM pg_sequences WHERE schemaname = :s"), {"s": template}
    ).scalars()
    statements = []
    for table in tables:
        statements.append(f'DELETE FROM {schema}."{table}"')
        statements.append(
            f'INSERT INTO {schema}."{table}" OVERRIDING SYSTEM VALUE '
            f'SELECT * FROM {template}."{table}"'
        )
    # What the planner knows of the tables (ANALYZE's statistics, row and page estimates)
    # goes back to the template's too: a new schema has none.
    statements.append(
        "DELETE FROM pg_catalog.pg_statistic WHERE starelid IN "
        f"(SELECT oid FROM pg_catalog.pg_class WHERE relnamespace = '{schema}'::regnamespace)"
    )
    statements.append(
        "UPDATE pg_catalog.pg_class c SET reltuples = t.reltuples, relpages = t.relpages,"
        " relallvisible = t.relallvisible FROM pg_catalog.pg_class t"
        f" WHERE c.relnamespace = '{schema}'::regnamespace"
        f" AND t.relnamespace = '{template}'::regnamespace AND t.relname = c.relname"
    )
    for sequence in sequences:
        statements.append(
            f"SELECT setval('{schema}.\"{sequence}\"', last_value, is_called) "
            f'FROM {template}."{sequence}"'
        )
    return ";\n".join(statements)


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
