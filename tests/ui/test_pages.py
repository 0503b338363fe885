"""The dashboard over the in-process client: nothing without a session, sign-in and out,
CSRF refusals, and bad input answered with a clear page, never a 500."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, unquote_plus, urlsplit

import pytest
from fastapi import FastAPI

from asgi_client import TestClient
from ledgerbridge.api.app import create_app
from ledgerbridge.config import Settings
from ledgerbridge.connections import get_connection
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.environments import create_environment, list_environments
from ledgerbridge.keys import create_api_key, list_api_keys
from ledgerbridge.providers.registry import get_platform
from ledgerbridge.sandbox.tenants import get_tenant
from ledgerbridge.sync.runs import list_runs
from ledgerbridge.unified.records import IncomingRecord, save_records
from ledgerbridge.webhooks.subscriptions import list_subscriptions

KEY = "lb_test_key"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def browser(app: FastAPI) -> Iterator[TestClient]:
    """A client with no API key header: it has only what the dashboard's cookies give."""
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def sign_in(browser: TestClient, key: str = KEY) -> str:
    """Signs in; returns the session's CSRF token."""
    form = browser.get("/ui/sign-in")
    response = browser.post("/ui/sign-in", data={"csrf": csrf_of(form.text), "api_key": key})
    assert response.status_code == 303, response.text
    return csrf_of(browser.get("/ui").text)


@pytest.fixture
def conn_id(client: TestClient, app: FastAPI) -> str:
    response = client.post(
        "/connections",
        json={
            "provider": "qbo",
            "credentials": {
                "realm_id": "1",
                "client_id": "c",
                "client_secret": "s",
                "refresh_token": "rt",
            },
        },
    )
    assert response.status_code == 201, response.text
    connection_id = str(response.json()["id"])
    batch = [
        IncomingRecord(str(i), {"id": str(i), "display_name": f"Customer {i}"}, {"Id": str(i)})
        for i in range(3)
    ]
    with write_transaction(app.state.databases.main) as conn:
        save_records(conn, connection_id=connection_id, model="Customer", batch=batch, now=utcnow())
    return connection_id


PAGES = [
    "/ui",
    "/ui/sandboxes",
    "/ui/keys",
    "/ui/webhooks",
    "/ui/webhooks/wh_1",
    "/ui/connections/{id}",
    "/ui/connections/{id}/customers",
    "/ui/connections/{id}/customers/1",
]
POSTS = [
    "/ui/sign-out",
    "/ui/environment",
    "/ui/keys",
    "/ui/keys/1/revoke",
    "/ui/webhooks",
    "/ui/webhooks/wh_1/enabled",
    "/ui/webhooks/wh_1/delete",
    "/ui/webhooks/wh_1/deliveries/1/redeliver",
    "/ui/connections/{id}/pause",
    "/ui/connections/{id}/frequency",
    "/ui/connections/{id}/reauthorize",
    "/ui/connections/{id}/sync",
    "/ui/connections/{id}/delete",
    "/ui/sandboxes/seed",
    "/ui/sandboxes/qbo/1/knobs",
    "/ui/sandboxes/qbo/1/reset",
]


def test_nothing_is_reachable_without_a_session(browser: TestClient, conn_id: str) -> None:
    assert browser.get("/").headers["location"] == "/ui"
    for path in PAGES:
        response = browser.get(path.format(id=conn_id))
        assert (response.status_code, response.headers["location"]) == (303, "/ui/sign-in"), path
    for path in POSTS:
        assert browser.post(path.format(id=conn_id)).status_code == 401, path
    # The live stream and the script are not pages: a 401, not a redirect.
    assert browser.get(f"/ui/connections/{conn_id}/live").status_code == 401
    assert browser.get("/ui/static/live.js").status_code == 401
    # The sign-in page and its style sheet are open.
    assert browser.get("/ui/sign-in").status_code == 200
    assert browser.get("/ui/static/app.css").status_code == 200


