"""The record store: every provider record of every connection, with change tracking.

Semantics (shared/reference/records-api.md):
- a record is unique on (connection, model, external id);
- `content_hash` covers the unified payload (its stored JSON text); `last_modified_at` and
  the record's `change_seq` move only when it changes, so re-saving an identical record is
  invisible;
- deleting sets `deleted_at` (the payload is kept); saving a deleted record again undeletes
  it, and it reads as ADDED with `first_seen_at` reset;
- `remote_data`, the provider's raw payload, is kept beside the unified one, outside the hash;
- a record is never replaced by an older version of itself: each save may carry the
  platform's version (`record_version`), and a save older than the stored one is ignored;
- a reconciliation delete (ids missing from a full key list) spares records that changed
  after the pass that proved them absent began (`pass_began_at_seq`): a customer created or
  restored during that pass was not in the list because the list was older than it.

Every change takes the next number of its connection's change sequence. Writers of one
connection serialise on the connection row, so sequence order is commit order and a reader
that follows cursors never misses a change that commits behind it.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any

import orjson
import sqlalchemy as sa
import xxhash
from sqlalchemy.engine import Connection

from ledgerbridge.db import is_sqlite, json_array_rows, json_text_array
from ledgerbridge.errors import NotFoundError
from ledgerbridge.tables import connections, records
from ledgerbridge.unified.customer import THREE_DIGITS, utc_digits

ADDED, UPDATED, DELETED = "ADDED", "UPDATED", "DELETED"
_LOOKUP_CHUNK = 1000


@dataclass(slots=True)
class IncomingRecord:
    """One record as a sync or a write-back hands it to the store, with what the store will
    write and compare of it (its JSON texts and hashes) derived once built. (Not frozen:
    one is built a record a sync saves, and a frozen dataclass's `__init__` costs four
    times.)

    The derived fields are computed here rather than in `save_records` for the CPU's
    caches: a sync builds each record right after mapping it (`sync.engine._save_page`
    reads a page's records one by one, `providers.base.MappedOnRead`), while its platform
    object and new payload are still in cache; done later, in a pass over the whole page,
    each of 1,000 payloads and objects (several MB in all) was fetched from memory again.
    Parsing, mapping, versioning and serialising 10,000 QuickBooks Online customers took
    22.6 µs a customer in passes over pages of 1,000 and 19.6 record by record. (A record
    whose content is unchanged now pays for its payload's text too, about 0.6 µs.)"""

    external_id: str
    payload: Mapping[str, Any]
    remote_data: Mapping[str, Any] | None = None
    deleted: bool = False
    """True records it as deleted with this payload (an inactive customer)."""
    version: str | None = None
    """The platform's version of the record (`record_version`): a save older than the
    stored version is ignored. None skips the check (and keeps the stored version)."""
    payload_text: str = field(init=False)
    """The payload as the JSON column stores it (`_stored_json`)."""
    content_hash: str = field(init=False)
    """`text_hash` of `payload_text`. A payload is the whole unified model as a mapper
    builds it, every field present in the model's order, so one content has one text, and
    the text the store writes is the one it hashes (migration 0013; hashing a second,
    key-sorted serialisation cost 1.7 µs a record)."""
    remote_text: str | None = field(init=False)
    remote_hash: str | None = field(init=False)
    """The platform object as stored and its hash (`_stored_json`)."""
    parent_id: str | None = field(init=False)
    """The `parent_id` column (`_parent`)."""

    def __post_init__(self) -> None:
        self.payload_text, self.content_hash = _stored_json(self.payload)
        if self.remote_data is None:
            self.remote_text = self.remote_hash = None
        else:
            self.remote_text, self.remote_hash = _stored_json(self.remote_data)
        self.parent_id = _parent(self.payload)


@dataclass
class WriteCounts:
    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    stale: int = 0
    """Records ignored because the store already holds a newer version of them."""

    @property
    def changed(self) -> int:
        return self.added + self.updated + self.deleted


@dataclass(frozen=True)
class StoredRecord:
    external_id: str
    payload: dict[str, Any]
    remote_data: dict[str, Any] | None
    first_seen_at: datetime
    last_modified_at: datetime
    deleted_at: datetime | None
    last_action: str
    change_seq: int


_VERSION_NUMBER_DIGITS = 20


def record_version(modified_at: datetime | None, platform_version: int | str | None) -> str:
    """A record's version as one sortable string: the platform's modification time (UTC,
    microseconds) then its version number (QuickBooks' SyncToken, Conductor's
    revisionNumber), zero-padded so that string order is version order. Either part may be
    missing: the time alone orders Intacct's records, the number alone a platform's
    counter. Without a number, a version ranks after every numbered one of the same
    instant: a delete known only by its time (QuickBooks' CDC reports a merge so) beats a
    page read in that second. A number that is not a non-negative integer is refused
    (ValueError): compared as text it would order wrongly."""
    when = "" if modified_at is None else _version_time(modified_at)
    if platform_version is None:
        return f"{when}|~"  # "~" sorts after every digit
    text = str(platform_version)
    if not (text.isascii() and text.isdigit()) or len(text) > _VERSION_NUMBER_DIGITS:
        raise ValueError(f"a platform version must be a non-negative integer: {text!r}")
    return f"{when}|{text.zfill(_VERSION_NUMBER_DIGITS)}"


def _version_time(moment: datetime) -> str:
    """`strftime("%Y%m%dT%H%M%S.%f")` of the UTC instant, from `utc_digits`."""
    year, month, day, hour, minute, second, micro = utc_digits(moment)
    sub = THREE_DIGITS[micro // 1000] + THREE_DIGITS[micro % 1000]
    return f"{year}{month}{day}T{hour}{minute}{second}.{sub}"


def _older(incoming: str | None, stored: str | None) -> bool:
    """True when `incoming` is a version strictly older than the stored one."""
    return incoming is not None and stored is not None and incoming < stored


def text_hash(text: bytes) -> str:
    """The stored hash of serialised JSON: XXH3's 128 bits, as 32 hex digits.

    These hashes only tell a changed record from an unchanged one; nothing trusts them
    against an adversary (whoever could craft a collision in a customer's data controls
    that data already), so a cryptographic hash buys nothing here. For a customer's
    payload and platform object (about 750 bytes each), XXH3 takes 0.08 µs against
    blake2b's 1.2 µs (and sha256's 0.8), two of them a record saved; 128 bits keep an
    accidental collision out of reach of any number of records (migration 0012 rehashed
    what blake2b had stored)."""
    return xxhash.xxh3_128_hexdigest(text)


def _parent(payload: Mapping[str, Any]) -> str | None:
    """The `parent_id` column of a payload: its unified `parent_id`, when that is text."""
    parent = payload.get("parent_id")
    return parent if isinstance(parent, str) else None


def _stored_json(value: Mapping[str, Any]) -> tuple[str, str]:
    """A JSON column's value as stored (`orjson.dumps`, as SQLAlchemy's serialiser,
    `db.create_engine`, writes it) and the hash of that very text: serialised once. Key
    order counts: a payload's is the model's, and a platform object answered with its keys
    in a new order is stored as a new `remote_data`."""
    text = orjson.dumps(value)
    return text.decode(), text_hash(text)


def _lock_sequence(conn: Connection, connection_id: str) -> int:
    """Take the connection's write lock (a row lock on PostgreSQL; SQLite callers hold the
    database write lock already) and return the last change sequence number handed out."""
    value = conn.execute(
        sa.select(connections.c.change_seq)
        .where(connections.c.id == connection_id)
        .with_for_update()
    ).scalar_one_or_none()
    if value is None:
        raise NotFoundError(f"connection {connection_id!r} does not exist")
    return int(value)


_LOOKUP_COLUMNS = (
    records.c.id,
    records.c.external_id,
    records.c.content_hash,
    records.c.remote_hash,
    records.c.first_seen_at,
    records.c.deleted_at,
    records.c.change_seq,
    records.c.version,
)

_Build = Callable[[sa.ColumnElement[str], sa.ColumnElement[str]], sa.Select[Any]]
"""Builds a query over one connection's records from the expressions standing for that
connection's id and model."""

_SCOPE_CONNECTION, _SCOPE_MODEL, _IDS = "scope_connection", "scope_model", "external_ids"
"""Bound at execution: the connection and model a query is confined to (`_Backend.scope`),
and a page lookup's external ids."""


_ROW_ID = "_id"
_POSTGRESQL_TYPES = {
    "payload": "json",
    "remote_data": "json",
    "first_seen_at": "timestamptz",
    "last_modified_at": "timestamptz",
    "deleted_at": "timestamptz",
    "change_seq": "bigint",
    _ROW_ID: "bigint",
}
"""Column types other than text, for PostgreSQL's arrays."""
_MAX_PARAMETERS = 32_000
"""Bound values in one SQLite statement, at most: under its limit (32,766 since 3.32; the
store needs 3.35 for `RETURNING` anyway)."""


class _Backend:
    """Where the record store differs between databases: how a query is confined to one
    connection, the page lookup, and how a page's rows are bound. This base is SQLite's.

    Queries are built once for each shape (`functools.cache` on the builders below) with
    every value a bound parameter, and given their values at execution: building one anew
    each time cost more than running it (PostgreSQL's scoped page query: 0.43 ms of the
    client's CPU to build and key, against 0.09 on SQLite)."""

    def within(
        self, build: _Build, *beside: sa.FromClause, order_by: sa.Column[Any] | None = None
    ) -> sa.Select[Any]:
        """`build`'s query confined to the connection and model `scope` binds. `beside` are
        FROM items it refers to besides `records`; `order_by` is the column `build` orders
        by, if any."""
        return build(sa.bindparam(_SCOPE_CONNECTION), sa.bindparam(_SCOPE_MODEL))

    def scope(self, connection_id: str, model: str) -> dict[str, Any]:
        """The parameters confining a `within` query to one connection's records of a model."""
        return {_SCOPE_CONNECTION: connection_id, _SCOPE_MODEL: model}

    @functools.cached_property
    def lookup(self) -> sa.Select[Any]:
        """The statement finding a page's stored records by external id (`_existing`),
        whatever the page's size: the ids bound as one JSON array (`db.json_array_rows`),
        each probing the unique index (an `IN` list of a thousand bound values cost 3.6 µs
        an id, compiled and bound anew each page; this, 2.4)."""
        listed = json_array_rows(sa.bindparam(_IDS, type_=sa.String), sqlite=True)
        return self.within(
            lambda connection, model: sa.select(*_LOOKUP_COLUMNS).where(
                records.c.connection_id == connection,
                records.c.model == model,
                records.c.external_id.in_(sa.select(listed.c.value)),
            )
        )

    def ids(self, external_ids: Sequence[str]) -> Any:
        """A page lookup's external ids as `lookup` binds them."""
        return json_text_array(external_ids)

    def parameter(self, column: str) -> str:
        """A placeholder for one value of `column` in the page writer's statements."""
        return "?"

    def page_rows(
        self, columns: Sequence[str], rows: Sequence[tuple[Any, ...]], reserved: int = 0
    ) -> Iterator[tuple[str, tuple[Any, ...]]]:
        """Queries giving `rows` (tuples of `columns`) for the page writer, with their
        parameters: a multi-row `VALUES` list, one for each `_MAX_PARAMETERS` values
        (less the `reserved` ones the statement binds besides).

        Not `executemany`: Python's sqlite3 module releases the GIL around every row it
        steps, and while another thread runs Python (an event loop mapping the next page)
        each row then waits for that thread's switch interval. Measured inserting 5,000
        records beside a thread running Python: 177 µs of CPU and 5.3 ms of wall time a row
        through `executemany`, 17 µs and 36 µs through one statement a page (alone: 15.5
        and 14.5 µs of CPU)."""
        row_marks = "(" + ", ".join("?" * len(columns)) + ")"
        per_statement = (_MAX_PARAMETERS - reserved) // len(columns)
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            values = "VALUES " + ", ".join([row_marks] * len(chunk))
            yield values, tuple(itertools.chain.from_iterable(chunk))

    def after_write(self, conn: Connection) -> None:
        """Called at the end of every page written."""


class _PostgreSQL(_Backend):
    """Every index of `records` starts with (connection_id, model), so PostgreSQL chooses
    among them by its estimate of the connection's row count. Estimated at a row or two, a
    lookup or a page read scans the whole connection (through the smallest index, sorting
    or filtering), which makes loading a connection quadratic. That estimate is near zero
    for a connection newer than the table's last ANALYZE, and for every connection of a
    table never analysed. So:

    - a query is a `LATERAL` subquery beside a one-row `unnest` of (connection_id, model):
      inside it they are outer values, estimated from the columns' distinct counts (the
      average connection) rather than from per-value statistics, and a `LIMIT` keeps
      PostgreSQL from flattening it;
    - the page lookup is one statement whatever the page size: the ids come as one array,
      each probing the unique index (a list of bound values, once psycopg prepares the
      statement, can get a generic plan testing each row against the whole list);
    - distinct counts need statistics, which a table never analysed (a new database before
      autovacuum's first pass, or a server running without autovacuum) lacks: the first
      page written through each database connection checks, and analyses `records` if
      there are none.
    """

    _CHECKED = "ledgerbridge.records_statistics_checked"

    def within(
        self, build: _Build, *beside: sa.FromClause, order_by: sa.Column[Any] | None = None
    ) -> sa.Select[Any]:
        strings = sa.ARRAY(sa.String)
        scope = (
            sa.func.unnest(
                sa.bindparam(_SCOPE_CONNECTION, type_=strings),
                sa.bindparam(_SCOPE_MODEL, type_=strings),
            )
            .table_valued(sa.column("connection_id", sa.String), sa.column("model", sa.String))
            .render_derived(name="scope")
        )
        found = build(scope.c.connection_id, scope.c.model).lateral("found")
        query = sa.select(*found.c).select_from(scope)
        for item in (*beside, found):
            query = query.join(item, sa.true())
        return query if order_by is None else query.order_by(found.c[order_by.name])

    def scope(self, connection_id: str, model: str) -> dict[str, Any]:
        return {_SCOPE_CONNECTION: [connection_id], _SCOPE_MODEL: [model]}

    @functools.cached_property
    def lookup(self) -> sa.Select[Any]:
        ids = (
            sa.func.unnest(sa.bindparam(_IDS, type_=sa.ARRAY(sa.String)))
            .table_valued(sa.column("external_id", sa.String))
            .render_derived(name="ids")
        )
        return self.within(
            lambda connection, model: (
                sa.select(*_LOOKUP_COLUMNS)
                .where(
                    records.c.connection_id == connection,
                    records.c.model == model,
                    records.c.external_id == ids.c.external_id,
                )
                .limit(1)
            ),
            ids,
        )

    def ids(self, external_ids: Sequence[str]) -> Any:
        return list(external_ids)

    def parameter(self, column: str) -> str:
        return f"CAST(%s AS {_POSTGRESQL_TYPES.get(column, 'text')})"

    def page_rows(
        self, columns: Sequence[str], rows: Sequence[tuple[Any, ...]], reserved: int = 0
    ) -> Iterator[tuple[str, tuple[Any, ...]]]:
        """One array a column, `unnest`ed into rows, whatever the page's size. Client CPU a
        record inserted: 20-24 µs, against 38 through `executemany`, 80-110 through a
        `VALUES` list (psycopg parses a long statement's text anew at every call) and 250
        with the arrays in text format (psycopg escapes every element with a regular
        expression): so binary (`%b`)."""
        arrays = ", ".join(
            f"CAST(%b AS {_POSTGRESQL_TYPES.get(column, 'text')}[])" for column in columns
        )
        yield (
            f"SELECT * FROM unnest({arrays})",
            tuple(list(values) for values in zip(*rows, strict=True)),
        )

    def after_write(self, conn: Connection) -> None:
        if conn.info.get(self._CHECKED):
            return
        analysed = conn.execute(
            sa.text(
                "SELECT EXISTS (SELECT FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname"
                " WHERE c.oid = CAST(:table AS regclass) AND s.attname = :column)"
            ),
            {"table": records.name, "column": records.c.connection_id.name},
        ).scalar_one()
        if not analysed:
            conn.exec_driver_sql(
                f"ANALYZE {conn.dialect.identifier_preparer.format_table(records)}"
            )
        conn.info[self._CHECKED] = True


_SQLITE, _POSTGRESQL = _Backend(), _PostgreSQL()


def _backend(conn: Connection) -> _Backend:
    return _SQLITE if is_sqlite(conn) else _POSTGRESQL


def _existing(
    conn: Connection, connection_id: str, model: str, external_ids: Sequence[str]
) -> dict[str, Any]:
    backend = _backend(conn)
    parameters = {**backend.scope(connection_id, model), _IDS: backend.ids(external_ids)}
    return {row.external_id: row for row in conn.execute(backend.lookup, parameters)}


_INSERTED_ONCE = ("connection_id", "model", "first_seen_at", "last_modified_at")
"""The columns every record a page inserts shares, bound once a statement."""
_INSERTED = (
    "external_id",
    "payload",
    "remote_data",
    "content_hash",
    "remote_hash",
    "version",
    "deleted_at",
    "last_action",
    "change_seq",
    "parent_id",
)
"""The columns of each record a page inserts, bound a row each."""
_EXTERNAL_ID = itemgetter(_INSERTED.index("external_id"))
"""The external id of a row `_PageWriter.insert` takes."""
_CONTENT_UPDATED = (
    "payload",
    "remote_data",
    "content_hash",
    "remote_hash",
    "version",
    "first_seen_at",
    "last_modified_at",
    "deleted_at",
    "last_action",
    "change_seq",
    "parent_id",
)
_REMOTE_UPDATED = ("remote_data", "remote_hash", "version")


class _PageWriter:
    """A page's inserts and updates as the database driver takes them: the whole page in
    one statement, JSON columns as the very text SQLAlchemy's serialiser would write
    (`orjson.dumps`), serialised once, and timestamps as the driver value SQLAlchemy's
    column type makes of them, so no per-row SQLAlchemy processing runs (it cost more than
    the database's own work). Rows are tuples of values in the order of the columns named;
    how they are bound is the backend's (`_Backend.page_rows`)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._backend = _backend(conn)
        dialect = conn.dialect
        self._table = dialect.identifier_preparer.format_table(records)
        column_type = records.c.first_seen_at.type.dialect_impl(dialect)
        self._time: Callable[[datetime], Any] = column_type.bind_processor(dialect) or _same

    def time(self, value: datetime | None) -> Any:
        """A timestamp as the driver stores it in a UTC column."""
        return None if value is None else self._time(value)

    def insert(self, shared: tuple[Any, ...], rows: Sequence[tuple[Any, ...]]) -> None:
        """New records: the values of `_INSERTED_ONCE` they share, and a tuple of
        `_INSERTED` each. The shared values are bound once a statement, not once a row
        (four of fourteen values a record: binding them was 0.5-1 µs a record on SQLite,
        and four arrays of a page's length on PostgreSQL)."""
        if rows:
            # In the order of the unique index on external ids (`uq_records_external`): a
            # page read in modification order holds ids from all over that index, and
            # inserted as read, each row went to a leaf far from the last one, fetched
            # again and written again. Sorted, each leaf is visited once a page (Intacct,
            # 1,000,000 customers, back to back: the saving thread 60.2 to 52.3 s of CPU,
            # its writes halved; 100,000: 52 to 46 µs a customer in the syncing process).
            rows = sorted(rows, key=_EXTERNAL_ID)
            names = ", ".join((*_INSERTED_ONCE, *_INSERTED))
            marks = ", ".join(self._backend.parameter(column) for column in _INSERTED_ONCE)
            self._run(
                f"INSERT INTO {self._table} ({names}) SELECT {marks}, page.* FROM ({{rows}}) page",
                _INSERTED,
                rows,
                shared,
            )

    def update(self, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        """`columns` of stored records: tuples of the record's `id` then `columns`."""
        if rows:
            named = (_ROW_ID, *columns)
            assignments = ", ".join(f"{column} = page.{column}" for column in columns)
            self._run(
                f"WITH page ({', '.join(named)}) AS ({{rows}}) "
                f"UPDATE {self._table} SET {assignments} FROM page "
                f"WHERE {self._table}.id = page.{_ROW_ID}",
                named,
                rows,
            )

    def _run(
        self,
        statement: str,
        columns: Sequence[str],
        rows: Sequence[tuple[Any, ...]],
        first: tuple[Any, ...] = (),
    ) -> None:
        """`statement` with `{rows}` standing for a query giving `rows`; the parameters
        `first` bound before those of the rows, in every statement."""
        for query, parameters in self._backend.page_rows(columns, rows, reserved=len(first)):
            self._conn.exec_driver_sql(statement.format(rows=query), (*first, *parameters))


def _same(value: datetime) -> datetime:
    return value


def save_records(
    conn: Connection,
    *,
    connection_id: str,
    model: str,
    batch: Iterable[IncomingRecord],
    now: datetime,
) -> WriteCounts:
    """Upsert a page of records in the caller's transaction: one lookup, one insert and at
    most two updates per page, whatever its size (on SQLite, a statement takes at most
    `_MAX_PARAMETERS` values: 3,199 new rows). Later duplicates of an id win. A record
    whose `version` is older than the stored one is left as stored (counted `stale`): the
    versions are compared here, under the connection's write lock taken before the lookup,
    so no writer can slip a newer version in between."""
    incoming = {record.external_id: record for record in batch}
    counts = WriteCounts()
    if not incoming:
        return counts
    seq = _lock_sequence(conn, connection_id)
    existing = _existing(conn, connection_id, model, list(incoming))
    writer = _PageWriter(conn)
    stamp = writer.time(now)
    inserts: list[tuple[Any, ...]] = []
    content_updates: list[tuple[Any, ...]] = []
    remote_updates: list[tuple[Any, ...]] = []
    for external_id, record in incoming.items():
        row = existing.get(external_id)
        if row is None:
            seq += 1
            action = DELETED if record.deleted else ADDED
            inserts.append(
                (
                    external_id,
                    record.payload_text,
                    record.remote_text,
                    record.content_hash,
                    record.remote_hash,
                    record.version,
                    stamp if record.deleted else None,
                    action,
                    seq,
                    record.parent_id,
                )
            )
            counts.deleted += record.deleted
            counts.added += not record.deleted
            continue
        if _older(record.version, row.version):
            counts.stale += 1
            continue
        version = row.version if record.version is None else record.version
        was_deleted = row.deleted_at is not None
        if was_deleted == record.deleted and row.content_hash == record.content_hash:
            counts.unchanged += 1
            if row.remote_hash != record.remote_hash or row.version != version:
                remote_updates.append((row.id, record.remote_text, record.remote_hash, version))
            continue
        seq += 1
        if record.deleted:
            action, first_seen, deleted_at = DELETED, row.first_seen_at, row.deleted_at or now
            counts.deleted += 1
        elif was_deleted:
            action, first_seen, deleted_at = ADDED, now, None
            counts.added += 1
        else:
            action, first_seen, deleted_at = UPDATED, row.first_seen_at, None
            counts.updated += 1
        content_updates.append(
            (
                row.id,
                record.payload_text,
                record.remote_text,
                record.content_hash,
                record.remote_hash,
                version,
                writer.time(first_seen),
                stamp,
                writer.time(deleted_at),
                action,
                seq,
                record.parent_id,
            )
        )
    writer.insert((connection_id, model, stamp, stamp), inserts)
    writer.update(_CONTENT_UPDATED, content_updates)
    writer.update(_REMOTE_UPDATED, remote_updates)
    if counts.changed:
        conn.execute(
            sa.update(connections).where(connections.c.id == connection_id).values(change_seq=seq)
        )
    _backend(conn).after_write(conn)
    return counts


def mark_deleted(
    conn: Connection,
    *,
    connection_id: str,
    model: str,
    external_ids: Iterable[str],
    now: datetime,
    pass_began_at_seq: int | None = None,
    versions: Mapping[str, str] | None = None,
) -> int:
    """Record deletes of records gone from the provider (payload kept). Ids unknown or
    already deleted are ignored. Returns how many records became deleted.

    `versions` gives a delete the platform's version of it (QuickBooks' CDC reports a
    merged-away customer with the time of the merge): a delete older than the stored
    version is ignored, and one that is stored outranks any page read before it, so such a
    page arriving late cannot bring the record back.

    A reconciliation (ids missing from a full key list) passes `pass_began_at_seq`, the
    connection's change sequence when the pass started (`current_change_seq`): records
    changed after it (created, restored or written back while the pass read) are left
    alone, since the list that lacks them may predate them."""
    wanted = list(dict.fromkeys(external_ids))
    if not wanted:
        return 0
    seq = _lock_sequence(conn, connection_id)
    existing = _existing(conn, connection_id, model, wanted)
    versions = versions or {}
    updates, version_updates = [], []
    for external_id in wanted:
        row = existing.get(external_id)
        version = versions.get(external_id)
        if row is None or _older(version, row.version):
            continue
        stored_version = row.version if version is None else version
        if row.deleted_at is not None:
            if stored_version != row.version:
                version_updates.append({"_id": row.id, "version": stored_version})
            continue
        if pass_began_at_seq is not None and row.change_seq > pass_began_at_seq:
            continue
        seq += 1
        updates.append({"_id": row.id, "change_seq": seq, "version": stored_version})
    if version_updates:
        conn.execute(
            sa.update(records)
            .where(records.c.id == sa.bindparam("_id"))
            .values(version=sa.bindparam("version")),
            version_updates,
        )
    if updates:
        conn.execute(
            sa.update(records)
            .where(records.c.id == sa.bindparam("_id"))
            .values(
                deleted_at=now,
                last_modified_at=now,
                last_action=DELETED,
                change_seq=sa.bindparam("change_seq"),
                version=sa.bindparam("version"),
            ),
            updates,
        )
        conn.execute(
            sa.update(connections).where(connections.c.id == connection_id).values(change_seq=seq)
        )
        _backend(conn).after_write(conn)
    return len(updates)


def _stored(row: Any, with_remote: bool) -> StoredRecord:
    return StoredRecord(
        external_id=row.external_id,
        payload=row.payload,
        remote_data=row.remote_data if with_remote else None,
        first_seen_at=row.first_seen_at,
        last_modified_at=row.last_modified_at,
        deleted_at=row.deleted_at,
        last_action=row.last_action,
        change_seq=row.change_seq,
    )


def _columns(with_remote: bool) -> list[sa.ColumnElement[Any]]:
    columns: list[sa.ColumnElement[Any]] = [
        records.c.external_id,
        records.c.payload,
        records.c.first_seen_at,
        records.c.last_modified_at,
        records.c.deleted_at,
        records.c.last_action,
        records.c.change_seq,
    ]
    if with_remote:
        columns.append(records.c.remote_data)
    return columns


def _name_pattern(text: str) -> str:
    """The `ILIKE` pattern for payloads whose `display_name` contains `text` in any case;
    `%` and `_` in it are plain characters."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _display_name_like() -> sa.ColumnElement[bool]:
    # `json_extract` on SQLite, `->>` on PostgreSQL.
    display_name: sa.ColumnElement[str] = records.c.payload["display_name"].as_string()
    return display_name.ilike(sa.bindparam("name_pattern"), escape="\\")


_PAGE_FILTERS: dict[str, Callable[[], sa.ColumnElement[bool]]] = {
    "after_seq": lambda: records.c.change_seq > sa.bindparam("after_seq"),
    "modified_after": lambda: records.c.last_modified_at >= sa.bindparam("modified_after"),
    "actions": lambda: records.c.last_action.in_(sa.bindparam("actions", expanding=True)),
    _IDS: lambda: records.c.external_id.in_(sa.bindparam(_IDS, expanding=True)),
    "name_pattern": _display_name_like,
}
"""`list_records`' optional filters, by the name of the parameter each binds: a page's
query has those whose parameters `list_records` binds (a name bound with no filter here is
refused, `_page_query`), so no filter is written out twice."""


@functools.cache
def _page_query(backend: _Backend, with_remote: bool, bound: frozenset[str]) -> sa.Select[Any]:
    """`list_records`' query with the filters (`_PAGE_FILTERS`) whose parameters are in
    `bound`, all values bound at execution, `limit` too. A name with no filter is refused:
    a misspelt one would otherwise leave its filter out."""
    if unknown := bound - _PAGE_FILTERS.keys():
        raise ValueError(f"no such filter of a page of records: {sorted(unknown)}")

    def page(connection: sa.ColumnElement[str], model: sa.ColumnElement[str]) -> sa.Select[Any]:
        return (
            sa.select(*_columns(with_remote))
            .where(records.c.connection_id == connection, records.c.model == model)
            .where(*(where() for name, where in _PAGE_FILTERS.items() if name in bound))
            .order_by(records.c.change_seq)
            .limit(sa.bindparam("limit", type_=sa.Integer))
        )

    return backend.within(page, order_by=records.c.change_seq)


def list_records(
    conn: Connection,
    *,
    connection_id: str,
    model: str,
    after_seq: int | None = None,
    modified_after: datetime | None = None,
    actions: Iterable[str] | None = None,
    external_ids: Sequence[str] | None = None,
    name_contains: str | None = None,
    limit: int = 100,
    with_remote: bool = False,
) -> tuple[list[StoredRecord], bool]:
    """One page in change order, and whether more records follow it. `name_contains`
    keeps records whose `display_name` holds that text, in any case."""
    backend = _backend(conn)
    filters = {
        "after_seq": after_seq,
        "modified_after": modified_after,
        "actions": None if actions is None else sorted(set(actions)),
        _IDS: None if external_ids is None else list(external_ids),
        "name_pattern": _name_pattern(name_contains) if name_contains else None,
    }
    bound = {name: value for name, value in filters.items() if value is not None}
    parameters = {**backend.scope(connection_id, model), **bound, "limit": limit + 1}
    query = _page_query(backend, with_remote, frozenset(bound))
    rows = conn.execute(query, parameters).all()
    return [_stored(row, with_remote) for row in rows[:limit]], len(rows) > limit


@functools.cache
def _one_query(backend: _Backend, with_remote: bool) -> sa.Select[Any]:
    """`get_record`'s query, the external id bound at execution."""
    return backend.within(
        lambda connection, model: (
            sa.select(*_columns(with_remote))
            .where(
                records.c.connection_id == connection,
                records.c.model == model,
                records.c.external_id == sa.bindparam("external_id"),
            )
            .limit(1)
        )
    )


def get_record(
    conn: Connection, *, connection_id: str, model: str, external_id: str, with_remote: bool
) -> StoredRecord | None:
    backend = _backend(conn)
    parameters = {**backend.scope(connection_id, model), "external_id": external_id}
    row = conn.execute(_one_query(backend, with_remote), parameters).first()
    return None if row is None else _stored(row, with_remote)


def current_change_seq(conn: Connection, connection_id: str) -> int:
    """The connection's change sequence now: a reconciliation pass records it when it
    starts and hands to the reconciliation (`key_lists.reconcile`) when it ends."""
    value = conn.execute(
        sa.select(connections.c.change_seq).where(connections.c.id == connection_id)
    ).scalar_one_or_none()
    if value is None:
        raise NotFoundError(f"connection {connection_id!r} does not exist")
    return int(value)


def children_of(
    conn: Connection, *, connection_id: str, model: str, parent_ids: Sequence[str]
) -> list[tuple[str, str, str | None]]:
    """(external id, parent id, fully qualified name) of every stored record, deleted ones
    too, whose unified `parent_id` is one of `parent_ids` (through `ix_records_parent`:
    a millisecond where a scan of 50,000 records took most of a second)."""
    parent = records.c.parent_id
    found: list[tuple[str, str, str | None]] = []
    for start in range(0, len(parent_ids), _LOOKUP_CHUNK):
        query = sa.select(
            records.c.external_id,
            parent.label("parent_id"),
            records.c.payload["fully_qualified_name"].as_string().label("full_name"),
        ).where(
            records.c.connection_id == connection_id,
            records.c.model == model,
            parent.in_(parent_ids[start : start + _LOOKUP_CHUNK]),
        )
        found += [(row.external_id, row.parent_id, row.full_name) for row in conn.execute(query)]
    return found
