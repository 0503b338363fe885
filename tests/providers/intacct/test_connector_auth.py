"""Tokens: a refresh in the middle of a long read, a refresh before a token expires, one
refresh for two connectors at once, a dead refresh token, and refused credentials."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from ledgerbridge.connections import (
    ConnectionStatus,
    get_connection,
    read_credentials,
    write_credentials,
)
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.providers.base import AuthError
from ledgerbridge.sandbox import tables

from .test_connector import Company, Mirror, company, reads_by_count

__all__ = ["company"]


class Requests:
    """The paths and statuses of every request a client sent, in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    async def __call__(self, response: httpx.Response) -> None:
        self.seen.append((response.request.url.path, response.status_code))

    def token_calls(self) -> int:
        return sum(path.endswith("/oauth2/token") for path, _ in self.seen)

    def statuses(self) -> Counter[int]:
        return Counter(status for _, status in self.seen)


def store_credentials(company: Company, **changes: Any) -> dict[str, Any]:
    """Change the connection's stored credentials (None removes a field)."""
    with write_transaction(company.app.state.databases.main) as connection:
        current = read_credentials(connection, company.app.state.cipher, company.connection_id)
        updated = {k: v for k, v in {**current, **changes}.items() if v is not None}
        write_credentials(connection, company.app.state.cipher, company.connection_id, updated)
    return updated


async def stored(company: Company) -> dict[str, Any]:
    return await company.credentials().load()


def issued_refresh_tokens(company: Company) -> int:
    with read_transaction(company.app.state.sandbox.engine) as connection:
        return int(
            connection.execute(
                sa.select(sa.func.count()).where(
                    tables.oauth_tokens.c.provider == "intacct",
                    tables.oauth_tokens.c.kind == "refresh",
                )
            ).scalar_one()
        )


@pytest.mark.anyio
async def test_a_token_that_dies_in_the_middle_of_a_read_is_refreshed_and_stored(
    company: Company,
) -> None:
    before = await stored(company)
    again = company.changed_lately()
    requests = Requests()
    async with httpx.AsyncClient(event_hooks={"response": [requests]}) as http:
        connector = company.connector(http, page_size=20)
        mirror = Mirror()
        stream = connector.pages(None)
        for _ in range(2):
            mirror.apply(connector, await anext(stream))
        # Two hours pass on Intacct's side: the access token expired mid-read.
        company.set_clock(lambda: utcnow() + timedelta(hours=2))
        async for page in stream:
            mirror.apply(connector, page)

    truth = company.truth()
    assert mirror.records == truth
    assert reads_by_count(mirror) == {1: set(truth) - again, 2: again}
    assert requests.statuses()[401] == 1  # refused once, refreshed, never again
    assert requests.token_calls() == 1
    after = await stored(company)
    # The rotated pair was stored (the old refresh token is spent at Intacct).
    assert after["access_token"] != before["access_token"]
    assert after["refresh_token"] != before["refresh_token"]
    assert datetime.fromisoformat(after["access_token_expires_at"]) > datetime.now(UTC)
    assert after["client_secret"] == before["client_secret"]


@pytest.mark.anyio
async def test_a_token_about_to_expire_is_refreshed_before_it_is_used(company: Company) -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=20)).isoformat()
    store_credentials(company, access_token_expires_at=soon)
    requests = Requests()
    async with httpx.AsyncClient(event_hooks={"response": [requests]}) as http:
        native = await company.connector(http).get(company.key_with_status("active"))

    assert native["key"] == company.key_with_status("active")
    assert requests.seen[0][0].endswith("/oauth2/token")
    assert requests.statuses()[401] == 0
    assert (await stored(company))["access_token_expires_at"] != soon


@pytest.mark.anyio
async def test_two_connectors_needing_a_token_at_once_refresh_it_once(company: Company) -> None:
    store_credentials(company, access_token=None)
    tokens_before = issued_refresh_tokens(company)
    requests = Requests()
    key = company.key_with_status("active")
    async with httpx.AsyncClient(event_hooks={"response": [requests]}) as http:
        first, second = company.connector(http), company.connector(http)
        results = await asyncio.gather(first.get(key), second.get(key))

    assert [native["key"] for native in results] == [key, key]
    assert requests.token_calls() == 1
    assert issued_refresh_tokens(company) == tokens_before + 1


@pytest.mark.anyio
async def test_a_dead_refresh_token_falls_back_to_client_credentials(company: Company) -> None:
    store_credentials(company, access_token=None, refresh_token="rt_revoked_long_ago")
    async with httpx.AsyncClient() as http:
        native = await company.connector(http).get(company.key_with_status("active"))

    assert native["status"] == "active"
    renewed = await stored(company)
    assert renewed["refresh_token"] != "rt_revoked_long_ago"
    with read_transaction(company.app.state.databases.main) as connection:
        assert get_connection(connection, company.connection_id).status == "active"


@pytest.mark.anyio
async def test_refused_credentials_mark_the_connection_for_reauthorisation(
    company: Company,
) -> None:
    store_credentials(company, access_token=None, refresh_token=None, client_secret="wrong")
    async with httpx.AsyncClient() as http:
        connector = company.connector(http)
        with pytest.raises(AuthError) as refused:
            async for _ in connector.pages(None):
                pass

    assert refused.value.http_status == 401
    assert "client_id or client_secret" in refused.value.message
    with read_transaction(company.app.state.databases.main) as connection:
        info = get_connection(connection, company.connection_id)
    assert info.status == ConnectionStatus.NEEDS_REAUTH
    assert info.status_message is not None
    assert "client secret" in info.status_message