def test_sign_in_refuses_a_bad_key_and_keeps_a_good_one_in_a_cookie(browser: TestClient) -> None:
    form = browser.get("/ui/sign-in")
    assert 'type="password"' in form.text
    refused = browser.post("/ui/sign-in", data={"csrf": csrf_of(form.text), "api_key": "lb_wrong"})
    assert refused.status_code == 401
    assert "not valid" in refused.text
    assert "lb_session" not in refused.headers.get("set-cookie", "")
    form = browser.get("/ui/sign-in")
    response = browser.post("/ui/sign-in", data={"csrf": csrf_of(form.text), "api_key": KEY})
    assert response.status_code == 303
    cookie = next(c for c in response.headers.get_list("set-cookie") if "lb_session=" in c)
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http on loopback: a Secure cookie would not return
    assert KEY not in cookie  # encrypted
    assert browser.get("/ui").status_code == 200
    csrf = csrf_of(browser.get("/ui").text)
    out = browser.post("/ui/sign-out", data={"csrf": csrf})
    assert out.status_code == 303
    browser.cookies.clear()
    assert browser.get("/ui").status_code == 303


def test_a_sign_in_without_its_form_token_is_refused(browser: TestClient) -> None:
    response = browser.post("/ui/sign-in", data={"api_key": KEY})
    assert response.status_code == 403
    assert browser.get("/ui").status_code == 303


def test_session_cookie_is_secure_behind_https(settings: Settings, browser: TestClient) -> None:
    browser.app.state.settings = settings.model_copy(update={"public_url": "https://lb.example"})
    form = browser.get("/ui/sign-in")
    response = browser.post("/ui/sign-in", data={"csrf": csrf_of(form.text), "api_key": KEY})
    cookie = next(c for c in response.headers.get_list("set-cookie") if "lb_session=" in c)
    assert "Secure" in cookie


def test_forms_without_the_csrf_token_change_nothing(
    app: FastAPI, browser: TestClient, conn_id: str
) -> None:
    sign_in(browser)
    for data in ({}, {"csrf": "forged"}):
        response = browser.post(f"/ui/connections/{conn_id}/sync", data=data)
        assert response.status_code == 403
        assert "security token" in response.text
    with read_transaction(app.state.databases.main) as conn:
        assert list_runs(conn, conn_id, limit=5) == []


def test_sync_now_queues_a_run_and_delete_needs_the_id_typed(
    app: FastAPI, browser: TestClient, conn_id: str
) -> None:
    csrf = sign_in(browser)
    response = browser.post(f"/ui/connections/{conn_id}/sync", data={"csrf": csrf, "full": "true"})
    assert response.status_code == 303
    with read_transaction(app.state.databases.main) as conn:
        (run,) = list_runs(conn, conn_id, limit=5)
    assert (run.kind, run.status) == ("full", "queued")
    page = browser.get(response.headers["location"])
    assert "queued" in page.text
    assert f'data-live="/ui/connections/{conn_id}/live"' in page.text
    refused = browser.post(f"/ui/connections/{conn_id}/delete", data={"csrf": csrf, "confirm": "x"})
    assert refused.status_code == 400
    assert browser.get(f"/ui/connections/{conn_id}").status_code == 200
    deleted = browser.post(
        f"/ui/connections/{conn_id}/delete", data={"csrf": csrf, "confirm": conn_id}
    )
    assert deleted.status_code == 303
    assert browser.get(f"/ui/connections/{conn_id}").status_code == 404


# Each bad input, with a word of the message the page must show.
BAD_PAGES = [
    ("/ui?provider=nope", 400, "Unknown provider"),
    ("/ui?status=sleeping", 400, "Unknown status"),
    ("/ui/connections/conn_missing", 404, "does not exist"),
    ("/ui/connections/{id}/customers?modified_after=yesterday", 400, "modified_after"),
    ("/ui/connections/{id}/customers?cursor=%%%", 400, "cursor"),
    ("/ui/connections/{id}/customers?limit=0", 400, "limit"),
    ("/ui/connections/{id}/customers?filter=created", 400, "unknown filter"),
    ("/ui/connections/{id}/customers/nobody", 404, "No customer"),
    ("/ui/static/session.py", 404, "No such file"),
]


