"""The gate: two requests in flight per company by default, 429 with a retry header;
injected faults in Intacct's envelope."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import httpx
from fastapi import FastAPI

from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.providers.intacct.sandbox import MOUNT_PATH, provider
from ledgerbridge.sandbox.tenants import get_tenant, update_tenant
from providers.intacct.support import CUSTOMERS


async def _burst(app: FastAPI, token: str, requests: int) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        headers = {"Authorization": f"Bearer {token}"}
        return await asyncio.gather(
            *(client.get(MOUNT_PATH + CUSTOMERS, headers=headers) for _ in range(requests))
        )


def _configure(app: FastAPI, tenant: str, **changes: object) -> str:
    """Seed a company, apply knob `changes`, and return a live access token."""
    context = app.state.sandbox
    provider.seed(context, tenant, 3, seed=1)
    with write_transaction(context.engine) as connection:
        update_tenant(connection, "intacct", tenant, dict(changes))
    return provider.credentials(context, tenant)["access_token"]


def test_a_third_concurrent_request_is_throttled(app: FastAPI) -> None:
    context = app.state.sandbox
    token = _configure(app, "BUSY")
    with read_transaction(context.engine) as connection:
        settings = get_tenant(connection, "intacct", "BUSY")
    assert settings is not None
    assert settings.max_concurrent == 2  # the default of a new company

    async def scenario() -> list[httpx.Response]:
        # Two requests in flight hold the company's two slots while a third arrives.
        async with AsyncExitStack() as slots:
            for _ in range(2):
                assert (
                    await slots.enter_async_context(context.gate.enter("intacct", "BUSY", settings))
                    is None
                )
            busy = await _burst(app, token, 1)
        return busy + await _burst(app, token, 1)

    throttled, after = asyncio.run(scenario())
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "1"
    assert throttled.json()["ia::result"]["ia::error"]["code"] == "tooManyRequests"
    assert after.status_code == 200  # slots free again, the next request is served


def test_injected_faults_use_the_envelope(app: FastAPI) -> None:
    token = _configure(app, "FLAKY", error_rate=1.0, error_statuses=[503])
    responses = asyncio.run(_burst(app, token, 1))
    assert responses[0].status_code == 503
    assert responses[0].json()["ia::result"]["ia::error"]["message"]
