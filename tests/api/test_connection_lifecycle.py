"""The life of keys and connections through the API: keys listed and revoked (the next
request is a 401), read keys refused writes; connections edited, paused (never due for the
scheduler, asked-for syncs refused) and resumed, credentials replaced (a connection that
needed re-authorisation is active again), filtered by end user and tags and paged with a
cursor; deleting one deletes its records, runs, checkpoint and credentials."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI

from asgi_client import TestClient
from ledgerbridge.connections import ConnectionStatus, set_status
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.sync import leases
from ledgerbridge.sync.runs import enqueue
from ledgerbridge.tables import connections, records, sync_runs, sync_state

INTACCT = {"client_id": "c", "client_secret": "s", "username": "user@COMPANY"}


def _intacct(client: TestClient, **fields: Any) -> dict[str, Any]:
    created = client.post(
        "/connections", json={"provider": "intacct", "credentials": INTACCT, **fields}
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def _due(app: FastAPI) -> list[str]:
    """What the scheduler would start now (its own query, leases released after)."""
    now = utcnow() + timedelta(days=400)  # past any sync frequency
    with write_transaction(app.state.databases.main) as conn:
        due = leases.claim_due(conn, "test", now=now, ttl=timedelta(seconds=5), limit=100)
        for connection_id in due:
            leases.release(conn, [connection_id], "test")
    return due


def test_keys_are_listed_without_secrets_and_revoked_at_once(
    client: TestClient, app: FastAPI
) -> None:
    made = client.post("/keys", json={"name": "backend", "scope": "full"})
    assert made.status_code == 201, made.text
    secret = made.json()["key"]
    reader = client.post("/keys", json={"name": "reports", "scope": "read"}).json()
    with TestClient(app, headers={"Authorization": f"Bearer {secret}"}) as keyed:
        listed = keyed.get("/keys")
        assert listed.status_code == 200
        keys = {key["name"]: key for key in listed.json()["keys"]}
        assert set(keys) == {"backend", "reports"}
        assert secret not in listed.text
        assert reader["key"] not in listed.text
        assert secret.startswith(keys["backend"]["prefix"])
        assert keys["backend"]["last_used_at"] is not None  # this request used it
        assert keys["reports"]["last_used_at"] is None
        assert (keys["reports"]["scope"], keys["reports"]["environment"]) == ("read", "dev")
        assert keyed.delete(f"/keys/{reader['id']}").status_code == 204
        assert keyed.delete(f"/keys/{reader['id']}").status_code == 404
    with TestClient(app, headers={"Authorization": f"Bearer {reader['key']}"}) as revoked:
        answer = revoked.get("/connections")
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "unauthorized"


def test_a_read_key_reads_and_is_refused_writes(client: TestClient, app: FastAPI) -> None:
    connection = _intacct(client)
    reader = client.post("/keys", json={"scope": "read"}).json()["key"]
    with TestClient(app, headers={"Authorization": f"Bearer {reader}"}) as read:
        assert read.get(f"/connections/{connection['id']}").status_code == 200
        assert read.get(f"/connections/{connection['id']}/syncs").status_code == 200
        for method, path in (
            ("PATCH", f"/connections/{connection['id']}"),
            ("DELETE", f"/connections/{connection['id']}"),
            ("POST", f"/connections/{connection['id']}/sync"),
            ("POST", "/keys"),
        ):
            refused = read.request(method, path, json={})
            assert refused.status_code == 403, (method, path)
            assert "full" in refused.json()["error"]["message"]
    assert client.get(f"/connections/{connection['id']}").status_code == 200


def test_patch_changes_frequency_tags_and_end_user(client: TestClient) -> None:
    connection = _intacct(client, end_user_id="user-1", metadata={"region": "eu"})
    _intacct(client, end_user_id="user-2")
    path = f"/connections/{connection['id']}"
    changed = client.patch(
        path, json={"sync_frequency": "2h", "metadata": {"plan": "gold"}, "end_user_id": "user-3"}
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["sync_frequency"], body["metadata"], body["end_user_id"]) == (
        7200,
        {"plan": "gold"},
        "user-3",
    )
    taken = client.patch(path, json={"end_user_id": "user-2"})
    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "end_user_taken"
    for bad in ({"sync_frequency": "5s"}, {"paused": "yes"}, {"metadata": {"a b": "x"}}, {"x": 1}):
        assert client.patch(path, json=bad).status_code == 400, bad
    assert client.get(path).json() == body  # refused changes changed nothing
    again = client.post(
        "/connections",
        json={"provider": "intacct", "credentials": INTACCT, "end_user_id": "user-2"},
    )
    assert again.status_code == 409


def test_a_paused_connection_is_never_due_and_refuses_syncs(
    client: TestClient, app: FastAPI
) -> None:
    connection = _intacct(client)
    path = f"/connections/{connection['id']}"
    assert _due(app) == [connection["id"]]
    paused = client.patch(path, json={"paused": True})
    assert paused.json()["status"] == "paused"
    assert _due(app) == []
    refused = client.post(f"{path}/sync")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "paused"
    with write_transaction(app.state.databases.main) as conn:  # a run queued before pausing
        enqueue(conn, connection["id"], full=False, trigger="api", now=utcnow())
    assert _due(app) == []
    resumed = client.patch(path, json={"paused": False})
    assert resumed.json()["status"] == "active"
    assert _due(app) == [connection["id"]]


def test_new_credentials_restore_a_connection_that_needs_reauthorisation(
    client: TestClient, app: FastAPI
) -> None:
    connection = _intacct(client)
    path = f"/connections/{connection['id']}"
    with write_transaction(app.state.databases.main) as conn:
        set_status(conn, connection["id"], ConnectionStatus.NEEDS_REAUTH, "password changed")
    assert _due(app) == []
    incomplete = client.patch(path, json={"credentials": {"client_id": "c"}})
    assert incomplete.status_code == 400
    assert client.get(path).json()["status"] == "needs_reauth"
    fixed = client.patch(path, json={"credentials": {**INTACCT, "client_secret": "new"}})
    assert fixed.status_code == 200, fixed.text
    assert (fixed.json()["status"], fixed.json()["status_message"]) == ("active", None)
    assert fixed.json()["id"] == connection["id"]
    assert _due(app) == [connection["id"]]


def test_connections_are_filtered_and_paged_with_a_cursor(client: TestClient) -> None:
    made = [
        _intacct(client, end_user_id=f"user-{n}", metadata={"region": "eu" if n % 2 else "us"})
        for n in range(5)
    ]
    seen, cursor = [], None
    while True:
        page = client.get(
            "/connections", params={"limit": 2, **({"cursor": cursor} if cursor else {})}
        )
        assert page.status_code == 200, page.text
        seen += [c["id"] for c in page.json()["connections"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == [c["id"] for c in made]
    eu = client.get("/connections", params={"metadata[region]": "eu"}).json()["connections"]
    assert [c["end_user_id"] for c in eu] == ["user-1", "user-3"]
    one = client.get("/connections", params={"end_user_id": "user-4", "provider": "intacct"})
    assert [c["id"] for c in one.json()["connections"]] == [made[4]["id"]]
    assert client.get("/connections", params={"status": "paused"}).json()["connections"] == []
    assert client.get("/connections", params={"status": "asleep"}).status_code == 400
    assert client.get("/connections", params={"cursor": "nonsense"}).status_code == 400
    first = client.get("/connections", params={"limit": 1}).json()["next_cursor"]
    prod = client.get(
        "/connections", params={"cursor": first}, headers={"Ledgerbridge-Environment": "prod"}
    )
    assert prod.status_code == 400  # a cursor is bound to its environment


def test_deleting_a_connection_deletes_its_records_runs_checkpoint_and_credentials(
    client: TestClient, app: FastAPI
) -> None:
    keep, gone = _intacct(client), _intacct(client)
    engine = app.state.databases.main
    now = utcnow()
    with write_transaction(engine) as conn:
        for connection_id in (keep["id"], gone["id"]):
            enqueue(conn, connection_id, full=True, trigger="api", now=now)
            conn.execute(
                sa.update(sync_state)
                .where(sync_state.c.connection_id == connection_id)
                .values(checkpoint={"position": 7})
            )
            conn.execute(
                sa.insert(records).values(
                    connection_id=connection_id,
                    model="customer",
                    external_id="1",
                    payload={},
                    content_hash="h",
                    first_seen_at=now,
                    last_modified_at=now,
                    last_action="ADDED",
                    change_seq=1,
                )
            )
    assert client.delete(f"/connections/{gone['id']}").status_code == 204
    with read_transaction(engine) as conn:
        for table in (records, sync_runs, sync_state):
            left = conn.execute(sa.select(table.c.connection_id)).scalars().all()
            assert left == [keep["id"]], table.name
        assert conn.execute(sa.select(connections.c.id)).scalars().all() == [keep["id"]]


def test_checking_a_key_is_one_lookup_and_no_write_per_request(
    client: TestClient, app: FastAPI
) -> None:
    secret = client.post("/keys", json={"name": "busy"}).json()["key"]
    engine = app.state.databases.main
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    with TestClient(app, headers={"Authorization": f"Bearer {secret}"}) as keyed:
        keyed.get("/keys")  # the first use writes last_used_at
        sa.event.listen(engine, "before_cursor_execute", record)
        try:
            for _ in range(5):
                assert keyed.get("/keys").status_code == 200
        finally:
            sa.event.remove(engine, "before_cursor_execute", record)
    lookups = [s for s in statements if "key_hash" in s]
    assert len(lookups) == 5  # one per request
    assert not [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
