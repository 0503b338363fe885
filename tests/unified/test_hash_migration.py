"""Migrations 0012 (blake2b -> XXH3) and 0013 (the payload's hash of its stored text, not
of its sorted keys) rehash stored records so that saving the same records again after the
upgrade changes nothing: no record reads as changed, no change sequence number is taken,
no platform object is rewritten. On every backend."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.migrations import HEADS
from ledgerbridge.tables import records
from ledgerbridge.unified.records import (
    IncomingRecord,
    WriteCounts,
    current_change_seq,
    record_version,
    save_records,
    text_hash,
)

from .conftest import T0, run_alembic

MODEL = "Customer"
COUNT = 2_500  # more than one of the migration's batches of 2,000


def _record(number: int) -> IncomingRecord:
    """A customer whose payload and platform object hold what JSON can: nested objects,
    text beyond ASCII, decimals, nulls, booleans; every tenth without a platform object."""
    payload = {
        "id": str(number),
        "display_name": f"Zoë Ðoe {number}",
        "balance": number / 8,
        "bill_address": {"line1": f"{number} Rue de l'Église", "city": None},
        "active": number % 3 != 0,
        "tags": [number, "x", None],
    }
    remote = None if number % 10 == 0 else {"Id": str(number), "Balance": number / 8, "Zz": "é"}
    version = record_version(T0, number)
    return IncomingRecord(str(number), payload, remote_data=remote, version=version)


def _save(engine: Engine, conn_id: str, batch: list[IncomingRecord]) -> WriteCounts:
    with write_transaction(engine) as conn:
        return save_records(conn, connection_id=conn_id, model=MODEL, batch=batch, now=T0)


def _hashes(engine: Engine) -> dict[str, tuple[str, str | None]]:
    with read_transaction(engine) as conn:
        rows = conn.execute(
            sa.select(records.c.external_id, records.c.content_hash, records.c.remote_hash)
        )
        return {external_id: (content, remote) for external_id, content, remote in rows}


def _blake2b(value: Any, **options: Any) -> str:
    return hashlib.blake2b(orjson.dumps(value, **options), digest_size=16).hexdigest()


def test_records_stored_before_the_upgrade_are_unchanged_when_saved_again(
    engine: Engine, conn_id: str
) -> None:
    batch = [_record(number) for number in range(COUNT)]
    assert _save(engine, conn_id, batch).added == COUNT
    (head,) = HEADS

    # As the store wrote them before XXH3: the downgrade puts blake2b back.
    run_alembic(engine, "downgrade", "0011")
    stored = _hashes(engine)
    for record in batch:
        remote = None if record.remote_data is None else _blake2b(record.remote_data)
        sorted_keys = _blake2b(record.payload, option=orjson.OPT_SORT_KEYS)
        assert stored[record.external_id] == (sorted_keys, remote)

    # XXH3 of the payload's sorted keys, as migration 0012 left them.
    run_alembic(engine, "upgrade", "0012")
    stored = _hashes(engine)
    for record in batch:
        remote = None if record.remote_data is None else text_hash(orjson.dumps(record.remote_data))
        sorted_keys = text_hash(orjson.dumps(record.payload, option=orjson.OPT_SORT_KEYS))
        assert stored[record.external_id] == (sorted_keys, remote)

    run_alembic(engine, "upgrade", head)
    stored = _hashes(engine)
    for record in batch:
        remote = None if record.remote_data is None else text_hash(orjson.dumps(record.remote_data))
        assert stored[record.external_id] == (text_hash(orjson.dumps(record.payload)), remote)
        assert stored[record.external_id] == (record.content_hash, record.remote_hash)

    with read_transaction(engine) as conn:
        sequence = current_change_seq(conn, conn_id)
        written = conn.execute(sa.select(records.c.id, records.c.remote_data)).all()
    counts = _save(engine, conn_id, batch)
    assert counts == WriteCounts(unchanged=COUNT)
    with read_transaction(engine) as conn:
        assert current_change_seq(conn, conn_id) == sequence
        assert conn.execute(sa.select(records.c.id, records.c.remote_data)).all() == written
