"""The records' `content_hash` and `remote_hash` as XXH3 (128 bits) instead of blake2b.

A sync hashes each record twice (its canonical unified payload, and the platform's object
as stored), and blake2b took 1.2 µs of a customer's CPU each, XXH3 0.08
(`unified.records.text_hash` says why a non-cryptographic hash is enough). The stored
hashes are computed again here from what they hashed, with the same two rules the store
follows (copied here, not imported: a later change to the store's rules must not change
what this migration writes), so the first sync after the upgrade finds every unchanged
record unchanged:

- `content_hash`: the payload's canonical JSON (orjson, sorted keys);
- `remote_hash`: the platform's object as the store serialised it, which is the stored
  text itself (SQLite keeps it as written; PostgreSQL's `json` type keeps the text).

One pass over `records` in id order, 2,000 rows a statement; the downgrade writes blake2b
back the same way.

Revision ID: 0012
Revises: 0011
"""

import hashlib
from collections.abc import Callable

import orjson
import sqlalchemy as sa
import xxhash
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_BATCH = 2000

Digest = Callable[[bytes], str]


def _xxh3(text: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(text)


def _blake2b(text: bytes) -> str:
    return hashlib.blake2b(text, digest_size=16).hexdigest()


def _canonical(payload: str) -> bytes:
    """The payload's canonical form, as `unified.records.content_hash` serialises it."""
    return orjson.dumps(orjson.loads(payload), option=orjson.OPT_SORT_KEYS)


_READ = sa.text(
    "SELECT id, CAST(payload AS TEXT), CAST(remote_data AS TEXT) FROM records"
    " WHERE id > :after ORDER BY id LIMIT :limit"
)
_WRITE_SQLITE = sa.text(
    "UPDATE records SET content_hash = :content, remote_hash = :remote WHERE id = :id"
)
_WRITE_POSTGRESQL = sa.text(
    "UPDATE records SET content_hash = page.content, remote_hash = page.remote"
    " FROM unnest(CAST(:ids AS BIGINT[]), CAST(:contents AS TEXT[]), CAST(:remotes AS TEXT[]))"
    " AS page (id, content, remote) WHERE records.id = page.id"
)


def _rehash(digest: Digest) -> None:
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"
    after = 0
    while rows := conn.execute(_READ, {"after": after, "limit": _BATCH}).all():
        after = rows[-1][0]
        hashed = [
            (
                row_id,
                digest(_canonical(payload)),
                None if remote is None else digest(remote.encode()),
            )
            for row_id, payload, remote in rows
        ]
        if sqlite:
            conn.execute(
                _WRITE_SQLITE,
                [{"id": i, "content": content, "remote": remote} for i, content, remote in hashed],
            )
        else:
            ids, contents, remotes = zip(*hashed, strict=True)
            conn.execute(
                _WRITE_POSTGRESQL,
                {"ids": list(ids), "contents": list(contents), "remotes": list(remotes)},
            )


def upgrade() -> None:
    _rehash(_xxh3)


def downgrade() -> None:
    _rehash(_blake2b)