@pytest.mark.parametrize(("path", "status", "words"), BAD_PAGES)
def test_bad_input_gets_a_clear_page(
    browser: TestClient, conn_id: str, path: str, status: int, words: str
) -> None:
    sign_in(browser)
    response = browser.get(path.format(id=conn_id))
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert words in response.text


def test_records_browser_filters_and_shows_one_record_side_by_side(
    browser: TestClient, conn_id: str
) -> None:
    sign_in(browser)
    listing = browser.get(f"/ui/connections/{conn_id}/customers", params={"limit": 2})
    assert "Customer 0" in listing.text
    assert "Customer 2" not in listing.text
    assert 'rel="next"' in listing.text
    only = browser.get(f"/ui/connections/{conn_id}/customers", params={"ids": "2"})
    assert "Customer 2" in only.text
    assert "Customer 0" not in only.text
    named = browser.get(f"/ui/connections/{conn_id}/customers", params={"name": "customer 1"})
    assert "Customer 1" in named.text
    assert "Customer 2" not in named.text
    record = browser.get(f"/ui/connections/{conn_id}/customers/1")
    assert "last_modified_at" in record.text
    assert "&#34;Id&#34;: &#34;1&#34;" in record.text


def test_sandbox_knobs_seed_and_reset(app: FastAPI, browser: TestClient) -> None:
    csrf = sign_in(browser)
    seeded = browser.post(
        "/ui/sandboxes/seed",
        data={"csrf": csrf, "provider": "qbd", "tenant_id": "end_usr_ui", "customers": "5"},
    )
    assert seeded.status_code == 303
    page = browser.get("/ui/sandboxes")
    assert "end_usr_ui" in page.text
    assert '<strong class="count">5</strong>' in page.text
    knobs = {"csrf": csrf, "error_rate": "0.5", "error_statuses": "400", "max_concurrent": ""}
    assert browser.post("/ui/sandboxes/qbd/end_usr_ui/knobs", data=knobs).status_code == 303
    with read_transaction(app.state.sandbox.engine) as conn:
        settings = get_tenant(conn, "qbd", "end_usr_ui")
    assert settings is not None
    assert (settings.error_rate, settings.error_statuses, settings.max_concurrent) == (
        0.5,
        [400],
        None,
    )
    bad = browser.post("/ui/sandboxes/qbd/end_usr_ui/knobs", data={"csrf": csrf, "error_rate": "2"})
    assert bad.status_code == 422
    assert "error_rate" in bad.text
    bad_seed = browser.post(
        "/ui/sandboxes/seed",
        data={"csrf": csrf, "provider": "qbd", "tenant_id": "x", "customers": "lots"},
    )
    assert bad_seed.status_code == 400
    assert "customers" in bad_seed.text
    reset = browser.post(
        "/ui/sandboxes/qbd/end_usr_ui/reset", data={"csrf": csrf, "confirm": "yes"}
    )
    assert reset.status_code == 303
    assert get_platform("qbd").sandbox.customer_count(app.state.sandbox, "end_usr_ui") == 0


def test_without_sandboxes_their_page_is_gone(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"sandboxes": False}))
    try:
        with TestClient(app, follow_redirects=False) as browser:
            sign_in(browser)
            assert "/ui/sandboxes" not in browser.get("/ui").text
            response = browser.get("/ui/sandboxes")
            assert response.status_code == 404
            assert "sandboxes are off" in response.text
    finally:
        app.state.databases.dispose()


