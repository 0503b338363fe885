"""Subscriptions through the API: created with a secret shown once, listed, changed and
deleted; bad URLs and unknown events are 400s in the envelope and change nothing; a
subscription of another environment hears nothing of this one."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from asgi_client import TestClient
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.tables import webhook_deliveries
from ledgerbridge.webhooks.subscriptions import create_subscription
from webhooks.support import new_connection, subscribe


def test_a_subscription_is_created_listed_changed_and_deleted(client: TestClient) -> None:
    created = subscribe(client, "https://app.example.com/hooks", ["sync.succeeded"])
    assert created["id"].startswith("wh_")
    assert created["secret"].startswith("whsec_")
    assert (created["enabled"], created["include_empty_syncs"]) == (True, False)
    # The secret is shown once: never in a read.
    shown = client.get(f"/webhooks/{created['id']}").json()
    assert "secret" not in shown
    assert created["secret"] not in client.get("/webhooks").text
    assert [w["id"] for w in client.get("/webhooks").json()["webhooks"]] == [created["id"]]

    changed = client.patch(
        f"/webhooks/{created['id']}",
        json={"events": ["sync.failed", "sync.failed"], "include_empty_syncs": True},
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["events"], changed.json()["include_empty_syncs"]) == (
        ["sync.failed"],
        True,
    )
    rotated = client.post(f"/webhooks/{created['id']}/rotate-secret").json()
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != created["secret"]

    assert client.delete(f"/webhooks/{created['id']}").status_code == 204
    gone = client.get(f"/webhooks/{created['id']}")
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://app.example.com/hooks", "events": ["sync.succeeded"]},  # not http(s)
        {"url": "javascript:alert(1)", "events": ["sync.succeeded"]},
        {"url": "https://", "events": ["sync.succeeded"]},  # no host
        {"url": "https://app.example.com:99999/", "events": ["sync.succeeded"]},  # bad port
        {"url": "/hooks", "events": ["sync.succeeded"]},  # relative
        {"url": "https://app.example.com/hooks", "events": ["sync.started"]},  # unknown
        {"url": "https://app.example.com/hooks", "events": []},
        {"url": "https://app.example.com/hooks"},
        {"url": "https://app.example.com/hooks", "events": ["sync.failed"], "secret": "x"},
    ],
)
def test_bad_subscriptions_are_400s_and_change_nothing(
    client: TestClient, body: dict[str, object]
) -> None:
    answer = client.post("/webhooks", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "invalid_body"
    assert answer.json()["error"]["errors"][0]["message"]
    assert client.get("/webhooks").json() == {"webhooks": []}


def test_bad_changes_and_unknown_ids_are_refused(client: TestClient) -> None:
    created = subscribe(client, "http://127.0.0.1:9/hooks", ["connection.created"])
    bad = client.patch(f"/webhooks/{created['id']}", json={"url": "mailto:a@b.c"})
    assert bad.status_code == 400
    assert client.get(f"/webhooks/{created['id']}").json()["url"] == "http://127.0.0.1:9/hooks"
    assert client.patch("/webhooks/wh_nope", json={"enabled": False}).status_code == 404
    assert client.get("/webhooks/wh_nope/deliveries").status_code == 404
    assert client.post(f"/webhooks/{created['id']}/deliveries/1/redeliver").status_code == 404
    huge = client.post(f"/webhooks/{created['id']}/deliveries/{2**70}/redeliver")
    assert huge.status_code == 400


def test_events_reach_only_subscriptions_of_their_environment(
    app: FastAPI, client: TestClient
) -> None:
    here = subscribe(client, "http://127.0.0.1:9/hooks", ["connection.created"])
    with write_transaction(app.state.databases.main) as conn:
        elsewhere, _ = create_subscription(
            conn,
            app.state.cipher,
            environment="prod",
            url="http://127.0.0.1:9/prod",
            events=["connection.created"],
            now=utcnow(),
        )
    new_connection(app)
    with read_transaction(app.state.databases.main) as conn:
        targets = conn.execute(webhook_deliveries.select()).all()
    assert [t.subscription_id for t in targets] == [here["id"]]
    assert elsewhere.id not in client.get("/webhooks").text
