"""The one request pipeline every connector sends through.

    ProviderClient.request
      └─ retries (RetryPolicy: backoff on RetriableError, the wait Retry-After asks on
         ThrottledError, which also slows the budget down)
          └─ RequestBudget.slot (requests in flight, requests per rolling minute)
              └─ httpx request with the platform's `httpx.Auth` flow
                    (TokenAuth: a bearer token from `AccessTokens`, refreshed once on a
                    refusal; or a fixed header set such as Conductor's key and end user)
              └─ transport errors → RetriableError (translated here, once)
              └─ the platform's `classify(response)` → a result or the error tree

A connector shrinks to its configuration (base URL, auth, limits, classify), its paging
and its mapping. The token endpoint is called from inside the auth flow, so it never
takes a budget slot of its own (a request already holds one: taking another could wait
forever on a one-at-a-time budget), and its failures are retried as the request's.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from ledgerbridge.observability import metrics
from ledgerbridge.observability.logs import get_logger
from ledgerbridge.providers.base import (
    AuthError,
    ConnectorSettings,
    ProviderError,
    RetriableError,
    RetryPolicy,
    ThrottledError,
)
from ledgerbridge.providers.tokens import AccessTokens

log = get_logger(__name__)

T = TypeVar("T")

Classify = Callable[[httpx.Response], Any]
"""A platform's one reading of an answer: its parsed body, or an error of the tree."""


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


@dataclass(frozen=True)
class RequestLimits:
    """A platform's own request limits, as the client-side budget keeps them: requests in
    flight and requests per rolling minute. A connection overrides either through
    `ConnectorSettings.max_concurrent` / `requests_per_minute`."""

    max_concurrent: int
    per_minute: int

    def budget(self, settings: ConnectorSettings) -> RequestBudget:
        """The budget of one connection: these limits, or the connection's own."""
        return RequestBudget(
            max_concurrent=settings.max_concurrent or self.max_concurrent,
            per_minute=settings.requests_per_minute or self.per_minute,
        )


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
    anything else, or the last attempt's error, is raised. Each wait is logged and
    counted (`ledgerbridge_provider_retries_total`, `..._retry_wait_seconds_total`)."""
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


_NOTHING_LEFT = httpx.ByteStream(b"")
"""What a read response's stream is swapped for (`release`)."""


def release(response: httpx.Response) -> None:
    """Let a response that has been read and classified be freed as soon as it is dropped.

    httpx 0.28 ties each response and the stream that reads its body into a reference cycle
    (`BoundAsyncStream` keeps the response to set its `elapsed`; encode/httpx#3733), so a
    dropped response, its whole body with it, waited for the cyclic garbage collector. A
    syncing process collects only every 50,000 new objects (`runtime.started`), and a
    QuickBooks Online page of 1,000 customers is 1.5 MB of body: unreleased, a dozen pages
    waited at a time (sync_bench, 20,000 customers: peak RSS 117 -> 148 MB). The body has
    been read into `content` by then, so the stream has nothing left to give."""
    for each in (*response.history, response):
        each.stream = _NOTHING_LEFT


def refused_with_401(response: httpx.Response) -> bool:
    return response.status_code == 401


class TokenAuth(httpx.Auth):
    """Bearer tokens from `AccessTokens` (single-flight, stored before use), as an httpx
    auth flow: a request the API refuses (`refused`, a 401 by default) is sent once more
    with a refreshed token; a second refusal goes on to `classify` like any answer."""

    def __init__(
        self,
        tokens: AccessTokens,
        *,
        refused: Callable[[httpx.Response], bool] = refused_with_401,
        headers: Callable[[Mapping[str, Any]], Mapping[str, str]] | None = None,
    ) -> None:
        self._tokens = tokens
        self._refused = refused
        self._headers = headers

    def _sign(self, request: httpx.Request, token: str) -> None:
        request.headers["Authorization"] = f"Bearer {token}"
        if self._headers is not None:
            request.headers.update(self._headers(self._tokens.credentials))

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._tokens.current()
        self._sign(request, token)
        response = yield request
        await response.aread()  # `refused` may read it (httpx reads it only after the flow)
        if self._refused(response):
            self._sign(request, await self._tokens.refresh(token))
            yield request


class HeaderAuth(httpx.Auth):
    """Fixed credentials sent as headers (an API key), read from the store once."""

    def __init__(self, load: Callable[[], Awaitable[Mapping[str, str]]]) -> None:
        self._load = load
        self._headers: Mapping[str, str] | None = None

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._headers is None:
            self._headers = await self._load()
        request.headers.update(self._headers)
        yield request


@dataclass
class ProviderClient:
    """One connection's way to a platform: every request of a connector goes through
    `request` (see the module docstring for what happens to it)."""

    provider: str
    http: httpx.AsyncClient
    base_url: str
    classify: Classify
    retry: RetryPolicy
    auth: httpx.Auth | None = None
    budget: RequestBudget | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: httpx.Timeout | None = None
    reauthorise: Callable[[AuthError], Awaitable[None]] | None = None
    """Told when the platform refuses the credentials (after the auth flow's refresh), so
    the connection is marked for a person to re-authorise before the error goes up."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | list[str]] | None = None,
        json: Any = None,
        content: bytes | None = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
    ) -> Any:
        """Send `method base_url+path` until it succeeds or fails for good; the platform's
        classified answer."""
        sent_headers = {**self.headers, **(headers or {})}
        if content is not None:
            sent_headers.setdefault("Content-Type", "application/json")

        async def attempt() -> Any:
            try:
                response = await self.http.request(
                    method,
                    self.base_url + path,
                    params=params,
                    json=json,
                    content=content,
                    data=data,
                    headers=sent_headers,
                    auth=auth or self.auth or httpx.USE_CLIENT_DEFAULT,
                    timeout=self.timeout or httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.TransportError as exc:
                raise transport_error(self.provider, exc) from exc
            try:
                return self.classify(response)
            except AuthError as refused:
                if self.reauthorise is not None:
                    await self.reauthorise(refused)
                raise
            finally:
                release(response)

        return await call_with_retries(attempt, policy=self.retry, budget=self.budget)
