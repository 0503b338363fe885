"""The sandboxes' gate (`sandbox/limits.py`): requests a rolling minute, requests in
flight, turns when busy, injected faults and latency, each per tenant of a provider."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

import pytest

from ledgerbridge.sandbox.limits import Gate, Refusal
from ledgerbridge.sandbox.tenants import TenantSettings

pytestmark = pytest.mark.anyio


async def knock(gate: Gate, settings: TenantSettings, tenant: str = "t1") -> Refusal | None:
    """One request through the gate: its refusal, or None when it was let in."""
    async with gate.enter("qbo", tenant, settings) as refusal:
        return refusal


async def test_the_requests_of_a_minute_are_counted_per_tenant() -> None:
    gate, limited = Gate(), TenantSettings(requests_per_minute=3)
    assert [await knock(gate, limited) for _ in range(3)] == [None] * 3
    over = await knock(gate, limited)
    assert over is not None
    assert (over.reason, over.status) == ("throttled", 429)
    assert 1 <= over.retry_after <= 61  # until the oldest of the minute falls out
    assert await knock(gate, limited, tenant="t2") is None  # another company's budget
    async with gate.enter("qbd", "t1", limited) as other_provider:
        assert other_provider is None
    gate.reset()
    assert await knock(gate, limited) is None


async def test_a_request_over_the_concurrency_limit_is_refused_until_one_finishes() -> None:
    gate, settings = Gate(), TenantSettings(max_concurrent=2)
    async with (
        gate.enter("qbo", "t1", settings) as first,
        gate.enter("qbo", "t1", settings) as second,
    ):
        assert (first, second) == (None, None)
        third = await knock(gate, settings)
        assert third is not None
        assert (third.reason, third.status, third.retry_after) == ("throttled", 429, 1)
    assert await knock(gate, settings) is None


async def test_a_request_that_fails_inside_still_frees_its_place() -> None:
    gate, settings = Gate(), TenantSettings(max_concurrent=1)
    with pytest.raises(RuntimeError):
        async with gate.enter("qbo", "t1", settings):
            raise RuntimeError("the handler failed")
    assert await knock(gate, settings) is None


async def test_a_busy_company_file_queues_requests_one_at_a_time() -> None:
    gate, settings = Gate(), TenantSettings(queue_when_busy=True, max_concurrent=1)
    inside, most_inside = 0, 0

    async def request() -> Refusal | None:
        nonlocal inside, most_inside
        async with gate.enter("qbd", "t1", settings) as refusal:
            inside += 1
            most_inside = max(most_inside, inside)
            await asyncio.sleep(0.01)
            inside -= 1
            return refusal

    assert await asyncio.gather(*(request() for _ in range(5))) == [None] * 5
    assert most_inside == 1  # waited their turn: none refused, none at once


async def test_injected_faults_come_at_the_rate_and_with_the_statuses_asked() -> None:
    settings = TenantSettings(error_rate=0.25, error_statuses=[500, 503])
    gate = Gate(random.Random(5))
    refusals = [await knock(gate, settings) for _ in range(2000)]
    injected = [r for r in refusals if r is not None]
    assert all(r.reason == "injected" for r in injected)
    assert 0.21 < len(injected) / 2000 < 0.29
    assert set(Counter(r.status for r in injected)) == {500, 503}
    # The same seed fails the same requests: a fault run can be repeated.
    again = Gate(random.Random(5))
    assert [await knock(again, settings) for _ in range(2000)] == refusals


@pytest.mark.parametrize(
    ("error_rate", "refused"),
    [(0.0, 0), (1.0, 50)],  # off means never, 1.0 means every request
)
async def test_fault_rate_bounds(error_rate: float, refused: int) -> None:
    gate, settings = Gate(), TenantSettings(error_rate=error_rate, error_statuses=[502])
    refusals = [await knock(gate, settings) for _ in range(50)]
    assert sum(r is not None for r in refusals) == refused
    assert {r.status for r in refusals if r is not None} <= {502}


async def test_an_injected_fault_is_not_counted_as_in_flight() -> None:
    gate = Gate(random.Random(1))
    failing = TenantSettings(error_rate=1.0, max_concurrent=1)
    assert await knock(gate, failing) is not None
    assert await knock(gate, TenantSettings(max_concurrent=1)) is None


async def test_latency_is_added_to_every_request() -> None:
    gate, slow = Gate(), TenantSettings(latency_ms=60)
    started = time.monotonic()
    for _ in range(3):
        assert await knock(gate, slow) is None
    assert time.monotonic() - started >= 0.18
