"""The gate: two requests in flight per company by default, 429 with a retry header;
injected faults in Intacct's envelope."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from ledgerbridge.db import write_transaction
from ledgerbridge.providers.intacct.sandbox import MOUNT_PATH, provider
from ledgerbridge.sandbox.tenants import update_tenant

from .conftest import CUSTOMERS


async def _burst(app: FastAPI, token: str, requests: int) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        headers = {"Authorization": f"Bearer {token}"}
        return await asyncio.gather(
            *(client.get(MOUNT_PATH + CUSTOMERS, headers=headers) for _ in range(requests))
        )


def _configure(app: FastAPI, tenant: str, **changes: object) -> str:
    context = app.state.sandbox
    provider.seed(context, tenant, 3, seed=1)
    with write_transaction(context.engine) as connection:
        update_tenant(connection, "intacct", tenant, dict(changes))
    return provider.credentials(context, tenant)["access_token"]


def test_a_third_concurrent_request_is_throttled(app: FastAPI) -> None:
    # Latency keeps the first two requests in flight while the third arrives.
    token = _configure(app, "BUSY", latency_ms=300)
    responses = asyncio.run(_burst(app, token, 3))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200, 200, 429]
    throttled = next(r for r in responses if r.status_code == 429)
    assert throttled.headers["Retry-After"] == "1"
    assert throttled.json()["ia::result"]["ia::error"]["code"] == "tooManyRequests"


def test_injected_faults_use_the_envelope(app: FastAPI) -> None:
    token = _configure(app, "FLAKY", error_rate=1.0, error_statuses=[503])
    responses = asyncio.run(_burst(app, token, 1))
    assert responses[0].status_code == 503
    assert responses[0].json()["ia::result"]["ia::error"]["message"]
