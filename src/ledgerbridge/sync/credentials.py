"""Connection credentials over the database, as connectors use them (`CredentialStore`).

A token refresh happens inside `rotating()`: the connection row is locked (`FOR UPDATE` on
PostgreSQL, the write lock on SQLite) before the stored credentials are read, the token
endpoint is called while the lock is held, and the rotated refresh token is written and
committed in that same transaction before anyone uses the new access token. A second
refresher, in this process or another, waits for the lock and then finds the fresh tokens.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from anyio import to_thread
from sqlalchemy.engine import Connection, Engine

from ledgerbridge.connections import (
    ConnectionStatus,
    read_credentials,
    set_status,
    write_credentials,
)
from ledgerbridge.crypto import CredentialCipher
from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.errors import NotFoundError
from ledgerbridge.tables import connections

# One asyncio lock per event loop and connection, so in-process refreshers queue on the loop
# instead of each holding a thread while they wait for the database lock.
_LOCAL_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


@dataclass
class _Rotation:
    current: dict[str, Any]
    _store: DatabaseCredentials
    _conn: Connection

    async def save(self, credentials: dict[str, Any]) -> None:
        store = self._store
        await to_thread.run_sync(
            write_credentials, self._conn, store.cipher, store.connection_id, credentials
        )
        self.current = credentials


class DatabaseCredentials:
    """The `CredentialStore` of one connection."""

    def __init__(self, engine: Engine, cipher: CredentialCipher, connection_id: str) -> None:
        self.engine = engine
        self.cipher = cipher
        self.connection_id = connection_id

    def _read(self) -> dict[str, Any]:
        with read_transaction(self.engine) as conn:
            return read_credentials(conn, self.cipher, self.connection_id)

    async def load(self) -> dict[str, Any]:
        return await to_thread.run_sync(self._read)

    def _local_lock(self) -> asyncio.Lock:
        locks = _LOCAL_LOCKS.setdefault(asyncio.get_running_loop(), {})
        return locks.setdefault(self.connection_id, asyncio.Lock())

    @asynccontextmanager
    async def rotating(self) -> AsyncIterator[_Rotation]:
        async with self._local_lock():
            transaction = write_transaction(self.engine)
            conn = await to_thread.run_sync(transaction.__enter__)
            try:
                current = await to_thread.run_sync(self._locked_read, conn)
                rotation = _Rotation(current, self, conn)
                yield rotation
            except BaseException as exc:
                await to_thread.run_sync(transaction.__exit__, type(exc), exc, exc.__traceback__)
                raise
            await to_thread.run_sync(transaction.__exit__, None, None, None)

    def _locked_read(self, conn: Connection) -> dict[str, Any]:
        token = conn.execute(
            sa.select(connections.c.credentials)
            .where(connections.c.id == self.connection_id)
            .with_for_update()
        ).scalar_one_or_none()
        if token is None:
            raise NotFoundError(f"connection {self.connection_id!r} does not exist")
        return self.cipher.decrypt(token)

    def _mark(self, message: str) -> None:
        with write_transaction(self.engine) as conn:
            set_status(conn, self.connection_id, ConnectionStatus.NEEDS_REAUTH, message)

    async def needs_reauthorisation(self, message: str) -> None:
        await to_thread.run_sync(self._mark, message)
