"""The shared gate: injected latency holds the concurrency slot, so slow answers pile up
into the platform's 429 as they would under load."""

from __future__ import annotations

import asyncio

from ledgerbridge.sandbox.limits import Gate, Refusal
from ledgerbridge.sandbox.tenants import TenantSettings


async def _one(gate: Gate, settings: TenantSettings) -> Refusal | None:
    async with gate.enter("qbo", "realm", settings) as refusal:
        return refusal


def test_latency_is_spent_inside_the_concurrency_slot() -> None:
    settings = TenantSettings(max_concurrent=10, latency_ms=300)

    async def burst() -> list[Refusal | None]:
        gate = Gate()
        return await asyncio.gather(*(_one(gate, settings) for _ in range(25)))

    answers = asyncio.run(burst())
    refused = [a for a in answers if a is not None]
    assert len(refused) == 15
    assert {(a.reason, a.status) for a in refused} == {("throttled", 429)}


def test_an_extra_limit_counts_separately() -> None:
    gate = Gate()
    assert [gate.count_extra("qbo:batch", "realm", 2) for _ in range(3)] == [True, True, False]
    assert gate.count_extra("qbo:batch", "other realm", 2)
