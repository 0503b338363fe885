"""Per-tenant request limits and injected faults, kept in process memory.

A provider sandbox asks `Gate.enter(...)` for every request; the answer is either a
permit (release it when the response is done) or a refusal saying why and for how long.
Rendering the refusal in the platform's own envelope is the provider's business.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from ledgerbridge.sandbox.tenants import TenantSettings


@dataclass(frozen=True)
class Refusal:
    """Why a request is not served: `throttled` (429, wait `retry_after` s) or `injected`
    (a fault injected on purpose with HTTP `status`)."""

    reason: str
    status: int
    retry_after: int = 0


@dataclass
class _TenantState:
    recent: deque[float] = field(default_factory=deque)
    in_flight: int = 0
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)


class Gate:
    """Rate limit (requests a rolling minute), concurrency limit and fault injection."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._states: dict[tuple[str, str], _TenantState] = {}
        self._rng = rng or random.Random()

    def reset(self) -> None:
        self._states.clear()

    @asynccontextmanager
    async def enter(
        self, provider: str, tenant_id: str, settings: TenantSettings
    ) -> AsyncIterator[Refusal | None]:
        """Yield None when the request may proceed, else the `Refusal` to answer with."""
        state = self._states.setdefault((provider, tenant_id), _TenantState())
        refusal = self._count(state, settings.requests_per_minute)
        if refusal is None and settings.error_rate and self._rng.random() < settings.error_rate:
            refusal = Refusal("injected", self._rng.choice(settings.error_statuses or [500]))
        if refusal is not None:
            yield refusal
            return
        if settings.queue_when_busy:
            # One request at a time, the rest wait their turn (QuickBooks Desktop).
            async with state.turn:
                await self._latency(settings)
                yield None
            return
        limit = settings.max_concurrent
        if limit is not None and state.in_flight >= limit:
            yield Refusal("throttled", 429, retry_after=1)
            return
        # The slot is held for the whole request, the injected latency included, so slow
        # answers pile up and provoke the concurrency 429 as a loaded platform's would.
        state.in_flight += 1
        try:
            await self._latency(settings)
            yield None
        finally:
            state.in_flight -= 1

    @staticmethod
    async def _latency(settings: TenantSettings) -> None:
        if settings.latency_ms:
            await asyncio.sleep(settings.latency_ms / 1000)

    def count_extra(self, key: str, tenant_id: str, per_minute: int) -> bool:
        """Count one request against a further per-minute limit named `key` (QuickBooks'
        batch endpoint has its own); False when that limit is already reached."""
        state = self._states.setdefault((key, tenant_id), _TenantState())
        return self._count(state, per_minute) is None

    def _count(self, state: _TenantState, limit: int | None) -> Refusal | None:
        if limit is None:
            return None
        now = time.monotonic()
        while state.recent and state.recent[0] <= now - 60:
            state.recent.popleft()
        if len(state.recent) >= limit:
            retry_after = max(1, int(state.recent[0] + 60 - now) + 1)
            return Refusal("throttled", 429, retry_after=retry_after)
        state.recent.append(now)
        return None
