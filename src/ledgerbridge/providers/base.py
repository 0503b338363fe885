"""What every connector shares: the provider error tree, the paging guard, and the
`Connector` protocol the sync engine drives.

A connector receives an `httpx.AsyncClient` (the one transport seam: tests bind it to a
sandbox, production to the internet), yields pages of provider-native customers since a
checkpoint, and gets, creates and updates one customer. Each provider classifies its
HTTP answers into this tree in exactly one place.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ledgerbridge.errors import LedgerBridgeError
from ledgerbridge.unified.customer import UnifiedCustomer


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
    """One page of provider-native customers and the checkpoint to store once it is saved."""

    customers: list[dict[str, Any]]
    checkpoint: dict[str, Any]
    total: int | None = None
    deleted_ids: list[str] = field(default_factory=list)
    """Ids the provider reports as deleted outright (no payload)."""


class Connector(Protocol):
    """One platform, one connection. Implementations live in `providers/<name>/connector.py`."""

    provider: str

    def pages(self, checkpoint: dict[str, Any] | None) -> AsyncIterator[CustomerPage]:
        """Customers changed since `checkpoint` (all of them when None), page by page."""
        ...

    async def get(self, external_id: str) -> dict[str, Any]: ...

    async def create(self, customer: Mapping[str, Any]) -> dict[str, Any]:
        """Create from unified fields; returns the provider-native customer."""
        ...

    async def update(self, external_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change the given unified fields only; returns the provider-native customer."""
        ...

    def to_unified(self, native: Mapping[str, Any]) -> UnifiedCustomer: ...

    def is_deleted(self, native: Mapping[str, Any]) -> bool:
        """True when the platform marks this customer inactive (recorded as deleted)."""
        ...
