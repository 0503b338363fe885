"""Refresh-token rotation as Intuit documents it, over real HTTP: the same refresh token
within the 24-hour rotation period, a replaced one still valid for 24 hours, and the
strictly single-use mode a realm can be switched to (evidence in sandbox/oauth.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from conftest import LiveServer
from ledgerbridge.providers.registry import get_platform
from providers.qbo.qbo_helpers import REALM

HOUR = timedelta(hours=1)


class Intuit:
    """The sandbox's token endpoint and a clock the test moves."""

    def __init__(self, app: FastAPI, server: LiveServer) -> None:
        self.context = app.state.sandbox
        self.started = self.context.clock()
        self.elapsed = timedelta(0)
        self.context.clock = lambda: self.started + self.elapsed
        get_platform("qbo").sandbox.create(self.context, REALM)
        self.credentials = get_platform("qbo").sandbox.credentials(self.context, REALM)
        # The first request builds the sandbox app: seconds on a loaded machine.
        self.http = httpx.Client(base_url=f"{server.url}/sandbox/qbo", timeout=30)

    def configure(self, **knobs: Any) -> None:
        self.http.patch(f"/_admin/tenants/{REALM}", json=knobs).raise_for_status()

    def refresh(self, refresh_token: str) -> httpx.Response:
        return self.http.post(
            "/oauth2/v1/tokens/bearer",
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=(self.credentials["client_id"], self.credentials["client_secret"]),
        )

    def refreshed(self, refresh_token: str) -> dict[str, Any]:
        response = self.refresh(refresh_token)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        company = self.http.get(
            f"/v3/company/{REALM}/companyinfo/{REALM}",
            headers={"Authorization": f"Bearer {body['access_token']}"},
        )
        assert company.status_code == 200, company.text  # the new access token works
        return body

    def refused(self, refresh_token: str) -> None:
        response = self.refresh(refresh_token)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_grant"


@pytest.fixture
def intuit(app: FastAPI, live_server: LiveServer) -> Iterator[Intuit]:
    original = app.state.sandbox.clock
    sandbox = Intuit(app, live_server)
    yield sandbox
    sandbox.http.close()
    app.state.sandbox.clock = original


def test_within_the_rotation_period_the_same_refresh_token_comes_back(intuit: Intuit) -> None:
    first = intuit.credentials["refresh_token"]
    answers = []
    for _ in range(3):
        intuit.elapsed += 7 * HOUR
        answers.append(intuit.refreshed(first))
    assert {answer["refresh_token"] for answer in answers} == {first}
    assert len({answer["access_token"] for answer in answers}) == 3
    # The refresh token's own lifetime counts down; it is not renewed by use.
    lifetimes = [answer["x_refresh_token_expires_in"] for answer in answers]
    assert lifetimes == sorted(lifetimes, reverse=True)
    assert lifetimes[0] - lifetimes[1] == 7 * 3600


def test_after_the_period_a_new_token_and_the_old_one_lives_24_hours(intuit: Intuit) -> None:
    old = intuit.credentials["refresh_token"]
    intuit.elapsed += 25 * HOUR
    new = intuit.refreshed(old)["refresh_token"]
    assert new != old
    # A client that crashed before storing `new` still holds `old`: it works for 24 hours,
    # and its answer is a token that works.
    intuit.elapsed += 23 * HOUR
    recovered = intuit.refreshed(old)["refresh_token"]
    assert recovered not in (old, new)
    assert intuit.refreshed(recovered)["refresh_token"] == recovered  # the current one now
    assert intuit.refreshed(new)["refresh_token"] != new  # replaced too, still in its grace
    intuit.elapsed += 2 * HOUR
    intuit.refused(old)  # 24 hours after it was replaced


def test_single_use_kills_the_old_token_at_once(intuit: Intuit) -> None:
    intuit.configure(refresh_token_single_use=True)
    old = intuit.credentials["refresh_token"]
    new = intuit.refreshed(old)["refresh_token"]
    assert new != old
    intuit.refused(old)
    newer = intuit.refreshed(new)["refresh_token"]
    assert newer != new
    intuit.refused(new)


def test_rotation_and_grace_are_knobs(intuit: Intuit) -> None:
    intuit.configure(refresh_token_rotation_s=0, refresh_token_grace_s=60)
    old = intuit.credentials["refresh_token"]
    new = intuit.refreshed(old)["refresh_token"]
    assert new != old  # no rotation period: every refresh rotates
    intuit.elapsed += timedelta(seconds=59)
    intuit.refreshed(old)
    intuit.elapsed += timedelta(seconds=2)
    intuit.refused(old)


def test_every_answer_works_while_a_replaced_token_is_reused(
    intuit: Intuit,
) -> None:
    intuit.configure(refresh_token_rotation_s=0)
    old = intuit.credentials["refresh_token"]
    answers = [intuit.refreshed(old)["refresh_token"] for _ in range(2)]
    for token in answers:
        intuit.refreshed(token)
