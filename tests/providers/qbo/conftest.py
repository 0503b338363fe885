"""An empty QuickBooks realm with a live access token, in-process or as a ledgerbridge
connection over loopback HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI

from asgi_client import TestClient
from conftest import LiveServer
from ledgerbridge.connections import create_connection
from ledgerbridge.db import write_transaction
from ledgerbridge.providers.registry import get_platform
from providers.qbo.connector_support import QboConnection
from providers.qbo.live_sync import app_client, env, qbo
from providers.qbo.qbo_helpers import REALM, Realm

__all__ = ["app_client", "env", "qbo"]


@pytest.fixture
def realm(app: FastAPI, client: TestClient) -> Realm:
    """An empty realm with the gate's realistic limits and a valid access token."""
    context = app.state.sandbox
    get_platform("qbo").sandbox.create(context, REALM)
    credentials = get_platform("qbo").sandbox.credentials(context, REALM)
    return Realm(http=client, realm_id=REALM, credentials=credentials)


@pytest.fixture
def qbo_connection(app: FastAPI, live_server: LiveServer) -> QboConnection:
    """A ledgerbridge connection to an empty sandbox realm served over loopback HTTP, with
    the credentials a real QuickBooks connection stores (tokens, app keys, realm id)."""
    get_platform("qbo").sandbox.create(app.state.sandbox, REALM)
    issued = get_platform("qbo").sandbox.credentials(app.state.sandbox, REALM)
    credentials = {
        "realm_id": REALM,
        "client_id": issued["client_id"],
        "client_secret": issued["client_secret"],
        "refresh_token": issued["refresh_token"],
        "access_token": issued["access_token"],
        "access_token_expires_at": (
            datetime.now(UTC) + timedelta(seconds=int(issued["expires_in"]))
        ).isoformat(),
    }
    with write_transaction(app.state.databases.main) as connection:
        info = create_connection(
            connection,
            app.state.cipher,
            provider="qbo",
            base_url=f"{live_server.url}/sandbox/qbo",
            credentials=credentials,
            sync_frequency_s=3600,
            now=datetime.now(UTC),
        )
    return QboConnection(app=app, server=live_server, connection_id=info.id, realm_id=REALM)
