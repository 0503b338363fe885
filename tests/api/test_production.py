"""Production mode and what an operator reaches on the port: no sandbox routes with
LEDGERBRIDGE_SANDBOXES=false, sandbox admin APIs that want a key when the server listens
beyond loopback, docs that load nothing from another host, `/` sending to the docs."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from asgi_client import TestClient
from ledgerbridge.api.app import create_app
from ledgerbridge.config import Settings
from ledgerbridge.providers.registry import all_platforms


@pytest.fixture
def production(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"sandboxes": False}))
    with TestClient(app) as client:
        yield client
    app.state.databases.dispose()


@pytest.mark.parametrize(
    "path",
    [
        "/sandbox/qbo/_admin/tenants",
        "/sandbox/qbo/.well-known/openid_configuration",
        "/sandbox/conductor/v1/_admin/tenants",
        "/sandbox/intacct/ia/api/v1/_admin/tenants",
    ],
)
def test_with_sandboxes_off_no_sandbox_route_exists(production: TestClient, path: str) -> None:
    assert production.get(path).status_code == 404
    assert production.put(f"{path}/x", json={}).status_code in (404, 405)
    assert production.get("/health").status_code == 200


def test_admin_apis_want_a_key_beyond_loopback(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"host": "0.0.0.0"}))
    try:
        with TestClient(app) as client:
            admin = "/sandbox/qbo/_admin/tenants/4620816365257778"
            refused = client.put(admin, json={"latency_ms": 5})
            assert refused.status_code == 401
            assert (
                client.put(
                    admin, json={}, headers={"Authorization": "Bearer not-a-key"}
                ).status_code
                == 401
            )
            keyed = client.put(
                admin, json={"latency_ms": 5}, headers={"Authorization": "Bearer lb_test_key"}
            )
            assert keyed.status_code == 200, keyed.text
            operator = {"Authorization": "Bearer lb_test_key"}
            reader = client.post("/keys", json={"scope": "read"}, headers=operator).json()["key"]
            read_only = client.put(admin, json={}, headers={"Authorization": f"Bearer {reader}"})
            assert read_only.status_code == 401  # administering takes a full key
    finally:
        app.state.databases.dispose()


def test_admin_apis_stay_open_on_loopback(client: TestClient) -> None:
    response = client.get("/sandbox/qbo/_admin/tenants", headers={"Authorization": ""})
    assert response.status_code == 200


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_load_nothing_from_another_host(app: FastAPI, page: str) -> None:
    with TestClient(app) as client:
        html = client.get(page).text
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets, html
        for asset in assets:
            assert asset.startswith("/"), f"{page} loads {asset}"
            assert client.get(asset).status_code == 200, asset
        assert not re.search(r"https?://", html.replace("http://www.w3.org", "")), html


def test_root_redirects_to_the_dashboard(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui"


def test_every_sandbox_admin_route_wants_a_key_beyond_loopback(settings: Settings) -> None:
    """Each route under a sandbox's `/_admin` (the tenants', the webhook settings, a
    QuickBooks merge, a Desktop delete) refuses a request without a key."""
    app = create_app(settings.model_copy(update={"host": "0.0.0.0"}))
    try:
        with TestClient(app) as client:
            checked = 0
            for platform in all_platforms():
                sandbox = platform.sandbox.create_app(app.state.sandbox)
                for route in sandbox.routes:
                    path = getattr(route, "path", "")
                    if "/_admin" not in path:
                        continue
                    url = platform.sandbox.mount_path + re.sub(r"\{[^}]+\}", "1", path)
                    for method in sorted(getattr(route, "methods", ())):
                        answer = client.request(method, url, json={"into": 2})
                        assert answer.status_code == 401, (method, url, answer.text)
                        checked += 1
            assert checked >= 10
    finally:
        app.state.databases.dispose()
