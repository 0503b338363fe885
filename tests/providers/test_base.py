"""The shared connector pieces: error messages, Retry-After, the pagination loop guard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from ledgerbridge.errors import LedgerBridgeError
from ledgerbridge.providers.base import (
    FatalError,
    ProviderError,
    RetriableError,
    ThrottledError,
)
from ledgerbridge.providers.client import retry_after_seconds
from ledgerbridge.providers.paging import PageGuard


def test_errors_carry_their_data_and_read_well() -> None:
    error = ThrottledError(
        "The request limit was reached.",
        retry_after=60,
        provider="qbo",
        http_status=429,
        code="3001",
        request_id="req-1",
        body={"Fault": {}},
    )
    assert isinstance(error, RetriableError)
    assert isinstance(error, LedgerBridgeError)
    assert str(error) == (
        "qbo: The request limit was reached. | HTTP 429 | code 3001 | request id req-1"
    )
    assert error.body == {"Fault": {}}
    assert str(ProviderError("down", provider="qbd")) == "qbd: down"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, 7.0),  # none: the default
        ({"retry-after": "12"}, 12.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "1500"}, 1.5),  # Conductor's header wins
        ({"retry-after": "soon"}, 7.0),  # unreadable: the default
    ],
)
def test_retry_after(headers: dict[str, str], expected: float) -> None:
    assert retry_after_seconds(headers, default=7.0) == expected


def test_retry_after_as_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= retry_after_seconds({"retry-after": when}, default=0) <= 31


def test_page_guard_refuses_a_repeated_token() -> None:
    guard = PageGuard("qbd")
    guard.check("a")
    guard.check("b")
    with pytest.raises(FatalError, match="Loop detected in pagination"):
        guard.check("a")
