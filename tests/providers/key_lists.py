"""A connector's key list read back from its pages, and as the engine staged it."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ledgerbridge.db import read_transaction
from ledgerbridge.providers.base import CustomerPage
from ledgerbridge.tables import listed_keys


def listed_ids(pages: Iterable[CustomerPage]) -> frozenset[str] | None:
    """The ids of the first key list the pages complete (None: no list completed), gathered
    as the engine stages them: a part marked `first` starts the list again."""
    staged: list[str] = []
    for page in pages:
        part = page.key_list
        if part is None:
            continue
        if part.first:
            staged = []
        staged += part.ids
        if part.last:
            return frozenset(staged)
    return None


def staged_keys(engine: Engine, connection_id: str) -> list[str]:
    """The ids of the connection's key list staged in the database now, sorted."""
    query = sa.select(listed_keys.c.external_id).where(listed_keys.c.connection_id == connection_id)
    with read_transaction(engine) as conn:
        return sorted(conn.execute(query).scalars())
