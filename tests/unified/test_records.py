"""Record-store semantics, one by one (records-api.md), on every backend."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.tables import records
from ledgerbridge.unified import key_lists
from ledgerbridge.unified.customer import iso_utc
from ledgerbridge.unified.records import (
    _SQLITE,
    ADDED,
    DELETED,
    UPDATED,
    IncomingRecord,
    StoredRecord,
    WriteCounts,
    children_of,
    current_change_seq,
    get_record,
    list_records,
    mark_deleted,
    record_version,
    save_records,
    text_hash,
)
from moments import random_moments

MODEL = "Customer"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def customer(external_id: str, name: str = "Ann", **extra: Any) -> IncomingRecord:
    payload = {"id": external_id, "display_name": name, **extra}
    return IncomingRecord(external_id, payload, remote_data={"Id": external_id, "raw": name})


def save(engine: Engine, conn_id: str, *batch: IncomingRecord, at: datetime = T0) -> WriteCounts:
    with write_transaction(engine) as conn:
        return save_records(conn, connection_id=conn_id, model=MODEL, batch=batch, now=at)


def read(engine: Engine, conn_id: str, **kwargs: Any) -> list[StoredRecord]:
    with read_transaction(engine) as conn:
        page, _ = list_records(conn, connection_id=conn_id, model=MODEL, limit=1000, **kwargs)
    return page


def one(engine: Engine, conn_id: str, external_id: str) -> StoredRecord:
    with read_transaction(engine) as conn:
        record = get_record(
            conn, connection_id=conn_id, model=MODEL, external_id=external_id, with_remote=True
        )
    assert record is not None
    return record


def test_first_save_adds(engine: Engine, conn_id: str) -> None:
    counts = save(engine, conn_id, customer("1"), customer("2"))
    assert (counts.added, counts.updated, counts.unchanged) == (2, 0, 0)
    stored = one(engine, conn_id, "1")
    assert stored.last_action == ADDED
    assert stored.first_seen_at == stored.last_modified_at == T0
    assert stored.remote_data == {"Id": "1", "raw": "Ann"}


def test_identical_resave_is_invisible(engine: Engine, conn_id: str) -> None:
    save(engine, conn_id, customer("1"))
    before = one(engine, conn_id, "1")
    counts = save(engine, conn_id, customer("1"), at=T0 + timedelta(hours=1))
    assert counts.unchanged == 1
    assert counts.changed == 0
    assert one(engine, conn_id, "1") == before
    assert read(engine, conn_id, after_seq=before.change_seq) == []


def test_raw_payload_is_outside_the_hash(engine: Engine, conn_id: str) -> None:
    save(engine, conn_id, customer("1"))
    before = one(engine, conn_id, "1")
    changed_raw = IncomingRecord("1", {"id": "1", "display_name": "Ann"}, {"Id": "1", "v": 2})
    assert save(engine, conn_id, changed_raw, at=T0 + timedelta(hours=1)).unchanged == 1
    after = one(engine, conn_id, "1")
    assert after.remote_data == {"Id": "1", "v": 2}  # kept fresh ...
    assert (after.change_seq, after.last_modified_at) == (before.change_seq, T0)  # ... silently


def test_content_change_updates_and_moves_the_record(engine: Engine, conn_id: str) -> None:
    save(engine, conn_id, customer("1"), customer("2"))
    later = T0 + timedelta(hours=1)
    counts = save(engine, conn_id, customer("1", "Anna"), at=later)
    assert counts.updated == 1
    stored = one(engine, conn_id, "1")
    assert (stored.last_action, stored.first_seen_at, stored.last_modified_at) == (
        UPDATED,
        T0,
        later,
    )
    assert [r.external_id for r in read(engine, conn_id)] == ["2", "1"]  # change order


def test_delete_keeps_payload_and_undelete_reads_as_added(engine: Engine, conn_id: str) -> None:
    save(engine, conn_id, customer("1"))
    t1, t2 = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    with write_transaction(engine) as conn:
        assert (
            mark_deleted(conn, connection_id=conn_id, model=MODEL, external_ids=["1", "9"], now=t1)
            == 1
        )
    deleted = one(engine, conn_id, "1")
    assert (deleted.last_action, deleted.deleted_at, deleted.last_modified_at) == (DELETED, t1, t1)
    assert deleted.payload["display_name"] == "Ann"
    with write_transaction(engine) as conn:  # deleting again changes nothing
        assert (
            mark_deleted(conn, connection_id=conn_id, model=MODEL, external_ids=["1"], now=t2) == 0
        )
    assert save(engine, conn_id, customer("1"), at=t2).added == 1
    back = one(engine, conn_id, "1")
    assert (back.last_action, back.deleted_at, back.first_seen_at) == (ADDED, None, t2)


def test_inactive_record_is_saved_as_deleted_with_its_payload(engine: Engine, conn_id: str) -> None:
    save(engine, conn_id, customer("1"))
    inactive = IncomingRecord(
        "1", {"id": "1", "display_name": "Ann", "active": False}, deleted=True
    )
    counts = save(engine, conn_id, inactive, at=T0 + timedelta(hours=1))
    assert counts.deleted == 1
    stored = one(engine, conn_id, "1")
    assert stored.last_action == DELETED
    assert stored.payload["active"] is False
    assert save(engine, conn_id, inactive, at=T0 + timedelta(hours=2)).unchanged == 1
    first_seen_inactive = IncomingRecord("2", {"id": "2", "active": False}, deleted=True)
    assert save(engine, conn_id, first_seen_inactive).deleted == 1
    assert one(engine, conn_id, "2").last_action == DELETED


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        ({ADDED}, ["new"]),  # never changed since first seen
        ({UPDATED}, ["changed"]),
        ({DELETED}, ["gone"]),
        ({ADDED, DELETED}, ["new", "gone"]),  # combinations are unions
        ({ADDED, UPDATED, DELETED}, ["new", "changed", "gone"]),
    ],
)
def test_filters(engine: Engine, conn_id: str, actions: set[str], expected: list[str]) -> None:
    save(engine, conn_id, customer("new"), customer("changed"), customer("gone"))
    save(engine, conn_id, customer("changed", "Bob"), at=T0 + timedelta(hours=1))
    with write_transaction(engine) as conn:
        mark_deleted(
            conn,
            connection_id=conn_id,
            model=MODEL,
            external_ids=["gone"],
            now=T0 + timedelta(hours=2),
        )
    assert [r.external_id for r in read(engine, conn_id, actions=actions)] == expected


def test_cursor_is_exclusive_and_modified_after_inclusive(engine: Engine, conn_id: str) -> None:
    for hour in range(3):
        save(engine, conn_id, customer(str(hour)), at=T0 + timedelta(hours=hour))
    everything = read(engine, conn_id)
    assert [r.external_id for r in read(engine, conn_id, after_seq=everything[0].change_seq)] == [
        "1",
        "2",
    ]
    assert [
        r.external_id for r in read(engine, conn_id, modified_after=T0 + timedelta(hours=1))
    ] == ["1", "2"]


def test_limit_pages_and_reports_more(engine: Engine, conn_id: str) -> None:
    save(engine, conn_id, *(customer(str(i)) for i in range(5)))
    with read_transaction(engine) as conn:
        first, more = list_records(conn, connection_id=conn_id, model=MODEL, limit=2)
        assert len(first) == 2
        assert more
        last, more = list_records(
            conn, connection_id=conn_id, model=MODEL, limit=3, after_seq=first[-1].change_seq
        )
        assert len(last) == 3
        assert not more


def test_batch_with_repeated_id_keeps_the_last(engine: Engine, conn_id: str) -> None:
    counts = save(engine, conn_id, customer("1", "Ann"), customer("1", "Bob"))
    assert counts.added == 1
    assert one(engine, conn_id, "1").payload["display_name"] == "Bob"


def test_connections_do_not_see_each_other(
    engine: Engine, conn_id: str, other_conn_id: str
) -> None:
    other = other_conn_id
    save(engine, conn_id, customer("1"))
    save(engine, other, customer("1", "Other"))
    assert [r.payload["display_name"] for r in read(engine, other)] == ["Other"]
    with read_transaction(engine) as conn:
        everything = current_change_seq(conn, conn_id)
        assert key_lists.unlisted(
            conn, connection_id=conn_id, model=MODEL, pass_began_at_seq=everything
        ) == ["1"]


def test_a_page_is_written_in_a_constant_number_of_statements(engine: Engine, conn_id: str) -> None:
    save(engine, conn_id, *(customer(str(i)) for i in range(500)))
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        batch = [customer(str(i), "Changed" if i % 2 else "Ann") for i in range(1000)]
        counts = save(engine, conn_id, *batch)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert (counts.added, counts.updated, counts.unchanged) == (500, 250, 250)
    # lock + lookup + insert (insertmanyvalues may split it) + update + sequence bump
    assert len(statements) <= 8, statements


def test_a_page_larger_than_a_lookup_chunk(engine: Engine, conn_id: str) -> None:
    batch = [customer(str(i)) for i in range(2500)]
    assert save(engine, conn_id, *batch).added == 2500
    later = T0 + timedelta(hours=1)
    counts = save(engine, conn_id, *batch[:-1], customer("2499", "Changed"), at=later)
    assert (counts.added, counts.updated, counts.unchanged) == (0, 1, 2499)
    ids = [str(i) for i in range(0, 2500, 2)]
    with write_transaction(engine) as conn:
        deleted = mark_deleted(
            conn, connection_id=conn_id, model=MODEL, external_ids=ids, now=later
        )
    assert deleted == 1250
    with read_transaction(engine) as conn:
        page, more = list_records(
            conn, connection_id=conn_id, model=MODEL, actions={DELETED}, limit=2000
        )
    assert [r.external_id for r in page] == ids
    assert not more


def test_postgresql_gets_statistics_for_a_table_it_has_none_for(
    backend: str, engine: Engine, conn_id: str
) -> None:
    # The lookup's plan rests on them; a new database, or a server without autovacuum, has none.
    if backend != "postgresql":
        pytest.skip("PostgreSQL only")
    query = sa.text(
        "SELECT count(*) FROM pg_stats"
        " WHERE schemaname = current_schema() AND tablename = 'records'"
    )
    with read_transaction(engine) as conn:
        assert conn.execute(query).scalar_one() == 0
    save(engine, conn_id, customer("1"))
    with read_transaction(engine) as conn:
        assert conn.execute(query).scalar_one() > 0


def test_reader_paging_while_a_writer_commits_misses_nothing(engine: Engine, conn_id: str) -> None:
    save(engine, conn_id, *(customer(str(i)) for i in range(300)))
    writer_done = threading.Event()

    def writer() -> None:
        for round_ in range(20):
            batch = [customer(str(i), f"v{round_}") for i in range(round_ * 7 % 300, 300, 37)]
            batch.append(customer(f"new{round_}"))
            save(engine, conn_id, *batch, at=T0 + timedelta(minutes=round_ + 1))
        writer_done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    seen: dict[str, list[str | None]] = {}
    after = None
    while True:
        with read_transaction(engine) as conn:
            page, more = list_records(
                conn, connection_id=conn_id, model=MODEL, limit=7, after_seq=after
            )
        for record in page:
            seen.setdefault(record.external_id, []).append(record.payload.get("display_name"))
        if page:
            after = page[-1].change_seq
        if not more and writer_done.is_set():
            with read_transaction(engine) as conn:  # one more look after the writer ended
                tail, _ = list_records(
                    conn, connection_id=conn_id, model=MODEL, limit=10_000, after_seq=after
                )
            for record in tail:
                seen.setdefault(record.external_id, []).append(record.payload.get("display_name"))
            break
    thread.join()
    with read_transaction(engine) as conn:
        rows = conn.execute(
            sa.select(records.c.external_id, records.c.payload).where(
                records.c.connection_id == conn_id
            )
        ).all()
    final = {row.external_id: row.payload["display_name"] for row in rows}
    assert set(seen) == set(final)  # every record seen
    assert {k: v[-1] for k, v in seen.items()} == final  # and its latest version
    for external_id, versions in seen.items():  # no version is served twice
        assert len(versions) == len(set(versions)), (external_id, versions)


def versioned(external_id: str, name: str, version: str | None) -> IncomingRecord:
    return IncomingRecord(external_id, {"id": external_id, "display_name": name}, version=version)


V1 = record_version(T0, 1)
V2 = record_version(T0, 2)  # same second, the next SyncToken
V3 = record_version(T0 + timedelta(seconds=1), 0)  # a later second outranks any number


def test_versions_sort_by_time_then_number() -> None:
    assert V1 < V2 < V3
    assert record_version(T0, 9) < record_version(T0, 10)  # numbers, not text
    # The same instant in another offset is the same version.
    assert record_version(T0.astimezone(timezone(timedelta(hours=-7))), 1) == V1
    assert record_version(None, 3) < record_version(None, 12)
    # Known only by its time (a merge in CDC), a version follows that second's numbered ones.
    assert V2 < record_version(T0, None) < V3
    with pytest.raises(ValueError, match="non-negative integer"):
        record_version(T0, "-1")


def test_the_content_hash_is_of_the_text_the_store_writes() -> None:
    """A payload is the whole unified model in the model's order (each platform's mapper
    tests hold its payloads to `to_payload`'s keys and order), so one content is one text,
    and the store hashes the text it writes."""
    payload = {"a": {"x": [1, "t"], "y": None}, "b": 2, "c": "Zoë"}
    record = IncomingRecord("1", payload)
    assert record.payload_text == orjson.dumps(payload).decode()
    assert record.content_hash == text_hash(orjson.dumps(payload))
    assert IncomingRecord("1", dict(payload)).content_hash == record.content_hash
    assert IncomingRecord("1", {**payload, "b": 3}).content_hash != record.content_hash
    assert IncomingRecord("1", {**payload, "a": {"x": [1, "t"]}}).content_hash != (
        record.content_hash
    )


def test_any_text_survives_the_page_writer_exactly(engine: Engine, conn_id: str) -> None:
    """A page goes to the database as one statement (PostgreSQL: binary arrays): quotes,
    backslashes, braces, commas, non-ASCII text and NULLs beside values come back exactly,
    as inserts, as content updates and as remote-only updates."""
    texts = ['"quoted"', "back\\slash", "{braces}", "a,b", "NULL", "", "日本語 ✓", "tab\tline\n"]

    def page(suffix: str, remote: bool) -> list[IncomingRecord]:
        return [
            IncomingRecord(
                f"id {text}",
                {"id": text, "display_name": text + suffix, "nested": {"k": [text, None]}},
                {"Name": text, "n": suffix} if remote or n % 2 else None,
                deleted=n % 3 == 0,
                version=None if n % 2 else record_version(T0, n),
            )
            for n, text in enumerate(texts)
        ]

    for suffix, remote in (("", False), ("", True), (" 2", True)):  # insert, remote, content
        save(engine, conn_id, *page(suffix, remote))
        with read_transaction(engine) as conn:
            stored, _ = list_records(
                conn, connection_id=conn_id, model=MODEL, limit=100, with_remote=True
            )
        by_id = {record.external_id: record for record in stored}
        for expected in page(suffix, remote):
            record = by_id[expected.external_id]
            assert record.payload == expected.payload
            assert record.remote_data == expected.remote_data
            assert (record.deleted_at is not None) == expected.deleted


def test_a_page_larger_than_one_statement_takes_is_written_whole(
    engine: Engine, conn_id: str
) -> None:
    """5,000 records (an Intacct page is 4,000) exceed one SQLite statement's bound values:
    every insert, content update, undelete and remote-only update still lands, each once."""
    ids = [str(n) for n in range(5000)]

    def page(name: str, remote: str, *, deleted: bool = False) -> list[IncomingRecord]:
        return [
            IncomingRecord(i, {"id": i, "display_name": f"{name} {i}"}, {"n": remote}, deleted)
            for i in ids
        ]

    assert save(engine, conn_id, *page("A", "r1")).added == 5000
    assert save(engine, conn_id, *page("A", "r2")).unchanged == 5000  # remote_data only
    assert save(engine, conn_id, *page("A", "r2", deleted=True)).deleted == 5000
    assert save(engine, conn_id, *page("B", "r3")).added == 5000  # undeleted, new content
    with read_transaction(engine) as conn:
        stored, _ = list_records(
            conn, connection_id=conn_id, model=MODEL, limit=6000, with_remote=True
        )
    assert sorted(r.external_id for r in stored) == sorted(ids)
    assert {r.payload["display_name"] for r in stored} == {f"B {i}" for i in ids}
    assert {r.remote_data["n"] for r in stored if r.remote_data} == {"r3"}
    assert all(r.deleted_at is None and r.last_action == ADDED for r in stored)
    assert len({r.change_seq for r in stored}) == 5000


def test_version_and_record_times_are_formatted_as_before() -> None:
    """Versions are stored and compared as text, so the fast formatting must give exactly
    what `strftime` gave (and `iso_utc` what `isoformat` gave), offsets and edge fields
    included."""
    moments = [datetime(1000, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, UTC)]
    moments += random_moments(7)
    for moment in moments:
        utc = moment.astimezone(UTC)
        assert record_version(moment, 7) == utc.strftime("%Y%m%dT%H%M%S.%f|") + "7".zfill(20)
        expected = utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        assert iso_utc(moment) == expected


def test_an_older_version_never_replaces_a_newer_one(engine: Engine, conn_id: str) -> None:
    save(engine, conn_id, versioned("1", "Ann", V2), versioned("2", "Bob", V1))
    before = one(engine, conn_id, "1")
    # A page read before the write-back arrives after it: "1" is older and ignored, "2" is
    # newer and saved, in the same batch.
    later = T0 + timedelta(hours=1)
    counts = save(
        engine, conn_id, versioned("1", "Old Ann", V1), versioned("2", "Bobby", V2), at=later
    )
    assert (counts.stale, counts.updated) == (1, 1)
    assert one(engine, conn_id, "1") == before
    assert one(engine, conn_id, "2").payload["display_name"] == "Bobby"
    # An older inactive copy does not delete it either.
    stale_delete = IncomingRecord("1", {"id": "1", "active": False}, deleted=True, version=V1)
    assert save(engine, conn_id, stale_delete, at=later).stale == 1
    assert one(engine, conn_id, "1").deleted_at is None
    # The same version again is not older: saved as usual (unchanged here).
    assert save(engine, conn_id, versioned("1", "Ann", V2), at=later).unchanged == 1
    # A newer one wins, and a save without a version keeps the stored version.
    assert save(engine, conn_id, versioned("1", "Anna", V3), at=later).updated == 1
    assert save(engine, conn_id, versioned("1", "Anne", None), at=later).updated == 1
    assert save(engine, conn_id, versioned("1", "Old", V2), at=later).stale == 1
    assert one(engine, conn_id, "1").payload["display_name"] == "Anne"


def test_a_newer_version_with_the_same_content_is_remembered(engine: Engine, conn_id: str) -> None:
    save(engine, conn_id, versioned("1", "Ann", V1))
    assert save(engine, conn_id, versioned("1", "Ann", V3)).unchanged == 1
    # Stored silently, it still outranks what came between.
    assert save(engine, conn_id, versioned("1", "Between", V2)).stale == 1
    assert one(engine, conn_id, "1").payload["display_name"] == "Ann"


def test_versions_are_checked_in_the_same_batched_statements(engine: Engine, conn_id: str) -> None:
    save(engine, conn_id, *(versioned(str(i), "Ann", V2) for i in range(500)))
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        batch = [versioned(str(i), "Changed", V1 if i % 2 else V3) for i in range(1000)]
        counts = save(engine, conn_id, *batch)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert (counts.added, counts.updated, counts.stale) == (500, 250, 250)
    assert len(statements) <= 8, statements


def test_reconciliation_spares_records_younger_than_its_pass(engine: Engine, conn_id: str) -> None:
    save(engine, conn_id, customer("1"), customer("2"), customer("3"))
    with read_transaction(engine) as conn:
        began = current_change_seq(conn, conn_id)
    # While the pass reads the platform's keys: "4" is written back (created), "2" is
    # restored after a delete, "3" is edited.
    later = T0 + timedelta(minutes=5)
    with write_transaction(engine) as conn:
        mark_deleted(conn, connection_id=conn_id, model=MODEL, external_ids=["2"], now=later)
    save(engine, conn_id, customer("4"), customer("2"), customer("3", "Edited"), at=later)
    scope: dict[str, Any] = {"connection_id": conn_id, "model": MODEL}
    with write_transaction(engine) as conn:
        # The key list the pass read before those writes, with "1" gone since.
        key_lists.stage(conn, ids=["3"], first=True, **scope)
        assert key_lists.unlisted(conn, pass_began_at_seq=began, **scope) == ["1"]
        assert (
            mark_deleted(conn, external_ids=["2", "4"], now=later, pass_began_at_seq=began, **scope)
            == 0
        )
        deleted = key_lists.reconcile(conn, now=later, pass_began_at_seq=began, **scope)
    assert deleted == 1
    assert one(engine, conn_id, "1").last_action == DELETED
    assert [one(engine, conn_id, i).deleted_at for i in ("2", "3", "4")] == [None] * 3


def test_a_versioned_delete_outranks_pages_read_before_it(engine: Engine, conn_id: str) -> None:
    save(engine, conn_id, versioned("1", "Ann", V1), versioned("2", "Bob", V3))
    scope: dict[str, Any] = {"connection_id": conn_id, "model": MODEL}
    with write_transaction(engine) as conn:
        # "1" merged away in the second of V1, known only by that time (as CDC reports
        # it); a delete of "2" older than its stored version is ignored.
        merged = record_version(T0, None)
        deleted = mark_deleted(
            conn, external_ids=["1", "2"], now=T0, versions={"1": merged, "2": V2}, **scope
        )
    assert deleted == 1
    assert one(engine, conn_id, "2").deleted_at is None
    # A page read before the merge, saved after it, does not bring "1" back, even one read
    # in the second of the merge ...
    assert save(engine, conn_id, versioned("1", "Ann", V1), versioned("1", "Ann", V2)).stale == 1
    assert one(engine, conn_id, "1").last_action == DELETED
    # ... a newer version of it does (a customer made active again).
    assert save(engine, conn_id, versioned("1", "Ann", V3)).added == 1


def test_children_of_finds_jobs_by_parent_through_the_index(engine: Engine, conn_id: str) -> None:
    """The stored jobs under given parents (deleted ones too), found through
    `ix_records_parent`, not by reading the connection's every record."""
    people = [
        IncomingRecord("p1", {"fully_qualified_name": "Acme", "parent_id": None}),
        IncomingRecord("j1", {"fully_qualified_name": "Acme:Roof", "parent_id": "p1"}),
        IncomingRecord(
            "j2", {"fully_qualified_name": "Acme:Barn", "parent_id": "p1"}, deleted=True
        ),
        IncomingRecord("g1", {"fully_qualified_name": "Acme:Roof:Tiles", "parent_id": "j1"}),
        IncomingRecord("x1", {"fully_qualified_name": "Other:Job", "parent_id": "p9"}),
    ]
    save(engine, conn_id, *people)
    with read_transaction(engine) as conn:
        found = children_of(conn, connection_id=conn_id, model=MODEL, parent_ids=["p1", "j1"])
        query = sa.select(records.c.external_id).where(
            records.c.connection_id == conn_id,
            records.c.model == MODEL,
            records.c.parent_id.in_(["p1"]),
        )
        sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
        explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
        if engine.dialect.name != "sqlite":
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a tiny table
        plan = " ".join(str(row) for row in conn.exec_driver_sql(explain + sql))
    assert sorted(found) == [
        ("g1", "j1", "Acme:Roof:Tiles"),
        ("j1", "p1", "Acme:Roof"),
        ("j2", "p1", "Acme:Barn"),
    ]
    assert "ix_records_parent" in plan, plan


def test_the_sqlite_page_lookup_probes_the_unique_index(engine: Engine, conn_id: str) -> None:
    """The page lookup reads its ids from one JSON array (`json_each`) and probes each in
    the records' unique index, never scanning the connection's records."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's lookup")
    save(engine, conn_id, *(customer(str(i)) for i in range(50)))
    parameters = {
        **_SQLITE.scope(conn_id, MODEL),
        "external_ids": _SQLITE.ids(["3", "7", "no such id"]),
    }
    query = _SQLITE.lookup.params(parameters)
    sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    with read_transaction(engine) as conn:
        plan = " ".join(str(row) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
        found = sorted(row.external_id for row in conn.execute(query))
    assert found == ["3", "7"]
    assert "SEARCH records USING INDEX" in plan, plan
    assert "external_id=?" in plan, plan
