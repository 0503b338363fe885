"""Key lists staged in the database while they are read, and the reconciliation that ends
them (`unified/key_lists.py`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ledgerbridge.connections import delete_connection
from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.unified import key_lists
from ledgerbridge.unified.records import (
    DELETED,
    IncomingRecord,
    current_change_seq,
    get_record,
    save_records,
)
from providers.key_lists import staged_keys
from unified.conftest import T0

MODEL = "Customer"
LATER = T0 + timedelta(hours=1)


def save(engine: Engine, conn_id: str, *ids: str) -> None:
    batch = [IncomingRecord(i, {"id": i, "display_name": f"Customer {i}"}) for i in ids]
    with write_transaction(engine) as conn:
        save_records(conn, connection_id=conn_id, model=MODEL, batch=batch, now=T0)


def deleted(engine: Engine, conn_id: str, *ids: str) -> list[bool]:
    with read_transaction(engine) as conn:
        scope: dict[str, Any] = {"connection_id": conn_id, "model": MODEL, "with_remote": False}
        found = [get_record(conn, external_id=i, **scope) for i in ids]
    return [record is not None and record.last_action == DELETED for record in found]


def list_keys(engine: Engine, conn_id: str, *parts: list[str], first: bool = True) -> None:
    """Stage `parts` as a key list's pages, each in its own transaction as a sync saves them."""
    for number, ids in enumerate(parts):
        with write_transaction(engine) as conn:
            key_lists.stage(
                conn, connection_id=conn_id, model=MODEL, ids=ids, first=first and number == 0
            )


def reconcile(engine: Engine, conn_id: str, **kwargs: Any) -> int:
    with write_transaction(engine) as conn:
        began = current_change_seq(conn, conn_id)
        return key_lists.reconcile(
            conn, connection_id=conn_id, model=MODEL, now=LATER, pass_began_at_seq=began, **kwargs
        )


def test_a_list_in_parts_deletes_exactly_what_it_lacks_a_batch_at_a_time(
    engine: Engine, conn_id: str
) -> None:
    ids = [f"{i:03}" for i in range(40)]
    save(engine, conn_id, *ids)
    listed = [i for n, i in enumerate(ids) if n % 4]  # every fourth one is gone
    # Parts overlap at their edges (a platform's page boundary moving): kept once.
    list_keys(engine, conn_id, listed[:12], listed[11:25], listed[24:])
    assert staged_keys(engine, conn_id) == listed

    assert reconcile(engine, conn_id, batch=3) == 10  # more missing than a batch
    assert deleted(engine, conn_id, *ids) == [n % 4 == 0 for n in range(40)]
    assert staged_keys(engine, conn_id) == []  # the list is dropped once used


def test_a_new_list_drops_one_left_unfinished(engine: Engine, conn_id: str) -> None:
    save(engine, conn_id, "1", "2", "3")
    list_keys(engine, conn_id, ["1", "2", "3"])  # a run killed before its list ended
    list_keys(engine, conn_id, ["1"], ["3"])  # the next run lists again: "2" is gone now
    assert staged_keys(engine, conn_id) == ["1", "3"]
    assert reconcile(engine, conn_id) == 1
    assert deleted(engine, conn_id, "1", "2", "3") == [False, True, False]


def test_an_empty_list_deletes_every_live_record(engine: Engine, conn_id: str) -> None:
    save(engine, conn_id, "1", "2")
    list_keys(engine, conn_id, [])
    assert reconcile(engine, conn_id) == 2
    assert reconcile(engine, conn_id) == 0  # already deleted: nothing more


def test_lists_of_two_connections_stay_apart(
    engine: Engine, conn_id: str, other_conn_id: str
) -> None:
    other = other_conn_id
    save(engine, conn_id, "1", "2")
    save(engine, other, "1", "2")
    list_keys(engine, conn_id, ["1"])
    list_keys(engine, other, ["2"])
    assert reconcile(engine, conn_id) == 1
    assert deleted(engine, conn_id, "1", "2") == [False, True]
    assert staged_keys(engine, other) == ["2"]  # the other list untouched
    with write_transaction(engine) as conn:
        delete_connection(conn, other)
    assert staged_keys(engine, other) == []


@pytest.mark.parametrize("size", [1, 5_000])
def test_a_part_is_one_statement_whatever_its_size(engine: Engine, conn_id: str, size: int) -> None:
    list_keys(engine, conn_id, ["seed"])
    statements: list[tuple[str, bool]] = []

    def count(*args: Any) -> None:
        statements.append((str(args[2]), bool(args[5])))  # the text, and `executemany`

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        list_keys(engine, conn_id, [str(i) for i in range(size)], first=False)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    staging = [statement for statement in statements if "listed_keys" in statement[0]]
    assert staging == statements[-1:]
    assert staging[0][1] is False  # one statement, not one a row through executemany
    assert len(staged_keys(engine, conn_id)) == size + 1
