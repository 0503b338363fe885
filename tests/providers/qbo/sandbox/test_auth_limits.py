"""OAuth like Intuit's (authorize, code and refresh grants, rotation), the 401 body, and
limits and injected faults per realm."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import httpx
from fastapi import FastAPI

from ledgerbridge.providers.registry import get_platform
from providers.qbo.qbo_helpers import Realm


def _basic(realm: Realm) -> tuple[str, str]:
    return realm.credentials["client_id"], realm.credentials["client_secret"]


def test_discovery_document_uses_the_request_host(realm: Realm) -> None:
    doc = realm.http.get("/sandbox/qbo/.well-known/openid_configuration").json()
    assert doc["token_endpoint"] == "http://testserver/sandbox/qbo/oauth2/v1/tokens/bearer"
    for key in (
        "issuer",
        "jwks_uri",
        "userinfo_endpoint",
        "revocation_endpoint",
        "authorization_endpoint",
    ):
        assert doc[key].startswith("http://testserver/sandbox/qbo")


def test_authorization_code_flow_and_rotation(app: FastAPI, realm: Realm) -> None:
    get_platform("qbo").sandbox.create(app.state.sandbox, "123456789012")
    page = realm.http.get(
        "/sandbox/qbo/oauth2/v1/authorize",
        params={
            "client_id": realm.credentials["client_id"],
            "redirect_uri": "http://app/cb",
            "state": "xyz",
            "scope": "com.intuit.quickbooks.accounting",
            "response_type": "code",
        },
    )
    assert page.status_code == 200
    assert "<form" in page.text
    approved = realm.http.post(
        "/sandbox/qbo/oauth2/v1/authorize",
        data={
            "client_id": realm.credentials["client_id"],
            "redirect_uri": "http://app/cb",
            "state": "xyz",
            "realmId": "123456789012",
        },
        follow_redirects=False,
    )
    assert approved.status_code == 302
    query = parse_qs(urlparse(approved.headers["location"]).query)
    assert query["state"] == ["xyz"]
    assert query["realmId"] == ["123456789012"]
    # Every refresh rotates, the old token dying at once (Intuit's default: test_rotation).
    single_use = {"refresh_token_single_use": True}
    realm.http.patch("/sandbox/qbo/_admin/tenants/123456789012", json=single_use)
    tokens = realm.http.post(
        "/sandbox/qbo/oauth2/v1/tokens/bearer",
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": "http://app/cb",
        },
        auth=_basic(realm),
    ).json()
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 3600
    company = realm.http.get(
        "/sandbox/qbo/v3/company/123456789012/companyinfo/123456789012",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert company.status_code == 200

    refreshed = realm.http.post(
        "/sandbox/qbo/oauth2/v1/tokens/bearer",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=_basic(realm),
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["refresh_token"] != tokens["refresh_token"]
    again = realm.http.post(
        "/sandbox/qbo/oauth2/v1/tokens/bearer",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=_basic(realm),
    )
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_token_endpoint_needs_client_auth(realm: Realm) -> None:
    response = realm.http.post(
        "/sandbox/qbo/oauth2/v1/tokens/bearer",
        data={"grant_type": "refresh_token", "refresh_token": realm.credentials["refresh_token"]},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    wrong = realm.http.post(
        "/sandbox/qbo/oauth2/v1/tokens/bearer",
        data={"grant_type": "refresh_token", "refresh_token": realm.credentials["refresh_token"]},
        auth=(realm.credentials["client_id"], "wrong"),
    )
    assert wrong.status_code == 401


def _auth_fault(response: httpx.Response) -> str:
    assert response.status_code == 401
    code: str = response.json()["fault"]["error"][0]["code"]
    return code


def test_missing_expired_and_foreign_tokens_get_the_auth_faults(app: FastAPI, realm: Realm) -> None:
    url = f"{realm.base}/customer/1"
    assert _auth_fault(realm.http.get(url)) == "3200"
    assert _auth_fault(realm.http.get(url, headers={"Authorization": "Bearer nope"})) == "3200"
    # A realm the token is not for (unknown or another company): 403 AuthorizationFailed.
    foreign = realm.http.get("/sandbox/qbo/v3/company/555/customer/1", headers=realm.headers())
    assert foreign.status_code == 403
    assert foreign.json()["fault"]["error"][0]["code"] == "3100"
    context = app.state.sandbox
    original = context.clock
    context.clock = lambda: original() + timedelta(seconds=3601)
    try:
        expired = realm.http.get(url, headers=realm.headers())
    finally:
        context.clock = original
    assert "expired" in expired.json()["fault"]["error"][0]["detail"]


def test_rate_limit_answers_429_with_retry_after(realm: Realm) -> None:
    realm.configure(requests_per_minute=3)
    statuses = [realm.get("customer/1").status_code for _ in range(4)]
    assert statuses[:3] == [400, 400, 400]
    throttled = realm.get("customer/1")
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) >= 1
    assert throttled.json()["Fault"]["type"] == "SERVICE"
    assert throttled.json()["Fault"]["Error"][0]["code"] == "3001"


def test_throttle_as_xml(realm: Realm) -> None:
    realm.configure(requests_per_minute=1, throttle_as_xml=True)
    realm.get("customer/1")
    throttled = realm.get("customer/1")
    assert throttled.status_code == 429
    assert throttled.headers["content-type"].startswith("application/xml")
    assert "ThrottleExceeded" in throttled.text


def test_injected_faults(realm: Realm) -> None:
    realm.configure(error_rate=1.0, error_statuses=[503])
    response = realm.get("customer/1")
    assert response.status_code == 503
    assert response.json()["Fault"]["type"] == "SystemFault"


def test_concurrency_limit(app: FastAPI, realm: Realm) -> None:
    get_platform("qbo").sandbox.seed(app.state.sandbox, realm.realm_id, 400, 1)
    realm.configure(max_concurrent=1)

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            # Each query sleeps in the database thread pool, so requests overlap.
            calls = [
                http.get(
                    f"{realm.base}/query",
                    params={"query": "SELECT * FROM Customer MAXRESULTS 1000"},
                    headers=realm.headers(),
                )
                for _ in range(12)
            ]
            return [r.status_code for r in await asyncio.gather(*calls)]

    statuses = asyncio.run(burst())
    assert 200 in statuses
    assert 429 in statuses
    assert set(statuses) == {200, 429}