def make_key(app: FastAPI, environment: str, scope: str = "full") -> str:
    """A key of `environment` (made if missing)."""
    with write_transaction(app.state.databases.main) as conn:
        if environment not in {env.name for env in list_environments(conn)}:
            create_environment(conn, environment, now=utcnow())
        _, secret = create_api_key(
            conn, name=f"{scope} key", now=utcnow(), environment=environment, scope=scope
        )
    return secret


def test_a_key_sees_only_its_environment(app: FastAPI, browser: TestClient, conn_id: str) -> None:
    make_key(app, "dev", "read")
    csrf = sign_in(browser, make_key(app, "staging"))
    listing = browser.get("/ui")
    assert "Connections of staging" in listing.text
    assert conn_id not in listing.text
    # Another environment's connection is a 404 on every page and form, like a missing one.
    for path in [p for p in PAGES if "{id}" in p] + ["/ui/connections/{id}/live"]:
        response = browser.get(path.format(id=conn_id))
        assert response.status_code == 404, path
        assert "does not exist" in response.text, path
    for action, data in (
        ("sync", {}),
        ("pause", {"paused": "true"}),
        ("delete", {"confirm": conn_id}),
    ):
        refused = browser.post(f"/ui/connections/{conn_id}/{action}", data={"csrf": csrf, **data})
        assert refused.status_code == 404, action
    keys = browser.get("/ui/keys").text
    assert "full key" in keys
    assert "read key" not in keys  # dev's
    assert "environment-choice" not in listing.text  # only the operator key chooses
    assert (
        browser.post("/ui/environment", data={"csrf": csrf, "environment": "dev"}).status_code
        == 403
    )
    with read_transaction(app.state.databases.main) as conn:
        assert list_runs(conn, conn_id, limit=5) == []
        assert get_connection(conn, conn_id).status == "active"


def test_the_operator_key_chooses_its_environment(
    app: FastAPI, browser: TestClient, conn_id: str
) -> None:
    make_key(app, "staging")
    csrf = sign_in(browser)
    assert conn_id in browser.get("/ui").text  # dev by default
    switched = browser.post("/ui/environment", data={"csrf": csrf, "environment": "staging"})
    assert switched.status_code == 303
    listing = browser.get("/ui")
    assert "Connections of staging" in listing.text
    assert conn_id not in listing.text
    assert browser.get(f"/ui/connections/{conn_id}").status_code == 404
    unknown = browser.post(
        "/ui/environment", data={"csrf": csrf_of(listing.text), "environment": "nowhere"}
    )
    assert unknown.status_code == 404
    assert "no environment" in unknown.text


def test_a_read_key_cannot_sign_in(app: FastAPI, browser: TestClient) -> None:
    form = browser.get("/ui/sign-in")
    response = browser.post(
        "/ui/sign-in", data={"csrf": csrf_of(form.text), "api_key": make_key(app, "dev", "read")}
    )
    assert response.status_code == 403
    assert "read-only" in response.text
    assert "lb_session" not in response.headers.get("set-cookie", "")


def test_pause_resume_and_frequency_go_through_the_patch_service(
    app: FastAPI, browser: TestClient, client: TestClient, conn_id: str
) -> None:
    csrf = sign_in(browser)
    paused = browser.post(f"/ui/connections/{conn_id}/pause", data={"csrf": csrf, "paused": "true"})
    assert paused.status_code == 303
    page = browser.get(paused.headers["location"])
    assert '<span class="badge paused" id="connection-status">paused</span>' in page.text
    assert '<dd id="next-run">none</dd>' in page.text
    assert 'class="card hidden"' in page.text  # pausing is no error
    assert client.get(f"/connections/{conn_id}").json()["status"] == "paused"
    refused = browser.post(f"/ui/connections/{conn_id}/sync", data={"csrf": csrf})
    assert refused.status_code == 409
    assert "paused" in refused.text
    resumed = browser.post(
        f"/ui/connections/{conn_id}/pause", data={"csrf": csrf, "paused": "false"}
    )
    assert resumed.status_code == 303
    assert client.get(f"/connections/{conn_id}").json()["status"] == "active"
    changed = browser.post(
        f"/ui/connections/{conn_id}/frequency", data={"csrf": csrf, "sync_frequency": "15m"}
    )
    assert changed.status_code == 303
    assert client.get(f"/connections/{conn_id}").json()["sync_frequency"] == 900
    for bad in ("5s", "often", ""):
        refused = browser.post(
            f"/ui/connections/{conn_id}/frequency", data={"csrf": csrf, "sync_frequency": bad}
        )
        assert refused.status_code == 400, bad
        assert "Sync frequency" in refused.text
    assert client.get(f"/connections/{conn_id}").json()["sync_frequency"] == 900


