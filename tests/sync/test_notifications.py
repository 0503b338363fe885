"""QuickBooks Online change notifications end to end, over real loopback HTTP: the sandbox
POSTs signed notifications to the live server's `POST /notifications/qbo`, which queues
incremental runs that the scheduler starts at once; `GET /customers` then shows the change.
Bad signatures and unknown realms trigger nothing, a burst makes one run, and dropped,
repeated and late notifications never make a record wrong."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from conftest import API_KEY, LiveServer
from ledgerbridge.api.app import create_app
from ledgerbridge.config import Settings
from ledgerbridge.connect import connect_sandbox
from ledgerbridge.providers.registry import get_platform
from sync.lossless import CursorConsumer, compare, read_all

TOKEN = "vt_test_verifier_token"
REALM = "9130350000000001"
OTHER_REALM = "9130350000000002"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def settings(database_urls: tuple[str, str], tmp_path: Path) -> Settings:
    """The scheduler runs (notifications only queue runs) and the verifier token is set."""
    main, sandbox = database_urls
    return Settings(
        data_dir=tmp_path,
        database_url=main,
        sandbox_database_url=sandbox,
        api_key=API_KEY,
        scheduler=True,
        qbo_webhook_verifier_token=TOKEN,
        _env_file=None,  # type: ignore[call-arg]
    )


def sign(body: bytes, token: str = TOKEN) -> str:
    return base64.b64encode(hmac.new(token.encode(), body, hashlib.sha256).digest()).decode()


def wait_for(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Notified:
    """A realm connected through the live server, whose sandbox app sends notifications
    to that server."""

    def __init__(self, app: FastAPI, server: LiveServer, http: httpx.Client) -> None:
        sandbox = get_platform("qbo").sandbox
        sandbox.create(app.state.sandbox, REALM)
        issued = sandbox.credentials(app.state.sandbox, REALM)
        self.client_id = issued["client_id"]
        self.token = issued["access_token"]
        self.app, self.server, self.http = app, server, http
        answer = http.patch(
            f"/sandbox/qbo/_admin/tenants/{REALM}",
            json={"requests_per_minute": None, "max_concurrent": None},
        )
        assert answer.status_code == 200, answer.text
        self.connection_id = connect_sandbox(
            app.state.databases,
            app.state.cipher,
            provider="qbo",
            tenant=REALM,
            server_url=server.url,
        ).id
        # The first run, now (the scheduler would start it at its next poll).
        answer = http.post(f"/connections/{self.connection_id}/sync", headers=AUTH)
        assert answer.status_code == 202, answer.text
        wait_for(lambda: self.runs(status="succeeded"), "the first run")

    def webhook(self, **settings: Any) -> dict[str, Any]:
        body = {"endpoint_url": f"{self.server.url}/notifications/qbo", "verifier_token": TOKEN}
        answer = self.http.put(
            f"/sandbox/qbo/_admin/apps/{self.client_id}/webhook", json={**body, **settings}
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def save(self, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.http.post(
            f"/sandbox/qbo/v3/company/{REALM}/customer",
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert answer.status_code == 200, answer.text
        customer: dict[str, Any] = answer.json()["Customer"]
        return customer

    def merge(self, deleted_id: str, into: str) -> None:
        answer = self.http.post(
            f"/sandbox/qbo/_admin/tenants/{REALM}/customers/{deleted_id}/merge",
            json={"into": int(into)},
        )
        assert answer.status_code == 200, answer.text

    def platform(self) -> list[dict[str, Any]]:
        answer = self.http.get(
            f"/sandbox/qbo/v3/company/{REALM}/query",
            params={
                "query": "select * from Customer where Active in (true, false) maxresults 1000"
            },
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()["QueryResponse"].get("Customer", [])
        return found

    def records(self) -> dict[str, dict[str, Any]]:
        return {str(r["id"]): r for r in read_all(self.server.url, self.connection_id)}

    def runs(self, **match: str) -> list[dict[str, Any]]:
        answer = self.http.get(
            f"/connections/{self.connection_id}/syncs", params={"limit": 500}, headers=AUTH
        )
        assert answer.status_code == 200, answer.text
        runs: list[dict[str, Any]] = answer.json()["syncs"]
        return [r for r in runs if all(r[k] == v for k, v in match.items())]

    def idle(self) -> bool:
        return not any(r["status"] in ("queued", "running") for r in self.runs())

    def settle(self, seconds: float = 1.0) -> None:
        """Wait until no run is waiting or running for `seconds` on end (notifications
        still in the sandbox's outbox come within its batch window)."""
        quiet_since = time.monotonic()
        deadline = quiet_since + 30
        while time.monotonic() - quiet_since < seconds:
            assert time.monotonic() < deadline, "runs never settled"
            if not self.idle():
                quiet_since = time.monotonic()
            time.sleep(0.05)


@pytest.fixture
def notified(app: FastAPI, live_server: LiveServer) -> Iterator[Notified]:
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        yield Notified(app, live_server, http)


def customer(name: str) -> dict[str, Any]:
    return {
        "DisplayName": name,
        "BillAddr": {"Line1": "1 Main St", "City": "Oakland", "PostalCode": "94612"},
    }


@pytest.mark.parametrize("payload_format", ["cloudevents", "legacy"])
def test_a_change_made_through_the_api_reaches_get_customers(
    notified: Notified, payload_format: str
) -> None:
    notified.webhook(payload_format=payload_format, batch_window_ms=100)
    made = notified.save(customer("Notified Cafe"))
    record = wait_for(lambda: notified.records().get(made["Id"]), "the new customer")
    assert record["display_name"] == "Notified Cafe"
    updated = notified.save({**made, "DisplayName": "Notified Cafe & Bakery", "sparse": True})
    wait_for(
        lambda: notified.records()[updated["Id"]]["display_name"] == "Notified Cafe & Bakery",
        "the update",
    )
    assert len(notified.runs(trigger="notification")) >= 2  # the second may still be finishing


def test_merge_and_delete_notifications_delete_the_records(notified: Notified) -> None:
    notified.webhook(batch_window_ms=100)
    a, b, c = (notified.save(customer(name)) for name in ("Merged Away", "Survivor", "Gone"))
    wait_for(lambda: {a["Id"], b["Id"], c["Id"]} <= set(notified.records()), "three records")
    notified.merge(a["Id"], into=b["Id"])
    notified.save({"Id": c["Id"], "SyncToken": c["SyncToken"], "sparse": True, "Active": False})

    def deleted() -> bool:
        records = notified.records()
        return all(
            records[i]["_nango_metadata"]["last_action"] == "DELETED" for i in (a["Id"], c["Id"])
        )

    wait_for(deleted, "the merged and the deactivated customers deleted")
    assert notified.records()[b["Id"]]["_nango_metadata"]["last_action"] != "DELETED"


def _post(notified: Notified, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["intuit-signature"] = signature
    return notified.http.post("/notifications/qbo", content=body, headers=headers)


def _legacy(realm: str) -> bytes:
    entity = {
        "name": "Customer",
        "id": "1",
        "operation": "Update",
        "lastUpdated": "2026-01-01T00:00:00.000Z",
    }
    return json.dumps(
        {"eventNotifications": [{"realmId": realm, "dataChangeEvent": {"entities": [entity]}}]}
    ).encode()


def test_a_bad_signature_is_refused_and_triggers_nothing(notified: Notified) -> None:
    before = len(notified.runs())
    bad = [
        None,  # no header at all
        "",  # an empty one
        sign(_legacy(REALM), "another token"),  # signed with another app's token
        sign(_legacy(OTHER_REALM)),  # a valid signature of another body
    ]
    for signature in bad:
        answer = _post(notified, _legacy(REALM), signature)
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["code"] == "bad_signature"
        assert TOKEN not in answer.text
    time.sleep(0.3)
    assert len(notified.runs()) == before


def test_an_unknown_realm_is_taken_and_triggers_nothing(notified: Notified) -> None:
    before = len(notified.runs())
    body = _legacy(OTHER_REALM)
    answer = _post(notified, body, sign(body))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"changes": 1, "accounts": 1, "connections": 0, "runs_requested": 0}
    time.sleep(0.3)
    assert len(notified.runs()) == before


def test_a_body_that_is_not_a_notification_is_a_400(notified: Notified) -> None:
    for body in (b"{}", b"[1]", b'{"eventNotifications": [{"realmId": 5}]}', b"{"):
        answer = _post(notified, body, sign(body))
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["error"]["code"] == "invalid_notification"


def test_without_a_verifier_token_every_notification_is_refused(
    database_urls: tuple[str, str], tmp_path: Path
) -> None:
    main, sandbox = database_urls
    settings = Settings(
        data_dir=tmp_path,
        database_url=main,
        sandbox_database_url=sandbox,
        api_key=API_KEY,
        scheduler=False,
        _env_file=None,  # type: ignore[call-arg]
    )
    app = create_app(settings)
    try:
        from asgi_client import TestClient

        with TestClient(app) as client:
            body = _legacy(REALM)
            answer = client.post(
                "/notifications/qbo", content=body, headers={"intuit-signature": sign(body)}
            )
        assert answer.status_code == 404, answer.text
        assert "LEDGERBRIDGE_QBO_WEBHOOK_VERIFIER_TOKEN" in answer.json()["error"]["message"]
    finally:
        app.state.databases.dispose()


def test_a_burst_of_changes_makes_one_run(notified: Notified) -> None:
    notified.webhook(batch_window_ms=1500)
    # Ten creates in one batch request: a burst well inside the sandbox's window, however
    # loaded the machine is.
    items = [
        {"bId": str(n), "operation": "create", "Customer": customer(f"Burst {n}")}
        for n in range(10)
    ]
    answer = notified.http.post(
        f"/sandbox/qbo/v3/company/{REALM}/batch",
        json={"BatchItemRequest": items},
        headers={"Authorization": f"Bearer {notified.token}"},
    )
    assert answer.status_code == 200, answer.text
    made = {item["Customer"]["Id"] for item in answer.json()["BatchItemResponse"]}
    wait_for(lambda: made <= set(notified.records()), "the burst")
    notified.settle()
    assert len(notified.runs(trigger="notification")) == 1


def test_dropped_repeated_and_late_notifications_never_make_a_record_wrong(
    notified: Notified,
) -> None:
    notified.webhook(
        batch_window_ms=50,
        drop_rate=0.3,
        duplicate_rate=0.5,
        delay_rate=0.5,
        max_delay_ms=800,
        seed=14,
    )
    consumer = CursorConsumer(notified.server.url, notified.connection_id, "qbo")
    made = [notified.save(customer(f"Chaos {n}")) for n in range(10)]
    consumer.follow()
    for n, item in enumerate(made[:5]):
        notified.save({**item, "DisplayName": f"Chaos {n} renamed", "sparse": True})
        consumer.follow()
    consumer.platform_deletes |= {made[6]["Id"], made[8]["Id"]}
    notified.merge(made[6]["Id"], into=made[7]["Id"])
    notified.save({**made[8], "sparse": True, "Active": False})
    notified.settle(1.0)
    consumer.follow()
    assert notified.runs(trigger="notification", status="succeeded")
    # A stale record is what a lost notification costs until the next scheduled run
    # (asked for here); a wrong one would be corruption.
    answer = notified.http.post(f"/connections/{notified.connection_id}/sync", headers=AUTH)
    assert answer.status_code == 202, answer.text
    notified.settle()
    consumer.follow()
    consumer.assert_clean()
    compare(
        "qbo", notified.platform(), read_all(notified.server.url, notified.connection_id)
    ).assert_equal()
