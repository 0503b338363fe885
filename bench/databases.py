"""A PostgreSQL database of a benchmark's own, made for one run and dropped after it.

A benchmark that wrote into the database it was given would meet, on its next run, what
the last one left: connections whose credentials were sealed with that run's key (each run
makes a new data folder, and with it a new key), which the app refuses to start over
("stored credentials cannot be decrypted"), and records that change every figure."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

BENCH_POSTGRES = os.environ.get(
    "LEDGERBRIDGE_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
"""The PostgreSQL server the benchmarks that need one use (`scheduler_bench`, and
`records_bench` for goal 5's readers): a database on it names the server, and each run
makes its own there."""


def is_postgresql(url: str) -> bool:
    return bool(url) and sa.engine.make_url(url).get_backend_name() == "postgresql"


@contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new database on the server `server_url` names (through the database it names,
    which is left as it is), as a URL; dropped on the way out, connections and all."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        try:
            yield (
                sa.engine.make_url(server_url)
                .set(database=name)
                .render_as_string(hide_password=False)
            )
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        admin.dispose()