def test_end_user_and_tags_show_and_filter(browser: TestClient, client: TestClient) -> None:
    credentials = {"realm_id": "9", "client_id": "c", "client_secret": "s", "refresh_token": "r"}
    ids = {}
    for end_user in ("acme-42", "globex-7"):
        response = client.post(
            "/connections",
            json={
                "provider": "qbo",
                "credentials": credentials,
                "end_user_id": end_user,
                "metadata": {"region": "eu"},
            },
        )
        ids[end_user] = response.json()["id"]
    sign_in(browser)
    listing = browser.get("/ui")
    assert "acme-42" in listing.text
    assert "region=eu" in listing.text
    only = browser.get("/ui", params={"end_user_id": "globex-7"})
    assert ids["globex-7"] in only.text
    assert ids["acme-42"] not in only.text
    page = browser.get(f"/ui/connections/{ids['acme-42']}")
    assert '<dd id="end-user">acme-42</dd>' in page.text
    assert "region=eu" in page.text


def test_reauthorise_starts_the_oauth_flow_for_this_connection(
    app: FastAPI, browser: TestClient, conn_id: str
) -> None:
    csrf = sign_in(browser)
    response = browser.post(f"/ui/connections/{conn_id}/reauthorize", data={"csrf": csrf})
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.path.startswith("/sandbox/qbo/")
    state = parse_qs(location.query)["state"][0]
    flow = app.state.cipher.decrypt(state)
    assert flow["connection_id"] == conn_id
    assert flow["environment"] == "dev"
    assert flow["redirect_uri"].endswith(f"/ui/connections/{conn_id}/reauthorized")
    # The way back: the platform's refusal is shown, a grant is said.
    denied = browser.get(
        f"/ui/connections/{conn_id}/reauthorized",
        params={"error": "access_denied", "error_description": "the user said no"},
    )
    assert denied.status_code == 409
    assert "the user said no" in denied.text
    back = browser.get(f"/ui/connections/{conn_id}/reauthorized", params={"connection_id": conn_id})
    assert back.status_code == 303
    assert "Re-authorised" in unquote_plus(back.headers["location"])


def test_keys_page_lists_creates_once_and_revokes(app: FastAPI, browser: TestClient) -> None:
    csrf = sign_in(browser)
    created = browser.post("/ui/keys", data={"csrf": csrf, "name": "reporting", "scope": "read"})
    assert created.status_code == 201
    secret = re.search(r'id="secret" value="(lb_[^"]+)"', created.text)
    assert secret is not None
    with read_transaction(app.state.databases.main) as conn:
        (key,) = [k for k in list_api_keys(conn, environment="dev") if k.name == "reporting"]
    assert key.scope == "read"
    assert secret.group(1).startswith(key.prefix)
    listing = browser.get("/ui/keys")
    assert "reporting" in listing.text
    assert key.prefix in listing.text
    assert secret.group(1) not in listing.text  # shown once
    bad = browser.post("/ui/keys", data={"csrf": csrf, "name": "x", "scope": "operator"})
    assert bad.status_code == 400
    unconfirmed = browser.post(f"/ui/keys/{key.id}/revoke", data={"csrf": csrf})
    assert unconfirmed.status_code == 400
    revoked = browser.post(f"/ui/keys/{key.id}/revoke", data={"csrf": csrf, "confirm": "yes"})
    assert revoked.status_code == 303
    assert key.prefix not in browser.get("/ui/keys").text
    missing = browser.post(f"/ui/keys/{key.id}/revoke", data={"csrf": csrf, "confirm": "yes"})
    assert missing.status_code == 404
    assert browser.post("/ui/keys/abc/revoke", data={"csrf": csrf}).status_code == 400


