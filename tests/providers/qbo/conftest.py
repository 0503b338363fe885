"""An empty QuickBooks realm with a live access token."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ledgerbridge.sandbox.registry import get_sandbox
from providers.qbo.qbo_helpers import REALM, Realm


@pytest.fixture
def realm(app: FastAPI, client: TestClient) -> Realm:
    """An empty realm with the gate's realistic limits and a valid access token."""
    context = app.state.sandbox
    credentials = get_sandbox("qbo").credentials(context, REALM)
    return Realm(http=client, realm_id=REALM, credentials=credentials)
