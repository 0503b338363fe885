"""The sandboxes' OAuth 2.0 token issuer (`sandbox/oauth.py`) on the sandbox database:
authorization codes, expiring access tokens, rotating refresh tokens, and the refusals
(RFC 6749 error codes); then the same rotation over HTTP at every sandbox that issues
tokens, as a client sees it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.engine import Connection, Engine

from asgi_client import TestClient
from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.providers.registry import get_platform
from ledgerbridge.sandbox import tables
from ledgerbridge.sandbox.oauth import CODE_LIFETIME, REFRESH_LIFETIME, OAuthError, TokenIssuer

T = TypeVar("T")
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
REDIRECT = "https://app.example/callback"
LIFETIME = 3600


@pytest.fixture
def engine(app: FastAPI) -> Engine:
    """The sandbox database, migrated, on the backend under test."""
    sandbox_engine: Engine = app.state.sandbox.engine
    return sandbox_engine


@pytest.fixture
def issuer() -> TokenIssuer:
    return TokenIssuer("oauth_test")


def in_transaction(engine: Engine, work: Callable[[Connection], T]) -> T:
    """`work` in its own write transaction, rolled back if it raises (as a request is)."""
    with write_transaction(engine) as connection:
        return work(connection)


def refused(engine: Engine, work: Callable[[Connection], Any]) -> OAuthError:
    with pytest.raises(OAuthError) as caught:
        in_transaction(engine, work)
    return caught.value


def lifetime(_tenant_id: str) -> int:
    return LIFETIME


@pytest.fixture
def client_keys(engine: Engine, issuer: TokenIssuer) -> tuple[str, str]:
    return in_transaction(engine, lambda c: issuer.ensure_client(c, NOW))


def test_the_app_is_registered_once_and_authenticates_with_its_secret(
    engine: Engine, issuer: TokenIssuer, client_keys: tuple[str, str]
) -> None:
    client_id, secret = client_keys
    assert in_transaction(engine, lambda c: issuer.ensure_client(c, NOW)) == client_keys
    in_transaction(engine, lambda c: issuer.authenticate_client(c, client_id, secret))
    for wrong_id, wrong_secret in ((client_id, secret + "x"), ("client_unknown", secret)):
        error = refused(
            engine,
            lambda c, i=wrong_id, s=wrong_secret: issuer.authenticate_client(c, i, s),
        )
        assert error.error == "invalid_client"


def test_an_authorization_code_is_single_use_bound_to_its_redirect_and_expires(
    engine: Engine, issuer: TokenIssuer, client_keys: tuple[str, str]
) -> None:
    client_id, _ = client_keys

    def issue(c: Connection) -> str:
        return issuer.issue_code(
            c, tenant_id="realm1", client_id=client_id, redirect_uri=REDIRECT, now=NOW
        )

    def exchange(code: str, *, redirect: str = REDIRECT, at: datetime = NOW, by: str = client_id):
        return lambda c: issuer.exchange_code(
            c, code=code, client_id=by, redirect_uri=redirect, lifetime_s=lifetime, now=at
        )

    code = in_transaction(engine, issue)
    # A different redirect or another app is refused, and (rolled back) burns nothing.
    assert refused(engine, exchange(code, redirect="https://evil.example/")).error == (
        "invalid_grant"
    )
    assert refused(engine, exchange(code, by="client_other")).error == "invalid_grant"
    pair = in_transaction(engine, exchange(code))
    assert (pair.tenant_id, pair.expires_in) == ("realm1", LIFETIME)
    grant = in_transaction(engine, lambda c: issuer.verify_access(c, pair.access_token, NOW))
    assert (grant.tenant_id, grant.client_id) == ("realm1", client_id)
    assert refused(engine, exchange(code)).error == "invalid_grant"  # used once already

    late = in_transaction(engine, issue)
    expired = refused(engine, exchange(late, at=NOW + CODE_LIFETIME))
    assert (expired.error, "expired" in expired.description) == ("invalid_grant", True)


def test_a_refresh_rotates_and_the_old_refresh_token_stops_working(
    engine: Engine, issuer: TokenIssuer, client_keys: tuple[str, str]
) -> None:
    client_id, _ = client_keys
    first = in_transaction(
        engine,
        lambda c: issuer.issue_pair(
            c, tenant_id="realm1", client_id=client_id, lifetime_s=LIFETIME, now=NOW, subject="u"
        ),
    )

    def refresh(token: str, at: datetime = NOW) -> Callable[[Connection], Any]:
        return lambda c: issuer.refresh(
            c, refresh_token=token, client_id=client_id, lifetime_s=lifetime, now=at
        )

    later = NOW + timedelta(minutes=5)
    second = in_transaction(engine, refresh(first.refresh_token, later))
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    grant = in_transaction(engine, lambda c: issuer.verify_access(c, second.access_token, later))
    assert (grant.tenant_id, grant.subject) == ("realm1", "u")  # carried over
    assert refused(engine, refresh(first.refresh_token, later)).error == "invalid_grant"
    assert refused(engine, refresh(second.access_token, later)).error == "invalid_grant"
    # A refresh token lives 100 days (Intuit's figure), then it is refused too.
    assert refused(engine, refresh(second.refresh_token, later + REFRESH_LIFETIME)).error == (
        "invalid_grant"
    )
    in_transaction(engine, refresh(second.refresh_token, later + REFRESH_LIFETIME / 2))


def test_access_tokens_expire_and_revoked_or_foreign_ones_are_refused(
    engine: Engine, issuer: TokenIssuer, client_keys: tuple[str, str]
) -> None:
    client_id, _ = client_keys
    pair = in_transaction(
        engine,
        lambda c: issuer.issue_pair(
            c, tenant_id="realm1", client_id=client_id, lifetime_s=LIFETIME, now=NOW
        ),
    )

    def verify(token: str, at: datetime) -> Callable[[Connection], Any]:
        return lambda c: issuer.verify_access(c, token, at)

    in_transaction(engine, verify(pair.access_token, NOW + timedelta(seconds=LIFETIME - 1)))
    expired = refused(engine, verify(pair.access_token, NOW + timedelta(seconds=LIFETIME)))
    assert (expired.error, expired.description) == ("invalid_token", "The access token expired.")
    # A refresh token is no access token; another provider's issuer knows none of ours.
    assert refused(engine, verify(pair.refresh_token, NOW)).error == "invalid_token"
    other = TokenIssuer("oauth_other")
    assert refused(engine, lambda c: other.verify_access(c, pair.access_token, NOW)).error == (
        "invalid_token"
    )
    in_transaction(engine, lambda c: issuer.revoke(c, pair.access_token, NOW))
    assert refused(engine, verify(pair.access_token, NOW)).error == "invalid_token"


def test_tokens_are_stored_only_as_hashes(
    engine: Engine, issuer: TokenIssuer, client_keys: tuple[str, str]
) -> None:
    pair = in_transaction(
        engine,
        lambda c: issuer.issue_pair(
            c, tenant_id="realm1", client_id=client_keys[0], lifetime_s=LIFETIME, now=NOW
        ),
    )
    with read_transaction(engine) as connection:
        rows = connection.execute(sa.select(tables.oauth_tokens)).mappings().all()
    stored = " ".join(str(value) for row in rows for value in row.values())
    assert len(rows) == 2
    assert pair.access_token not in stored
    assert pair.refresh_token not in stored


def test_two_racing_refreshes_of_one_token_give_one_pair(
    engine: Engine, issuer: TokenIssuer, client_keys: tuple[str, str]
) -> None:
    client_id, _ = client_keys
    pair = in_transaction(
        engine,
        lambda c: issuer.issue_pair(
            c, tenant_id="realm1", client_id=client_id, lifetime_s=LIFETIME, now=NOW
        ),
    )
    start = threading.Barrier(4)
    outcomes: list[str] = []

    def racer() -> None:
        start.wait()
        try:
            in_transaction(
                engine,
                lambda c: issuer.refresh(
                    c,
                    refresh_token=pair.refresh_token,
                    client_id=client_id,
                    lifetime_s=lifetime,
                    now=NOW,
                ),
            )
            outcomes.append("refreshed")
        except OAuthError as exc:
            outcomes.append(exc.error)

    threads = [threading.Thread(target=racer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["invalid_grant"] * 3 + ["refreshed"]


# --- Over HTTP, at every sandbox that issues OAuth tokens -------------------------------


def _qbo_refresh(http: TestClient, issued: dict[str, str], token: str) -> httpx.Response:
    return http.post(
        "/sandbox/qbo/oauth2/v1/tokens/bearer",
        data={"grant_type": "refresh_token", "refresh_token": token},
        auth=(issued["client_id"], issued["client_secret"]),
    )


def _intacct_refresh(http: TestClient, issued: dict[str, str], token: str) -> httpx.Response:
    return http.post(
        "/sandbox/intacct/ia/api/v1/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": token,
            "client_id": issued["client_id"],
            "client_secret": issued["client_secret"],
        },
    )


def _qbo_api(http: TestClient, tenant: str, token: str) -> httpx.Response:
    return http.get(
        f"/sandbox/qbo/v3/company/{tenant}/companyinfo/{tenant}",
        headers={"Authorization": f"Bearer {token}"},
    )


def _intacct_api(http: TestClient, _tenant: str, token: str) -> httpx.Response:
    return http.get(
        "/sandbox/intacct/ia/api/v1/objects/accounts-receivable/customer",
        headers={"Authorization": f"Bearer {token}"},
    )


# (provider, tenant, refresh request, an authenticated API call, refusal status):
# Intuit answers a spent refresh token 400 invalid_grant, Intacct 401.
TOKEN_SANDBOXES = [
    ("qbo", "9130350000000001", _qbo_refresh, _qbo_api, 400),
    ("intacct", "OAUTHCO", _intacct_refresh, _intacct_api, 401),
]


@pytest.fixture
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize(
    ("provider", "tenant", "refresh", "api", "spent_status"),
    TOKEN_SANDBOXES,
    ids=[row[0] for row in TOKEN_SANDBOXES],
)
def test_a_refresh_token_is_spent_by_its_first_use_at_every_token_endpoint(
    app: FastAPI,
    http: TestClient,
    provider: str,
    tenant: str,
    refresh: Callable[[TestClient, dict[str, str], str], httpx.Response],
    api: Callable[[TestClient, str, str], httpx.Response],
    spent_status: int,
) -> None:
    sandbox = get_platform(provider).sandbox
    sandbox.seed(app.state.sandbox, tenant, 1, 7)
    if provider == "qbo":
        # Intuit's documented rotation keeps a refresh token for 24 hours (tests/providers/
        # qbo/sandbox/test_rotation.py); its strict single-use knob is tested here.
        knob = {"refresh_token_single_use": True}
        made = http.patch(f"{sandbox.mount_path}/_admin/tenants/{tenant}", json=knob)
        assert made.status_code == 200, made.text
    issued = sandbox.credentials(app.state.sandbox, tenant)

    rotated = refresh(http, issued, issued["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert body["refresh_token"] != issued["refresh_token"]
    assert api(http, tenant, body["access_token"]).status_code == 200

    spent = refresh(http, issued, issued["refresh_token"])
    assert spent.status_code == spent_status, spent.text
    assert refresh(http, issued, body["refresh_token"]).status_code == 200
