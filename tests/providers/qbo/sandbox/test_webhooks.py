"""The sandbox's change notifications as a receiver on a real loopback port sees them:
Intuit's two payload shapes, the `intuit-signature`, batching, retries of a failed delivery,
and only companies connected to the app."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from asgi_client import TestClient
from conftest import LiveServer
from ledgerbridge.providers.qbo.sandbox import notifications
from ledgerbridge.providers.registry import get_platform
from providers.qbo.qbo_helpers import Realm

TOKEN = "verifier-token-of-the-app"


class Receiver:
    """An app's webhook endpoint: keeps what it is sent, answers the statuses queued."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        self._lock = threading.Lock()
        self.app = FastAPI()

        @self.app.post("/hook")
        async def hook(request: Request) -> Response:
            body = await request.body()
            with self._lock:
                self.received.append((dict(request.headers), body))
                status = self.statuses.pop(0) if self.statuses else 200
            return Response(status_code=status)

    def bodies(self) -> list[Any]:
        with self._lock:
            return [json.loads(body) for _, body in self.received]

    def wait(self, count: int, timeout: float = 10) -> list[Any]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"got {len(self.received)} posts, not {count}"
            time.sleep(0.02)
        return self.bodies()


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, LiveServer]]:
    found = Receiver()
    server = LiveServer(found.app).start()
    yield found, server
    server.stop()


def _subscribe(realm: Realm, url: str, **knobs: Any) -> dict[str, Any]:
    body = {"endpoint_url": url, "verifier_token": TOKEN, "batch_window_ms": 100, **knobs}
    client_id = realm.credentials["client_id"]
    answer = realm.http.put(f"/sandbox/qbo/_admin/apps/{client_id}/webhook", json=body)
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["webhook"])


def _update(realm: Realm, **body: Any) -> None:
    answer = realm.post_customer(body)
    assert answer.status_code == 200, answer.text


def _changes(realm: Realm) -> dict[str, str]:
    """A create, an update, a merge and a deactivation; the ids by role."""
    kept = realm.create(DisplayName="Kept Ltd")
    merged = realm.create(DisplayName="Merged Ltd")
    gone = realm.create(DisplayName="Gone Ltd")
    _update(realm, Id=kept["Id"], SyncToken=kept["SyncToken"], sparse=True, Notes="updated")
    answer = realm.http.post(
        f"/sandbox/qbo/_admin/tenants/{realm.realm_id}/customers/{merged['Id']}/merge",
        json={"into": int(kept["Id"])},
    )
    assert answer.status_code == 200, answer.text
    _update(realm, Id=gone["Id"], SyncToken=gone["SyncToken"], sparse=True, Active=False)
    return {"kept": kept["Id"], "merged": merged["Id"], "gone": gone["Id"]}


