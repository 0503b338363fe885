"""A connection's own settings reach the connector its runs use: an Intacct connection set
to reconcile every 2nd incremental run finds a hard delete at the 2nd run, not the 10th,
over real loopback HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from asgi_client import TestClient
from conftest import LiveServer, sync_environment
from ledgerbridge.connect import connect_sandbox
from ledgerbridge.connections import get_connection
from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.providers.intacct.sandbox import provider, store
from ledgerbridge.providers.intacct.sandbox.tables import customers
from ledgerbridge.sync.engine import SyncEnvironment, open_connector, run_sync
from ledgerbridge.tables import connections
from ledgerbridge.unified.customer import MODEL_NAME
from ledgerbridge.unified.records import get_record

pytestmark = pytest.mark.anyio


def _deletable(conn: sa.Connection) -> int:
    """An active customer Intacct lets a user delete: no balance, no children."""
    parents = sa.select(customers.c.parent_key).where(customers.c.parent_key.is_not(None))
    key = conn.execute(
        sa.select(sa.func.min(customers.c.key)).where(
            customers.c.tenant_id == COMPANY,
            customers.c.status == "active",
            sa.or_(customers.c.total_due.is_(None), customers.c.total_due == 0),
            customers.c.key.not_in(parents),
        )
    ).scalar_one()
    assert key is not None
    return int(key)


COMPANY = "INITECH"


@pytest.fixture
async def env(app: FastAPI) -> AsyncIterator[SyncEnvironment]:
    # No process-wide reconcile_every: the connection's own setting is the only one.
    async with sync_environment(app, page_size=50, lag_seconds=5) as environment:
        yield environment


async def test_intacct_reconciles_at_the_connections_interval(
    app: FastAPI, env: SyncEnvironment, live_server: LiveServer
) -> None:
    provider.seed(app.state.sandbox, COMPANY, 30, seed=3)
    connection_id = connect_sandbox(
        app.state.databases,
        app.state.cipher,
        provider="intacct",
        tenant=COMPANY,
        server_url=live_server.url,
    ).id
    with write_transaction(app.state.databases.main) as conn:
        conn.execute(
            sa.update(connections)
            .where(connections.c.id == connection_id)
            .values(settings={"reconcile_every": 2})
        )
    assert (await run_sync(env, connection_id, full=True)).status == "succeeded"
    with write_transaction(app.state.sandbox.engine) as conn:
        key = _deletable(conn)
        store.delete_customer(conn, COMPANY, key)

    def deleted() -> bool:
        with read_transaction(app.state.databases.main) as conn:
            record = get_record(
                conn,
                connection_id=connection_id,
                model=MODEL_NAME,
                external_id=str(key),
                with_remote=False,
            )
        assert record is not None
        return record.deleted_at is not None

    first = await run_sync(env, connection_id)
    assert (first.status, first.kind) == ("succeeded", "incremental")
    assert not deleted()  # an incremental run cannot see a hard delete ...
    second = await run_sync(env, connection_id)
    assert (second.status, second.deleted) == ("succeeded", 1)
    assert deleted()  # ... the 2nd one reconciles, as the connection says


async def test_a_connections_budget_comes_from_its_settings(
    app: FastAPI, env: SyncEnvironment
) -> None:
    """`POST /connections` takes `max_concurrent` and `requests_per_minute` for any platform
    (checked by the platform's settings model) and the connector's budget uses them."""
    credentials = {"realm_id": "1", "client_id": "c", "client_secret": "s", "refresh_token": "r"}
    with TestClient(app, headers={"Authorization": "Bearer lb_test_key"}) as client:
        refused = client.post(
            "/connections",
            json={"provider": "qbo", "credentials": credentials, "settings": {"max_concurrent": 0}},
        )
        assert refused.status_code == 400, refused.text
        made = client.post(
            "/connections",
            json={
                "provider": "qbo",
                "credentials": credentials,
                "settings": {"max_concurrent": 2, "requests_per_minute": 30},
            },
        )
        assert made.status_code == 201, made.text
    with read_transaction(app.state.databases.main) as conn:
        info = get_connection(conn, made.json()["id"])
    connector = open_connector(env, info)
    budget = connector.client.budget  # type: ignore[attr-defined]
    assert (budget.max_concurrent, budget.per_minute) == (2, 30)
