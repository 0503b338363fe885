"""The records' `content_hash` as the hash of the payload's stored text, not of a second,
key-sorted serialisation of it.

A payload is always built by a mapper as the whole unified model, every field present in
the model's order, so its JSON text is one text for one content, and sorting its keys again
to hash it bought nothing: it cost a sync a second serialisation a record (1.7 µs of a
customer's CPU). The store now hashes the very text it writes (`unified.records`). The
stored hashes are computed again here from the stored text (SQLite keeps it as written;
PostgreSQL's `json` type keeps the text), so the first sync after the upgrade finds every
unchanged record unchanged. The downgrade writes the sorted form's hash back (copied here,
not imported: a later change to the store's rules must not change what this migration
writes).

One pass over `records` in id order, 2,000 rows a statement.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Callable

import orjson
import sqlalchemy as sa
import xxhash
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_BATCH = 2000


def _of_text(payload: str) -> str:
    return xxhash.xxh3_128_hexdigest(payload.encode())


def _of_sorted(payload: str) -> str:
    """The hash migration 0012 wrote: of the payload's JSON with its keys sorted."""
    canonical = orjson.dumps(orjson.loads(payload), option=orjson.OPT_SORT_KEYS)
    return xxhash.xxh3_128_hexdigest(canonical)


_READ = sa.text(
    "SELECT id, CAST(payload AS TEXT) FROM records WHERE id > :after ORDER BY id LIMIT :limit"
)
_WRITE_SQLITE = sa.text("UPDATE records SET content_hash = :content WHERE id = :id")
_WRITE_POSTGRESQL = sa.text(
    "UPDATE records SET content_hash = page.content"
    " FROM unnest(CAST(:ids AS BIGINT[]), CAST(:contents AS TEXT[])) AS page (id, content)"
    " WHERE records.id = page.id"
)


def _rehash(digest: Callable[[str], str]) -> None:
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"
    after = 0
    while rows := conn.execute(_READ, {"after": after, "limit": _BATCH}).all():
        after = rows[-1][0]
        hashed = [(row_id, digest(payload)) for row_id, payload in rows]
        if sqlite:
            conn.execute(_WRITE_SQLITE, [{"id": i, "content": content} for i, content in hashed])
        else:
            ids, contents = zip(*hashed, strict=True)
            conn.execute(_WRITE_POSTGRESQL, {"ids": list(ids), "contents": list(contents)})


def upgrade() -> None:
    _rehash(_of_text)


def downgrade() -> None:
    _rehash(_of_sorted)