def _signed(headers: dict[str, str], body: bytes) -> bool:
    expected = base64.b64encode(hmac.new(TOKEN.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected.decode(), headers["intuit-signature"])


def test_cloudevents_as_intuit_sends_them(
    realm: Realm, client: TestClient, receiver: tuple[Receiver, LiveServer]
) -> None:
    hook, server = receiver
    _subscribe(realm, f"{server.url}/hook")
    ids = _changes(realm)
    events = [event for body in hook.wait(1) for event in body]
    deadline = time.monotonic() + 10
    while len(events) < 6:  # three creates, an update, a merge, a delete
        assert time.monotonic() < deadline, events
        time.sleep(0.05)
        events = [event for body in hook.bodies() for event in body]
    for headers, body in hook.received:
        assert _signed(headers, body)
        assert headers["content-type"] == "application/json"
    seen = {(e["type"], e["intuitentityid"]) for e in events}
    assert ("qbo.customer.created.v1", ids["gone"]) in seen
    assert ("qbo.customer.updated.v1", ids["kept"]) in seen
    assert ("qbo.customer.deleted.v1", ids["gone"]) in seen
    merge = next(e for e in events if e["type"] == "qbo.customer.merged.v1")
    assert merge["intuitentityid"] == ids["kept"]
    assert merge["data"] == {"deletedid": ids["merged"]}
    assert set(merge) == {
        "specversion",
        "id",
        "source",
        "type",
        "datacontenttype",
        "time",
        "intuitentityid",
        "intuitaccountid",
        "data",
    }
    assert merge["specversion"] == "1.0"
    assert merge["intuitaccountid"] == realm.realm_id
    assert merge["source"].startswith("intuit.")
    assert merge["time"].endswith("Z")
    assert len({e["id"] for e in events}) == len(events)


def test_the_legacy_shape_groups_by_realm_and_names_the_merged_id(
    realm: Realm, client: TestClient, receiver: tuple[Receiver, LiveServer]
) -> None:
    hook, server = receiver
    _subscribe(realm, f"{server.url}/hook", payload_format="legacy", batch_window_ms=5000)
    ids = _changes(realm)
    [body] = hook.wait(1)  # the whole burst in one notification
    [notification] = body["eventNotifications"]
    assert notification["realmId"] == realm.realm_id
    entities = notification["dataChangeEvent"]["entities"]
    assert [e["operation"] for e in entities] == [
        "Create",
        "Create",
        "Create",
        "Update",
        "Merge",
        "Delete",
    ]
    merge = entities[4]
    assert (merge["name"], merge["id"], merge["deletedId"]) == (
        "Customer",
        ids["kept"],
        ids["merged"],
    )
    assert all(set(e) <= {"name", "id", "operation", "lastUpdated", "deletedId"} for e in entities)


def test_a_failed_delivery_is_retried_then_given_up(
    realm: Realm, client: TestClient, receiver: tuple[Receiver, LiveServer]
) -> None:
    hook, server = receiver
    _subscribe(realm, f"{server.url}/hook", retry_delays_s=[0.2], max_attempts=3)
    hook.statuses = [500]
    realm.create(DisplayName="Retried Ltd")
    first, second = hook.wait(2)
    assert first == second  # the same events again, after the failure
    given_up = notifications.STATS.given_up
    hook.statuses = [500, 503, 500]
    realm.create(DisplayName="Never Taken Ltd")
    hook.wait(5)
    time.sleep(0.5)
    assert len(hook.received) == 5  # three attempts, then no more
    assert notifications.STATS.given_up == given_up + 1


def test_only_companies_connected_to_the_app_are_announced(
    realm: Realm, app: FastAPI, client: TestClient, receiver: tuple[Receiver, LiveServer]
) -> None:
    hook, server = receiver
    _subscribe(realm, f"{server.url}/hook", batch_window_ms=0)
    sandbox = get_platform("qbo").sandbox
    sandbox.seed(app.state.sandbox, "9130359999999999", 3, 7)  # no grant for this company
    sandbox.seed(app.state.sandbox, realm.realm_id, 2, 7)  # seeding announces creates
    [body] = hook.wait(1)
    assert {e["intuitaccountid"] for e in body} == {realm.realm_id}
    assert [e["type"] for e in body] == ["qbo.customer.created.v1"] * 2


def test_webhook_settings_are_checked(realm: Realm, client: TestClient) -> None:
    client_id = realm.credentials["client_id"]
    url = f"/sandbox/qbo/_admin/apps/{client_id}/webhook"
    assert realm.http.get(url).status_code == 404
    good = {"endpoint_url": "http://127.0.0.1:9/hook", "verifier_token": TOKEN}
    for bad in (
        {**good, "endpoint_url": "ftp://example.com"},
        {**good, "verifier_token": ""},
        {**good, "payload_format": "xml"},
        {**good, "drop_rate": 2},
        {**good, "surprise": 1},
    ):
        answer = realm.http.put(url, json=bad)
        assert answer.status_code == 422, (bad, answer.text)
    unknown = realm.http.put("/sandbox/qbo/_admin/apps/client_nobody/webhook", json=good)
    assert unknown.status_code == 404
    assert realm.http.put(url, json=good).json()["webhook"]["payload_format"] == "cloudevents"
    assert realm.http.put(url, json={"drop_rate": 0.5}).json()["webhook"]["drop_rate"] == 0.5
    assert realm.http.delete(url).status_code == 204
    assert realm.http.get(url).status_code == 404
