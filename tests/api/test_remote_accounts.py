"""A connection records the account it reaches at its platform, and connections made
before that was stored get it at start-up."""

from __future__ import annotations

import sqlalchemy as sa

from asgi_client import TestClient
from ledgerbridge.api.app import create_app
from ledgerbridge.config import Settings
from ledgerbridge.connections import connections_of_account
from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.tables import connections

AUTH = {"Authorization": "Bearer lb_test_key"}
QBO = {
    "realm_id": "9130355",
    "client_id": "c",
    "client_secret": "s",
    "refresh_token": "r",
}


def _create(client: TestClient, provider: str, credentials: dict[str, str]) -> dict[str, object]:
    response = client.post(
        "/connections",
        json={"provider": provider, "credentials": credentials},
        headers=AUTH,
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def test_connections_name_their_account(client: TestClient, settings: Settings) -> None:
    qbo = _create(client, "qbo", QBO)
    qbd = _create(client, "qbd", {"api_key": "sk_x", "end_user_id": "end_usr_1"})
    intacct = _create(client, "intacct", {"client_id": "c", "client_secret": "s", "username": "u"})
    assert (qbo["remote_account_id"], qbd["remote_account_id"]) == ("9130355", "end_usr_1")
    assert intacct["remote_account_id"] is None  # Intacct's credentials name no account
    engine = client.app.state.databases.main  # type: ignore[attr-defined]
    with read_transaction(engine) as conn:
        assert [c.id for c in connections_of_account(conn, "qbo", "9130355")] == [qbo["id"]]
        assert connections_of_account(conn, "qbd", "9130355") == []


def test_older_connections_get_their_account_at_start_up(
    client: TestClient, settings: Settings
) -> None:
    made = _create(client, "qbo", QBO)
    engine = client.app.state.databases.main  # type: ignore[attr-defined]
    with write_transaction(engine) as conn:  # as a connection made before migration 0005
        conn.execute(sa.update(connections).values(remote_account_id=None))
    app = create_app(settings)
    try:
        with TestClient(app) as restarted:
            shown = restarted.get(f"/connections/{made['id']}", headers=AUTH).json()
    finally:
        app.state.databases.dispose()
    assert shown["remote_account_id"] == "9130355"
