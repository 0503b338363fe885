"""Inputs a fuzzer found answering 500 or accepted against the schema: each is now
Conductor's 400 (or 404, 405, 413, 415) in its error envelope, and changes nothing."""

from __future__ import annotations

import pytest

from providers.qbd.support import Conductor, assert_error

LIST = "/quickbooks-desktop/customers"


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "²"},  # passes str.isdigit(), not int()
        {"limit": "99999999999999999999999"},
        {"updatedBefore": "9999-12-31"},  # the end of that day overflows in UTC
        {"updatedAfter": "9999-12-31T23:59:59-01:00"},
        {"updatedAfter": "0001-01-01T00:00:00+01:00"},
        {"totalBalance": "1e999999"},
        {"totalBalance": "sNaN"},
        {"totalBalance": "NaN"},  # the schema says a decimal string
        {"totalBalance": "Infinity"},
        {"nameContains": "a\x00b"},
        {"ids": ",".join(str(n) for n in range(2000))},
    ],
)
def test_bad_list_parameters_are_400(conductor: Conductor, params: dict[str, str]) -> None:
    assert_error(
        conductor.get(LIST, params=params), 400, "INVALID_REQUEST_ERROR", "INVALID_REQUEST"
    )


@pytest.mark.parametrize(
    "params",
    [{"deletedBefore": "9999-12-31"}, {"deletedAfter": "9999-12-31T23:59:59-01:00"}],
)
def test_bad_deleted_list_dates_are_400(conductor: Conductor, params: dict[str, str]) -> None:
    response = conductor.get(
        "/quickbooks-desktop/deleted-list-objects", params={"objectTypes": "customer", **params}
    )
    assert_error(response, 400, "INVALID_REQUEST_ERROR", "INVALID_REQUEST")


def test_bodies_take_json_only_and_not_too_deep(conductor: Conductor) -> None:
    before = len(conductor.all_customers(status="all"))
    text = conductor.post(
        LIST, content=b'{"name": "Plain"}', headers={"Content-Type": "text/plain"}
    )
    assert_error(text, 415, "INVALID_REQUEST_ERROR", "UNSUPPORTED_MEDIA_TYPE")
    deep = conductor.post(
        LIST,
        content=b'{"name": "Deep", "note": ' + b"[" * 300 + b"]" * 300 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert_error(deep, 400, "INVALID_REQUEST_ERROR", "INVALID_REQUEST")
    huge = conductor.post(LIST, json={"name": "Huge", "note": "x" * 2_000_000})
    assert_error(huge, 413, "INVALID_REQUEST_ERROR", "INVALID_REQUEST")
    assert len(conductor.all_customers(status="all")) == before


def test_framework_answers_are_in_conductors_envelope(conductor: Conductor) -> None:
    assert_error(conductor.get("/nothing-here"), 404, "INVALID_REQUEST_ERROR", "RESOURCE_MISSING")
    wrong = conductor.client.delete("/sandbox/conductor/v1" + LIST)
    assert_error(wrong, 405, "INVALID_REQUEST_ERROR", "INVALID_REQUEST")
    assert set(wrong.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    newline = conductor.get("/quickbooks-desktop/custo%0Amers")
    assert_error(newline, 404, "INVALID_REQUEST_ERROR", "RESOURCE_MISSING")


def test_a_bad_body_without_a_key_is_401(conductor: Conductor) -> None:
    response = conductor.client.post(
        "/sandbox/conductor/v1" + LIST,
        content=b"{not json",
        headers={"Authorization": "", "Content-Type": "application/json"},
    )
    assert response.status_code == 401
