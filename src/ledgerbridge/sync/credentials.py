"""Connection credentials over the database, as connectors use them (`CredentialStore`).

A token refresh never holds a database lock across the token endpoint call: on SQLite the
write lock would stop every other writer of the whole database (every connection's page
saves) for as long as the platform takes to answer. Instead:

1. in this process, refreshers of one connection queue on an asyncio lock;
2. across processes, the refresher claims the connection's refresh (`credential_claims`,
   one short transaction that also reads the credentials stored now); a second process
   waits until the claim is released, then reads the tokens the first one stored and
   uses them; a claim left by a killed process expires after `CLAIM_TTL`;
3. the token endpoint is called holding no lock;
4. the answer is stored at once, in one short transaction that does nothing else: an
   `UPDATE` that compares the stored ciphertext with the one the refresh started from
   (so credentials replaced meanwhile, by a person reconnecting or by a refresher whose
   claim had expired, are never overwritten; those are used instead) and the claim's
   release.

Under strict single-use rotation the window between the platform's answer and our commit
is step 4 alone: encrypting happens before it, and nothing else runs inside it.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ledgerbridge.connections import ConnectionStatus, read_credentials, set_status
from ledgerbridge.crypto import CredentialCipher
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.errors import NotFoundError
from ledgerbridge.tables import connections, credential_claims
from ledgerbridge.threads import in_thread

CLAIM_TTL = timedelta(seconds=120)
"""How long a refresh claim holds: past the token request's own timeout and retries, so a
live refresher keeps it; a killed one's claim lapses after this long."""
CLAIM_POLL_S = (0.02, 0.5)
"""A waiting refresher looks again after the first delay, doubling up to the second."""

# One asyncio lock per event loop and connection, so in-process refreshers queue on the loop
# instead of each holding a thread while they wait for another's claim.
_LOCAL_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


@dataclass
class _Rotation:
    current: dict[str, Any]
    _store: DatabaseCredentials
    _stored: str
    """The ciphertext `current` was read from: the value the save compares against."""

    async def save(self, credentials: dict[str, Any]) -> dict[str, Any]:
        store = self._store
        replacement = store.cipher.encrypt(credentials)  # before the transaction opens
        if await in_thread(store.swap, self._stored, replacement):
            self.current, self._stored = credentials, replacement
            return credentials
        # Replaced meanwhile (a person reconnected, or a refresher whose claim had lapsed
        # stored first): theirs stand.
        self.current = await store.load()
        return self.current


class DatabaseCredentials:
    """The `CredentialStore` of one connection."""

    def __init__(
        self,
        engine: Engine,
        cipher: CredentialCipher,
        connection_id: str,
        *,
        snapshot: str | None = None,
    ) -> None:
        self.engine = engine
        self.cipher = cipher
        self.connection_id = connection_id
        self.owner = uuid.uuid4().hex
        """Who holds a claim: this store object (one process may hold several, on several
        event loops)."""
        self._snapshot = snapshot
        """The stored ciphertext as its owner read it just before (a sync run, as it
        starts): loads use it, without a transaction, until a rotation begins. From then on
        every load reads the database, so a refresh and its refusal see what is stored."""

    def _read(self) -> dict[str, Any]:
        with read_transaction(self.engine) as conn:
            return read_credentials(conn, self.cipher, self.connection_id)

    async def load(self) -> dict[str, Any]:
        if self._snapshot is not None:
            return self.cipher.decrypt(self._snapshot)
        return await in_thread(self._read)

    def _local_lock(self) -> asyncio.Lock:
        locks = _LOCAL_LOCKS.setdefault(asyncio.get_running_loop(), {})
        return locks.setdefault(self.connection_id, asyncio.Lock())

    @asynccontextmanager
    async def rotating(self) -> AsyncIterator[_Rotation]:
        self._snapshot = None
        async with self._local_lock():
            stored = await self._claim()
            try:
                yield _Rotation(self.cipher.decrypt(stored), self, stored)
            finally:
                await in_thread(self.release)

    async def _claim(self) -> str:
        """Claim the refresh, waiting while another process holds it; the stored
        ciphertext as it is once claimed."""
        delay, longest = CLAIM_POLL_S
        while True:
            stored = await in_thread(self.try_claim)
            if stored is not None:
                return stored
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)

    def try_claim(self) -> str | None:
        """One short transaction: the stored credentials and the claim, or None while
        another refresher's claim is live."""
        now = utcnow()
        with write_transaction(self.engine) as conn:
            stored = conn.execute(
                sa.select(connections.c.credentials)
                .where(connections.c.id == self.connection_id)
                .with_for_update()
            ).scalar_one_or_none()
            if stored is None:
                raise NotFoundError(f"connection {self.connection_id!r} does not exist")
            claim = credential_claims.c
            holder = conn.execute(
                sa.select(claim.owner, claim.expires_at).where(
                    claim.connection_id == self.connection_id
                )
            ).first()
            if holder is not None and holder.owner != self.owner and holder.expires_at > now:
                return None
            conn.execute(
                sa.delete(credential_claims).where(claim.connection_id == self.connection_id)
            )
            conn.execute(
                sa.insert(credential_claims).values(
                    connection_id=self.connection_id, owner=self.owner, expires_at=now + CLAIM_TTL
                )
            )
            return str(stored)

    def swap(self, expected: str, replacement: str) -> bool:
        """Store `replacement` if the stored ciphertext is still `expected`, and release the
        claim: the only transaction between the token endpoint's answer and its commit."""
        with write_transaction(self.engine) as conn:
            swapped = conn.execute(
                sa.update(connections)
                .where(connections.c.id == self.connection_id)
                .where(connections.c.credentials == expected)
                .values(credentials=replacement)
            ).rowcount
            self._release(conn)
        return swapped == 1

    def release(self) -> None:
        with write_transaction(self.engine) as conn:
            self._release(conn)

    def _release(self, conn: Connection) -> None:
        claim = credential_claims.c
        conn.execute(
            sa.delete(credential_claims).where(
                claim.connection_id == self.connection_id, claim.owner == self.owner
            )
        )

    def _mark(self, message: str) -> None:
        with write_transaction(self.engine) as conn:
            set_status(conn, self.connection_id, ConnectionStatus.NEEDS_REAUTH, message)

    async def needs_reauthorisation(self, message: str) -> None:
        await in_thread(self._mark, message)
