"""A connection's stored customers as connectors consult them (`StoredHierarchy`): the
jobs under a customer, so a connector can tell which stored full names a parent's rename
left stale (QuickBooks Desktop renames a job with its parent without moving the job's
`updatedAt`, `providers/qbd/connector.py`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Engine

from ledgerbridge.db import read_transaction
from ledgerbridge.providers.base import StoredChild
from ledgerbridge.threads import in_thread
from ledgerbridge.unified.customer import MODEL_NAME
from ledgerbridge.unified.records import children_of


class DatabaseHierarchy:
    """The `StoredHierarchy` of one connection."""

    def __init__(self, engine: Engine, connection_id: str) -> None:
        self.engine = engine
        self.connection_id = connection_id

    def _children(self, parent_ids: Sequence[str]) -> list[StoredChild]:
        with read_transaction(self.engine) as conn:
            rows = children_of(
                conn, connection_id=self.connection_id, model=MODEL_NAME, parent_ids=parent_ids
            )
        return [StoredChild(*row) for row in rows]

    async def children(self, parent_ids: Sequence[str]) -> list[StoredChild]:
        if not parent_ids:
            return []
        return await in_thread(self._children, list(parent_ids))
