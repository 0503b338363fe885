"""The access-token holder every OAuth connector shares (`providers/tokens.py`): what it
does when a refresh is refused because another refresher rotated the token first."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ledgerbridge.db import utcnow
from ledgerbridge.providers.base import AuthError
from ledgerbridge.providers.tokens import AccessTokens
from providers.qbo.test_connector_faults import MemoryCredentials

pytestmark = pytest.mark.anyio


def _fresh(access: str, refresh: str) -> dict[str, Any]:
    expires = (utcnow() + timedelta(hours=1)).isoformat()
    return {"access_token": access, "access_token_expires_at": expires, "refresh_token": refresh}


@pytest.mark.parametrize("rotated_meanwhile", [True, False])
async def test_a_refused_refresh_uses_tokens_another_refresher_stored(
    rotated_meanwhile: bool,
) -> None:
    """A grant refused (`invalid_grant`) because another process, whose claim outlived
    ours, spent the refresh token and stored its answer: that answer is used and the
    connection stays connected. Refused with nothing newer stored: a person must act."""
    store = MemoryCredentials({"refresh_token": "R1"})

    async def grant(current: dict[str, Any]) -> dict[str, Any]:
        assert current["refresh_token"] == "R1"
        if rotated_meanwhile:
            store.credentials = _fresh("A2", "R2")  # the other refresher's commit
        raise AuthError("invalid_grant: already used", provider="qbo")

    tokens = AccessTokens(
        provider="qbo", store=store, grant=grant, margin=timedelta(minutes=5), reauthorise_hint=""
    )
    if rotated_meanwhile:
        assert await tokens.current() == "A2"
        assert store.reauthorise == []
    else:
        with pytest.raises(AuthError):
            await tokens.current()
        assert store.reauthorise == ["invalid_grant: already used"]
