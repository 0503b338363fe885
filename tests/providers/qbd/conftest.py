"""The `conductor` fixture: a seeded sandbox end user with a client carrying its key."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from fastapi import FastAPI

from asgi_client import TestClient
from ledgerbridge.providers.qbd.sandbox import provider
from ledgerbridge.sandbox.base import SandboxContext
from providers.qbd.support import END_USER, SEEDED, Clock, Conductor


@pytest.fixture
def conductor(app: FastAPI) -> Iterator[Conductor]:
    context: SandboxContext = app.state.sandbox
    clock = Clock(datetime.now().astimezone().replace(microsecond=0))
    context.clock = clock
    provider.seed(context, END_USER, SEEDED, seed=7)
    key = provider.credentials(context, END_USER)["CONDUCTOR_SECRET_KEY"]
    headers = {"Authorization": f"Bearer {key}", "Conductor-End-User-Id": END_USER}
    with TestClient(app, headers=headers) as client:
        yield Conductor(client, context, clock, key)
