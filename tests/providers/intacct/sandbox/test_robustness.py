"""Inputs a fuzzer found answering 500 (or differently on SQLite and PostgreSQL): each is
now Intacct's 400 (or 401, 404, 405, 413, 415) in the `ia::result` envelope and changes
nothing. Also the access token's `iat`."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest

from ledgerbridge.providers.intacct.sandbox import MOUNT_PATH
from providers.intacct.support import CUSTOMERS, QUERY, Company


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["ia::result"]["ia::error"]
    return error


def _count(company: Company) -> int:
    response = company.query(fields=["key"], size=1)
    total: int = response.json()["ia::meta"]["totalCount"]
    return total


@pytest.mark.parametrize(
    "path",
    [
        f"{CUSTOMERS}?start=%C2%B2",  # passes str.isdigit(), not int()
        f"{CUSTOMERS}?size=%C2%B2",
        f"{CUSTOMERS}?start=99999999999999999999",
    ],
)
def test_bad_paging_is_400(company: Company, path: str) -> None:
    _error(company.get(path), 400)


@pytest.mark.parametrize("key", ["%C2%B2", "99999999999999999999", "3000000000"])
def test_a_key_that_cannot_exist_is_404(company: Company, key: str) -> None:
    _error(company.get(f"{CUSTOMERS}/{key}"), 404)


@pytest.mark.parametrize(
    "body",
    [
        {"id": "R1", "name": "Robust", "creditLimit": "1e20"},
        {"id": "R1", "name": "Robust", "creditLimit": 1e30},
        {"id": "R1", "name": "Robust", "creditLimit": "NaN"},
        {"id": "R1", "name": "Robust", "resaleNumber": "²"},
        {"id": "R1", "name": "Robust", "resaleNumber": 18446744073709551615},
        {"id": "R1", "name": "Robust", "parent": {"key": "²"}},
        {"id": "R1", "name": "Robust", "notes": "x" * 1001},  # one limit on both databases
        {"id": "R1", "name": "Rob\x00ust"},
    ],
)
def test_bad_creates_are_400_and_change_nothing(company: Company, body: dict[str, Any]) -> None:
    before = _count(company)
    response = company.post(CUSTOMERS, body)
    assert response.status_code in (400, 422), response.text
    assert "ia::error" in response.json()["ia::result"]
    assert _count(company) == before


def test_a_long_note_in_a_patch_is_400_on_every_database(company: Company) -> None:
    key = company.post(CUSTOMERS, {"id": "N1", "name": "Noted"}).json()["ia::result"]["key"]
    _error(company.patch(f"{CUSTOMERS}/{key}", {"notes": "x" * 1001}), 400)
    assert company.patch(f"{CUSTOMERS}/{key}", {"notes": "x" * 1000}).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"filters": [{"$eq": {"key": "99999999999999999999"}}]},
        {"filters": [{"$gt": {"creditLimit": "1e30"}}]},
        {"filters": [{"$eq": {"audit.createdDateTime": "9999-12-31"}}]},
        {"filters": [{"$eq": {"audit.createdDateTime": "9999-12-31T23:59:59-01:00"}}]},
        {"filters": [{"$eq": {"name": "a\x00b"}}]},
        {"filters": [{"$eq": {"status": "active"}}] * 5000},
        {"filters": [{"$in": {"key": [str(n) for n in range(1, 3000)]}}]},
        {
            "filters": [{"$eq": {"status": "active"}}] * 2,
            "filterExpression": "(" * 400 + "1 and 2" + ")" * 400,
        },
        {"filters": [{"$eq": {"status": "active"}}], "filterExpression": "1" * 5000},
    ],
)
def test_queries_past_the_limits_are_400(company: Company, body: dict[str, Any]) -> None:
    _error(company.query(fields=["key"], **body), 400)


def test_bodies_take_json_only(company: Company) -> None:
    response = company.http.post(
        MOUNT_PATH + QUERY,
        content=json.dumps({"object": "accounts-receivable/customer", "fields": ["key"]}),
        headers={**company._headers(), "Content-Type": "text/plain"},
    )
    _error(response, 415)


def test_invalid_json_without_a_token_is_401(company: Company) -> None:
    response = company.http.post(
        MOUNT_PATH + QUERY, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    _error(response, 401)


def test_framework_answers_are_in_the_envelope(company: Company) -> None:
    _error(company.get("/objects/nothing-here"), 404)
    wrong = company.http.put(MOUNT_PATH + CUSTOMERS, headers=company._headers())
    _error(wrong, 405)
    assert set(wrong.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    _error(company.get("/objects/accounts-receivable/cust%0Aomer"), 404)
    huge = company.post(CUSTOMERS, {"id": "H", "name": "Huge", "notes": "x" * 2_000_000})
    _error(huge, 413)


def test_the_access_token_is_issued_now(company: Company) -> None:
    payload = company.credentials["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert abs(claims["iat"] - time.time()) < 60
    assert claims["exp"] - claims["iat"] == 3600
