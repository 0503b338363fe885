"""Migration 0014: on PostgreSQL (where the server offers LZ4), a platform object large
enough to be compressed is compressed with LZ4, and the downgrade puts the server's default
back; values stored either way read back the same. On SQLite the migration changes
nothing."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.migrations import HEADS
from ledgerbridge.tables import records
from ledgerbridge.unified.records import IncomingRecord, record_version, save_records

from .conftest import T0, run_alembic


def _save(engine: Engine, conn_id: str, external_id: str) -> dict[str, str]:
    """A customer whose platform object is about 6 KB of repetitive text: PostgreSQL
    compresses a row past about 2 KB."""
    remote = {"Id": external_id, "Notes": "the same words again " * 300}
    record = IncomingRecord(
        external_id,
        {"id": external_id, "display_name": f"Customer {external_id}"},
        remote_data=remote,
        version=record_version(T0, int(external_id)),
    )
    with write_transaction(engine) as conn:
        save_records(conn, connection_id=conn_id, model="Customer", batch=[record], now=T0)
    return remote


def _compression(engine: Engine, external_id: str) -> str | None:
    with read_transaction(engine) as conn:
        method: str | None = conn.execute(
            sa.select(sa.func.pg_column_compression(records.c.remote_data)).where(
                records.c.external_id == external_id
            )
        ).scalar_one()
        return method


def _methods(engine: Engine) -> tuple[str, str]:
    """The server's default compression, and what the upgrade should set: LZ4 where the
    server offers it."""
    with read_transaction(engine) as conn:
        default = str(conn.exec_driver_sql("SHOW default_toast_compression").scalar_one())
        offered = conn.exec_driver_sql(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        ).scalar_one()
    return default, "lz4" if offered else default


def _stored(engine: Engine) -> dict[str, object]:
    with read_transaction(engine) as conn:
        rows = conn.execute(sa.select(records.c.external_id, records.c.remote_data))
        return {str(external_id): remote for external_id, remote in rows}


def test_platform_objects_are_compressed_with_lz4_and_read_back_unchanged(
    engine: Engine, conn_id: str, backend: str
) -> None:
    (head,) = HEADS
    postgresql = backend == "postgresql"
    default, upgraded = _methods(engine) if postgresql else ("", "")
    run_alembic(engine, "downgrade", "0013")
    before = _save(engine, conn_id, "1")
    run_alembic(engine, "upgrade", head)
    after = _save(engine, conn_id, "2")
    assert _stored(engine) == {"1": before, "2": after}
    if postgresql:
        assert (_compression(engine, "1"), _compression(engine, "2")) == (default, upgraded)

    run_alembic(engine, "downgrade", "0013")
    again = _save(engine, conn_id, "3")
    assert _stored(engine) == {"1": before, "2": after, "3": again}
    if postgresql:
        assert _compression(engine, "3") == default
    run_alembic(engine, "upgrade", head)
