"""Every Intacct answer goes through `classify`: each status and error shape lands on the
error the caller must act on."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import httpx
import pytest

from ledgerbridge.providers.base import (
    AuthError,
    FatalError,
    ProviderError,
    ProviderValidationError,
    RetriableError,
    ThrottledError,
)
from ledgerbridge.providers.intacct import mapper
from ledgerbridge.providers.intacct.connector import TokenRefusedError, _second, classify
from ledgerbridge.providers.intacct.mapper import from_query_row, to_intacct, unwritable
from moments import random_moments


def _envelope(code: str, message: str, *details: str) -> dict[str, Any]:
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "errorId": "REST-1064",
        "supportId": "sup-1",
    }
    if details:
        error["details"] = [{"code": code, "message": text} for text in details]
    return {"ia::result": {"ia::error": error}, "ia::meta": {"totalError": 1}}


def _answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    request = httpx.Request("POST", "https://api.intacct.com/ia/api/v1/services/core/query")
    return httpx.Response(status, json=body, headers=headers, request=request)


def test_success_gives_the_body_and_204_nothing() -> None:
    assert classify(_answer(200, {"ia::result": []})) == {"ia::result": []}
    assert classify(httpx.Response(204)) is None


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        # Bad values and business rules: the data must change.
        (
            400,
            _envelope("invalidRequest", "Errors", "/name is required"),
            ProviderValidationError,
            "invalidRequest",
        ),
        (
            422,
            _envelope("operationFailed", "Parent does not exist"),
            ProviderValidationError,
            "operationFailed",
        ),
        # A duplicate customer ID (or a reused Idempotency-Key) is a validation error.
        (
            409,
            _envelope("conflict", "A customer with ID C-1 already exists"),
            ProviderValidationError,
            "conflict",
        ),
        (404, _envelope("notFound", "Customer with key 9 was not found"), FatalError, "notFound"),
        (403, _envelope("forbidden", "Permission denied"), FatalError, "forbidden"),
        (401, _envelope("unauthorized", "Invalid token"), TokenRefusedError, "unauthorized"),
        # sageintacctrestsdk: Intacct answers some expired tokens with 400 "Invalid token".
        (
            400,
            {"ia::error": {"code": "invalidRequest", "message": "Invalid token"}},
            TokenRefusedError,
            "invalidRequest",
        ),
        (500, _envelope("operationFailed", "Internal error"), RetriableError, "operationFailed"),
        (503, None, RetriableError, None),
        # The plain shape a client must also accept.
        (
            422,
            {"error": {"code": "E1", "message": "Bad", "supportId": "s"}},
            ProviderValidationError,
            "E1",
        ),
        (405, None, FatalError, None),
    ],
)
def test_errors_land_where_the_caller_acts(
    status: int, body: Any, error: type[ProviderError], code: str | None
) -> None:
    with pytest.raises(error) as raised:
        classify(_answer(status, body))
    assert type(raised.value) is error
    assert raised.value.http_status == status
    assert raised.value.code == code
    assert raised.value.body == body


def test_validation_messages_carry_the_details() -> None:
    with pytest.raises(ProviderValidationError) as raised:
        classify(_answer(400, _envelope("invalidRequest", "Payload errors", "/a bad", "/b bad")))
    assert raised.value.message == "Payload errors: /a bad; /b bad"
    assert raised.value.request_id == "sup-1"


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"x-ia-concurrency-retry-after": "5", "Retry-After": "1"}, 5.0),  # the longest
        ({"Retry-After": "0"}, 0.0),
        ({}, 2.0),  # none given: a short default
    ],
)
def test_throttles_wait_as_told(headers: dict[str, str], wait: float) -> None:
    with pytest.raises(ThrottledError) as raised:
        classify(_answer(429, _envelope("tooManyRequests", "Slow down"), headers))
    assert raised.value.retry_after == wait


def test_token_endpoint_refusals_are_auth_errors() -> None:
    for status, body in [
        (401, _envelope("unauthorized", "Invalid client_id or client_secret")),
        (400, {"error": "invalid_grant", "error_description": "refresh token expired"}),
    ]:
        with pytest.raises(AuthError) as raised:
            classify(_answer(status, body), token_request=True)
        assert not isinstance(raised.value, TokenRefusedError)
    expired = {"error": "invalid_grant", "error_description": "refresh token expired"}
    with pytest.raises(AuthError, match="refresh token expired"):
        classify(_answer(400, expired), token_request=True)
    with pytest.raises(RetriableError):
        classify(_answer(502, None), token_request=True)


def test_a_success_without_json_is_retried() -> None:
    request = httpx.Request("GET", "https://api.intacct.com/ia/api/v1/x")
    with pytest.raises(RetriableError):
        classify(httpx.Response(200, text="<html>gateway</html>", request=request))


def test_query_rows_nest_like_the_object_and_drop_empty_fields() -> None:
    row = {
        "key": "7",
        "parent.key": "3",
        "parent.id": "C-3",
        "contacts.default.email1": "a@b.example",
        "contacts.default.mailingAddress.city": "Reno",
        "contacts.default.mobile": None,
        "notes": None,
    }
    assert from_query_row(row) == {
        "key": "7",
        "parent": {"key": "3", "id": "C-3"},
        "contacts": {"default": {"email1": "a@b.example", "mailingAddress": {"city": "Reno"}}},
    }


def test_fields_never_seen_nest_all_the_same_and_beside_the_known_ones() -> None:
    row = {f"extra{n}.inner.leaf": n for n in range(1050)}
    known = "contacts.default.email1"
    assert known in mapper.QUERY_FIELDS  # nested from the paths split up front
    mixed = {"key": "7", known: "a@example.com", "contacts.default.unseen": 1, **row}
    nested = from_query_row(mixed)
    assert nested["extra0"] == {"inner": {"leaf": 0}}
    assert nested["extra1049"] == {"inner": {"leaf": 1049}}
    assert nested["contacts"] == {"default": {"email1": "a@example.com", "unseen": 1}}


def test_a_checkpoint_second_is_what_strftime_gave() -> None:
    for moment in random_moments(11):
        assert _second(moment) == moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_only_writable_fields_reach_intacct() -> None:
    assert unwritable({"display_name": "x", "taxable": True}) == []
    assert unwritable({"balance_cents": 1, "ship_address": {}, "nickname": "x"}) == [
        "balance_cents",
        "nickname",
        "ship_address",
    ]
    assert to_intacct({"taxable": False}) == {
        "contacts": {"default": {"tax": {"isTaxable": False}}}
    }
