"""The request pipeline's hold on what it has read (`providers.client.ProviderClient`)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import LiveServer
from ledgerbridge.providers.base import FatalError, RetryPolicy
from ledgerbridge.providers.client import ProviderClient

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """One backend is enough: nothing here touches the database."""
    return str(request.param)


@pytest.fixture
def no_cyclic_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _classify(response: httpx.Response) -> Any:
    if response.status_code != 200:
        raise FatalError(f"HTTP {response.status_code}", provider="test")
    return response.json()


@pytest.mark.usefixtures("no_cyclic_collector")
async def test_a_classified_response_is_freed_without_the_cyclic_collector(
    live_server: LiveServer,
) -> None:
    """httpx keeps a response and its body's stream in a reference cycle: once classified,
    answered or refused, a response and its body must go when dropped, not when the garbage
    collector next runs (a syncing process runs it every 50,000 new objects)."""
    responses: list[weakref.ref[httpx.Response]] = []

    async def keep(response: httpx.Response) -> None:
        responses.append(weakref.ref(response))

    async with httpx.AsyncClient(event_hooks={"response": [keep]}) as http:
        client = ProviderClient(
            provider="test",
            http=http,
            base_url=live_server.url,
            classify=_classify,
            retry=RetryPolicy(attempts=1),
        )
        assert (await client.request("GET", "/health"))["status"] == "ok"
        with pytest.raises(FatalError):
            await client.request("GET", "/no-such-page")
    assert len(responses) == 2
    assert [ref() for ref in responses] == [None, None]
