"""What every connector shares: the provider error tree, the pages of mapped records it
yields, the settings it honours, and the `Connector` protocol the sync engine drives.

A connector receives an `httpx.AsyncClient` (the one transport seam: tests bind it to a
sandbox, production to the internet), yields pages of mapped customers since a
checkpoint, and gets, creates and updates one customer. Each provider classifies its
HTTP answers into this tree in exactly one place.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, overload

import httpx

from ledgerbridge.errors import LedgerBridgeError


class ProviderError(LedgerBridgeError):
    """A provider refused or failed a request. Carries what a person needs to act on it."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        http_status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.http_status = http_status
        self.code = code
        self.request_id = request_id
        self.body = body

    def __str__(self) -> str:
        parts = [f"{self.provider}: {self.message}"]
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        if self.code:
            parts.append(f"code {self.code}")
        if self.request_id:
            parts.append(f"request id {self.request_id}")
        return " | ".join(parts)


class RetriableError(ProviderError):
    """Temporary: the same request may succeed later (5xx, timeouts, connection errors)."""


class ThrottledError(RetriableError):
    """Rate limited: wait `retry_after` seconds, then slow down."""

    def __init__(self, message: str, *, retry_after: float, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class AuthError(ProviderError):
    """The credentials were refused: the connection must be re-authorised."""


class ConflictError(ProviderError):
    """The record changed since it was read (a stale SyncToken or revision)."""


class ProviderValidationError(ProviderError):
    """The provider refused the data itself (a business rule, a bad value)."""


class FatalError(ProviderError):
    """Nothing the caller can do will make this request succeed."""


# Not frozen, these two and `IncomingRecord`: a sync builds each once a record, and a frozen
# dataclass's `__init__` (`object.__setattr__` a field) costs four times a plain one's.
@dataclass(slots=True)
class RecordVersion:
    """The platform's own version of one record: its version token (QuickBooks Online's
    `SyncToken`, Conductor's `revisionNumber`, Intacct's `audit.modifiedDateTime`) and
    when it was last modified there. Lets the store refuse to replace a record with an
    older version of itself (a page read before a write-back, saved after it)."""

    token: str | None
    modified_at: datetime


@dataclass(slots=True)
class MappedCustomer:
    """One customer as a platform answered it, already mapped: what the record store
    takes, so nothing downstream calls back into a connector or a mapper."""

    external_id: str
    payload: dict[str, Any]
    """The unified customer (`UnifiedCustomer.to_payload()`)."""
    native: dict[str, Any]
    """The platform's own object, kept beside it as `remote_data`."""
    deleted: bool
    """The platform marks it inactive: recorded as deleted, payload kept."""
    version: RecordVersion


class MappedOnRead(Sequence[MappedCustomer]):
    """A page's customers as the platform answered them, mapped the first time the page's
    records are read rather than where the page is made: the engine reads them in the
    thread that saves the page, so mapping runs there too and the event loop is free to
    send the next request and take in its answer meanwhile. (Mapped on the event loop, a
    QuickBooks Online sync kept the sandbox waiting on each next page: full sync / read-only
    pass 89-91% on SQLite, against 93-94% mapped in the saving thread, at the same CPU a
    customer; on PostgreSQL sharing the machine's two cores, 73% against 64-66%: see the
    README's known issues.)

    Iterating maps the records one at a time, so whoever reads them works on each record
    while the mapper's output is still in the CPU's cache (the engine builds the store's
    input, JSON texts and hashes, from it at once: `unified.records.IncomingRecord`). Each
    native is mapped once: a complete read keeps what it mapped for the next; an index or a
    slice maps the whole page first. Only the engine reads a page's records, from one
    thread at a time. A native the mapper refuses fails there, as it would have where the
    page was made: the run fails before the page is saved."""

    __slots__ = ("_mapped", "_mapper", "_natives")

    def __init__(self, natives: list[Any], mapper: Callable[[Any], MappedCustomer]) -> None:
        self._natives = natives
        self._mapper = mapper
        self._mapped: list[MappedCustomer] | None = None

    def _all(self) -> list[MappedCustomer]:
        if self._mapped is None:
            for _ in self:  # maps the page, and keeps it
                pass
        assert self._mapped is not None
        return self._mapped

    def __len__(self) -> int:
        return len(self._natives)

    @overload
    def __getitem__(self, index: int) -> MappedCustomer: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[MappedCustomer]: ...

    def __getitem__(self, index: int | slice) -> MappedCustomer | Sequence[MappedCustomer]:
        return self._all()[index]

    def __iter__(self) -> Iterator[MappedCustomer]:
        if self._mapped is not None:
            yield from self._mapped
            return
        mapped: list[MappedCustomer] = []
        for native in self._natives:
            mapped.append(record := self._mapper(native))
            yield record
        self._mapped = mapped


@dataclass(frozen=True, slots=True)
class KeyListPart:
    """One page of a full key list: ids that exist at the provider now. The engine stages
    each part in the database as it is saved (`unified/key_lists.py`), so a key list of a
    million ids is never held in memory, and reconciles when the part marked `last` is
    saved: every stored live record the list lacks is recorded as deleted.

    Only the page with the last part moves the checkpoint past the list, in the transaction
    that reconciles; the pages before it leave one the list is read again from (`None`: the
    stored checkpoint unchanged; QuickBooks Desktop: its pass's starting window). So a run
    killed midway reads the list again from its start (`first`), and never gets past a key
    list it did not finish."""

    ids: list[str]
    first: bool = False
    """The list starts here: what an earlier, unfinished list staged is dropped."""
    last: bool = False
    """The list is complete with this part."""


@dataclass(frozen=True)
class CustomerPage:
    """One page of mapped customers and the checkpoint to store once it is saved.

    The engine saves `records`, records `deleted_ids` as deleted and stores `checkpoint`
    in one transaction, so `pages(checkpoint)` called again with it continues right after
    this page (a killed run resumes there and loses nothing). Data flows one way: the
    records arrive mapped (or with the mapper's pure function, `MappedOnRead`), and
    nothing calls back into the connector to read them."""

    records: Sequence[MappedCustomer]
    """A list, or `MappedOnRead`: the platform's objects, mapped where the page is saved."""
    checkpoint: dict[str, Any] | None
    """None leaves the stored checkpoint as it is: a key list's parts before its last."""
    total: int | None = None
    """How many customers the whole run will read, when the platform says (for progress)."""
    deleted_ids: list[str] = field(default_factory=list)
    """Ids the provider reports as deleted outright (no payload)."""
    key_list: KeyListPart | None = None
    """A part of a full key list (a keys-only pass): see `KeyListPart`."""

    @property
    def customers(self) -> list[dict[str, Any]]:
        """The platform's own objects of `records`, in order."""
        return [record.native for record in self.records]


class CredentialStore(Protocol):
    """A connection's credentials as the connector sees them, and the one way to change
    them. Implemented over the database by `sync/credentials.py`; tests may use any."""

    async def load(self) -> dict[str, Any]:
        """The credentials as stored now."""
        ...

    def rotating(self) -> AbstractAsyncContextManager[CredentialRotation]:
        """Claim the connection's token refresh (across processes) while tokens are
        refreshed: read the latest stored credentials inside, call the token endpoint, then
        `save` the answer before leaving. Two refreshes of one connection never overlap,
        and no database lock is held while the token endpoint is called."""
        ...

    async def needs_reauthorisation(self, message: str) -> None:
        """Mark the connection as needing a person to re-authorise it; syncs stop retrying."""
        ...


class CredentialRotation(Protocol):
    current: dict[str, Any]
    """The credentials as stored when the refresh was claimed (another process may have
    refreshed them already: compare before calling the token endpoint)."""

    async def save(self, credentials: dict[str, Any]) -> dict[str, Any]:
        """Store the token endpoint's answer at once (committed on return) unless the stored
        credentials were replaced since `current` was read; returns the credentials to use
        (the answer, or the replacement that stands)."""
        ...


@dataclass(frozen=True, slots=True)
class StoredChild:
    """A record the store holds whose unified `parent_id` is another record: what a
    connector needs to tell whether the stored `fully_qualified_name` still follows its
    parent's."""

    external_id: str
    parent_id: str
    fully_qualified_name: str | None


class StoredHierarchy(Protocol):
    """The connection's stored records as a connector may consult them (read-only), to find
    records a platform changed without saying so. Implemented over the database by
    `sync/hierarchy.py`."""

    async def children(self, parent_ids: Sequence[str]) -> list[StoredChild]:
        """Every stored record (deleted ones too) whose parent is one of `parent_ids`."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry temporary failures (exponential backoff, jitter)."""

    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_throttle_wait: float = 120.0

    def delay(self, attempt: int) -> float:
        ceiling = min(self.max_delay, self.base_delay * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)


class Connector(Protocol):
    """One platform, one connection. Implementations live in `providers/<name>/connector.py`
    and are built from their `Platform` (`providers/registry.py`)."""

    @property
    def provider(self) -> str: ...

    def pages(self, checkpoint: dict[str, Any] | None) -> AsyncIterator[CustomerPage]:
        """Customers changed since `checkpoint` (all of them when None: a full run), page
        by page. Checkpoints are the connector's own JSON; the engine stores each page's and
        hands the last one back. A checkpoint taken in the middle of a full pass carries
        `"full": true`, so the engine can report a resumed run as full. An incremental run
        that finds nothing yields nothing (the checkpoint stays as it was)."""
        ...

    async def get(self, external_id: str) -> dict[str, Any]: ...

    async def create(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Create from unified fields; returns the provider-native customer."""
        ...

    async def update(
        self,
        external_id: str,
        changes: Mapping[str, Any],
        current: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        """Change the given unified fields only; returns the provider-native customer.
        `current` is the native customer as last synced (its SyncToken or revision makes a
        change to a record edited since fail with `ConflictError`); None fetches it."""
        ...


@dataclass(frozen=True)
class ConnectorSettings:
    """Knobs every connector honours (defaults fit the real platforms)."""

    page_size: int | None = None
    """Rows per request; None uses the platform's maximum."""
    key_page_size: int | None = None
    """Ids per page of a key list (the lists that find deletes): a keys-only request's size,
    or, where ids are listed with the records (QuickBooks Desktop), how many are gathered
    into each part the engine stages; None uses the platform's maximum."""
    lag_seconds: float = 60.0
    """Incremental reads start this long before the last change seen (closed start), so a
    change committed late on the platform's side is still read."""
    retry: RetryPolicy = RetryPolicy()
    max_concurrent: int | None = None
    """Requests in flight for this connection; None keeps the platform's limit."""
    requests_per_minute: int | None = None
    """Requests per rolling minute for this connection; None keeps the platform's limit."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Provider-specific options (e.g. Intacct's reconcile_every)."""
    key_lists: bool = True
    """Read the key lists that find deletes (`KeyListPart`). The engine turns them off for
    a run whose pass began on a connection with nothing stored (`sync.engine.open_connector`):
    such a list can delete nothing, so reading it would only cost requests."""


class ConnectorFactory(Protocol):
    def __call__(
        self,
        *,
        base_url: str,
        credentials: CredentialStore,
        http: httpx.AsyncClient,
        settings: ConnectorSettings,
        stored: StoredHierarchy | None = None,
    ) -> Connector: ...
