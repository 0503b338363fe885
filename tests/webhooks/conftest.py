"""Fixtures of the webhook tests: a recording receiver on a loopback port and deliverers
over the test's database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from fastapi import FastAPI

from ledgerbridge.webhooks.delivery import Deliverer, new_webhook_client
from webhooks.receiver import Receiver
from webhooks.support import FAST


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture
async def deliverer(app: FastAPI) -> AsyncIterator[Deliverer]:
    async with new_webhook_client(FAST) as http:
        yield Deliverer(app.state.databases.main, app.state.cipher, http, "worker-a", FAST)