def test_revoking_the_sessions_own_key_ends_the_session(app: FastAPI, browser: TestClient) -> None:
    own = make_key(app, "dev")
    csrf = sign_in(browser, own)
    with read_transaction(app.state.databases.main) as conn:
        (key,) = [k for k in list_api_keys(conn, environment="dev") if own.startswith(k.prefix)]
    assert "this session's key" in browser.get("/ui/keys").text
    revoked = browser.post(f"/ui/keys/{key.id}/revoke", data={"csrf": csrf, "confirm": "yes"})
    assert revoked.headers["location"] == "/ui/sign-in"
    assert browser.get("/ui").status_code == 303


def test_webhooks_page_subscribes_shows_deliveries_and_redelivers(
    app: FastAPI, browser: TestClient, client: TestClient
) -> None:
    csrf = sign_in(browser)
    form = {
        "csrf": csrf,
        "url": "http://127.0.0.1:9/hooks",
        "events": ["connection.created", "sync.failed"],  # two boxes ticked
        "description": "ops",
    }
    created = browser.post("/ui/webhooks", data=form)
    assert created.status_code == 201, created.text
    secret = re.search(r'id="secret" value="([^"]+)"', created.text)
    assert secret is not None
    with read_transaction(app.state.databases.main) as conn:
        (subscription,) = list_subscriptions(conn, environment="dev")
    assert subscription.events == ["connection.created", "sync.failed"]
    listing = browser.get("/ui/webhooks")
    assert "http://127.0.0.1:9/hooks" in listing.text
    assert secret.group(1) not in listing.text  # shown once
    for bad, words in (
        ({"url": "ftp://x", "events": "sync.failed"}, "http"),
        ({"url": "http://x.example", "events": "sync.exploded"}, "unknown events"),
        ({"url": "http://x.example"}, "at least one event"),
    ):
        refused = browser.post("/ui/webhooks", data={"csrf": csrf, **bad})
        assert refused.status_code == 400
        assert words in refused.text
    # A connection made through the API writes an event: one delivery to this subscription.
    credentials = {"realm_id": "5", "client_id": "c", "client_secret": "s", "refresh_token": "r"}
    client.post("/connections", json={"provider": "qbo", "credentials": credentials})
    page = browser.get(f"/ui/webhooks/{subscription.id}")
    assert "connection.created" in page.text
    (delivery_id,) = re.findall(r'data-delivery="(\d+)"', page.text)
    again = browser.post(
        f"/ui/webhooks/{subscription.id}/deliveries/{delivery_id}/redeliver", data={"csrf": csrf}
    )
    assert again.status_code == 303
    assert (
        len(re.findall(r'data-delivery="(\d+)"', browser.get(again.headers["location"]).text)) == 2
    )
    disabled = browser.post(
        f"/ui/webhooks/{subscription.id}/enabled", data={"csrf": csrf, "enabled": "false"}
    )
    assert 'id="webhook-state">disabled' in browser.get(disabled.headers["location"]).text
    # Another environment sees none of it.
    with TestClient(app, follow_redirects=False) as other:
        sign_in(other, make_key(app, "staging"))
        assert subscription.id not in other.get("/ui/webhooks").text
        assert other.get(f"/ui/webhooks/{subscription.id}").status_code == 404
    deleted = browser.post(
        f"/ui/webhooks/{subscription.id}/delete", data={"csrf": csrf, "confirm": "yes"}
    )
    assert deleted.status_code == 303
    assert browser.get(f"/ui/webhooks/{subscription.id}").status_code == 404
