"""What every connector shares: the provider error tree, the paging guard, and the
`Connector` protocol the sync engine drives.

A connector receives an `httpx.AsyncClient` (the one transport seam: tests bind it to a
sandbox, production to the internet), yields pages of provider-native customers since a
checkpoint, and gets, creates and updates one customer. Each provider classifies its
HTTP answers into this tree in exactly one place.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import httpx

from ledgerbridge.errors import LedgerBridgeError
from ledgerbridge.observability import metrics
from ledgerbridge.observability.logs import get_logger
from ledgerbridge.unified.customer import UnifiedCustomer

T = TypeVar("T")
log = get_logger(__name__)


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


def retry_after_seconds(headers: Mapping[str, str], default: float) -> float:
    """Seconds to wait from `Retry-After` (seconds or an HTTP date) or `retry-after-ms`."""
    if (millis := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, moment.timestamp() - time.time())


@dataclass
class PageGuard:
    """Refuses a paging token already seen, so a provider that loops cannot make a sync
    run forever or store the same page twice."""

    provider: str
    _seen: set[str] = field(default_factory=set)

    def check(self, token: str) -> None:
        if token in self._seen:
            raise FatalError(
                f"Loop detected in pagination: the token {token!r} came back twice.",
                provider=self.provider,
            )
        self._seen.add(token)


@dataclass(frozen=True)
class CustomerPage:
    """One page of provider-native customers and the checkpoint to store once it is saved.

    The engine saves `customers`, records `deleted_ids` as deleted and stores `checkpoint`
    in one transaction, so `pages(checkpoint)` called again with it continues right after
    this page (a killed run resumes there and loses nothing)."""

    customers: list[dict[str, Any]]
    checkpoint: dict[str, Any]
    total: int | None = None
    """How many customers the whole run will read, when the platform says (for progress)."""
    deleted_ids: list[str] = field(default_factory=list)
    """Ids the provider reports as deleted outright (no payload)."""
    present_ids: frozenset[str] | None = None
    """When set: the complete set of ids that exist at the provider (a keys-only pass).
    Every stored live record whose id is not in it is recorded as deleted."""


class CredentialStore(Protocol):
    """A connection's credentials as the connector sees them, and the one way to change
    them. Implemented over the database by `sync/credentials.py`; tests may use any."""

    async def load(self) -> dict[str, Any]:
        """The credentials as stored now."""
        ...

    def rotating(self) -> AbstractAsyncContextManager[CredentialRotation]:
        """Hold the connection's credentials lock (across processes) while tokens are
        refreshed: read the latest stored credentials inside, call the token endpoint, then
        `save` the answer before leaving. Two refreshes of one connection never overlap."""
        ...

    async def needs_reauthorisation(self, message: str) -> None:
        """Mark the connection as needing a person to re-authorise it; syncs stop retrying."""
        ...


class CredentialRotation(Protocol):
    current: dict[str, Any]
    """The credentials as stored when the lock was taken (another process may have
    refreshed them already: compare before calling the token endpoint)."""

    async def save(self, credentials: dict[str, Any]) -> None:
        """Store new credentials in the locked transaction; committed when the block ends."""
        ...


@dataclass
class RequestBudget:
    """A client-side budget of concurrent requests and requests per rolling minute, so a
    sync stays under a platform's limits instead of running into its 429s. `slow_down`
    halves the rate for a while after a throttle."""

    max_concurrent: int
    per_minute: int
    clock: Callable[[], float] = time.monotonic
    _semaphore: asyncio.Semaphore = field(init=False)
    _sent: deque[float] = field(init=False, default_factory=deque)
    _lock: asyncio.Lock = field(init=False, default_factory=asyncio.Lock)
    _slow_until: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._semaphore = asyncio.Semaphore(self.max_concurrent)

    def _limit(self, now: float) -> int:
        return max(1, self.per_minute // 2) if now < self._slow_until else self.per_minute

    async def _take_rate_slot(self) -> None:
        async with self._lock:
            while True:
                now = self.clock()
                while self._sent and self._sent[0] <= now - 60:
                    self._sent.popleft()
                if len(self._sent) < self._limit(now):
                    self._sent.append(now)
                    return
                await asyncio.sleep(max(0.01, self._sent[0] + 60 - now))

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._semaphore:
            await self._take_rate_slot()
            yield

    def slow_down(self, seconds: float = 60.0) -> None:
        self._slow_until = self.clock() + seconds


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


async def _wait_before_retry(
    exc: ProviderError, reason: str, seconds: float, sleep: Callable[[float], Awaitable[None]]
) -> None:
    metrics.PROVIDER_RETRIES.labels(exc.provider, reason).inc()
    metrics.PROVIDER_WAIT.labels(exc.provider, reason).inc(seconds)
    log.info(
        "provider request retried",
        provider=exc.provider,
        reason=reason,
        wait_s=round(seconds, 3),
        error=str(exc),
    )
    await sleep(seconds)


async def call_with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    budget: RequestBudget | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Run `call` (one classified request) until it succeeds or fails for good: retriable
    errors back off exponentially, throttles wait as told (and slow the budget down);
    anything else, or the last attempt's error, is raised."""
    for attempt in range(policy.attempts):
        try:
            if budget is None:
                return await call()
            async with budget.slot():
                return await call()
        except ThrottledError as exc:
            if attempt == policy.attempts - 1:
                raise
            if budget is not None:
                budget.slow_down()
            await _wait_before_retry(
                exc, "throttled", min(exc.retry_after, policy.max_throttle_wait), sleep
            )
        except RetriableError as exc:
            if attempt == policy.attempts - 1:
                raise
            await _wait_before_retry(exc, "retriable", policy.delay(attempt), sleep)
    raise AssertionError("unreachable: the loop returns or raises")


def transport_error(provider: str, exc: httpx.TransportError) -> RetriableError:
    """A connection failure or timeout, as a retriable provider error naming the URL (a
    bare "All connection attempts failed" does not say which server is down)."""
    try:
        where = f" ({exc.request.method} {exc.request.url.copy_with(query=None)})"
    except RuntimeError:  # no request attached
        where = ""
    return RetriableError(f"{type(exc).__name__}: {exc}{where}", provider=provider)


class Connector(Protocol):
    """One platform, one connection. Implementations live in `providers/<name>/connector.py`
    and are built by `providers/registry.py`."""

    provider: str

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

    def to_unified(self, native: Mapping[str, Any]) -> UnifiedCustomer: ...

    def is_deleted(self, native: Mapping[str, Any]) -> bool:
        """True when the platform marks this customer inactive (recorded as deleted)."""
        ...


@dataclass(frozen=True)
class ConnectorSettings:
    """Knobs every connector honours (defaults fit the real platforms)."""

    page_size: int | None = None
    """Rows per request; None uses the platform's maximum."""
    lag_seconds: float = 60.0
    """Incremental reads start this long before the last change seen (closed start), so a
    change committed late on the platform's side is still read."""
    retry: RetryPolicy = RetryPolicy()
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Provider-specific options (e.g. Intacct's reconcile_every)."""


class ConnectorFactory(Protocol):
    def __call__(
        self,
        *,
        base_url: str,
        credentials: CredentialStore,
        http: httpx.AsyncClient,
        settings: ConnectorSettings,
    ) -> Connector: ...
