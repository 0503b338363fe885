"""How the connector classifies QuickBooks Online's answers, and that throttles, server
errors and latency injected by the sandbox change nothing in what a run reads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from ledgerbridge.providers.base import (
    AuthError,
    ConflictError,
    ConnectorSettings,
    FatalError,
    ProviderError,
    ProviderValidationError,
    RetriableError,
    ThrottledError,
)
from ledgerbridge.providers.qbo import wire
from ledgerbridge.providers.qbo.connector import QboConnector, classify
from providers.qbo.connector_support import QboConnection, Recorder, collect, run


def _fault(code: str, message: str, detail: str, fault_type: str = "ValidationFault") -> bytes:
    error = {"Message": message, "Detail": detail, "code": code, "element": ""}
    return orjson.dumps({"Fault": {"Error": [error], "type": fault_type}, "time": "x"})


def _answer(status: int, content: bytes | str, **headers: str) -> httpx.Response:
    body = content.encode() if isinstance(content, str) else content
    request = httpx.Request("GET", "https://quickbooks.api.intuit.com/v3/company/1/query")
    return httpx.Response(status, content=body, headers=headers, request=request)


DUPLICATE = _fault(
    "6240",
    "Duplicate Name Exists Error",
    "The name supplied already exists. : Another customer, vendor or employee is already "
    "using this name.",
)


@pytest.mark.parametrize(
    ("response", "error", "code", "http_status"),
    [
        # Throttles: JSON, XML despite Accept: application/json, and the older 403.
        (_answer(429, orjson.dumps(wire.throttle_body())), ThrottledError, "3001", 429),
        (_answer(429, wire.THROTTLE_XML, **{"Retry-After": "7"}), ThrottledError, "3001", 429),
        (
            _answer(403, _fault("3001", "message=ThrottleExceeded", "Try later", "SERVICE")),
            ThrottledError,
            "3001",
            403,
        ),
        # Temporary failures.
        (
            _answer(500, _fault("10000", "An application error", "", "SystemFault")),
            RetriableError,
            "10000",
            500,
        ),
        (_answer(503, "<html>Service Unavailable</html>"), RetriableError, None, 503),
        (_answer(200, "<html>maintenance</html>"), RetriableError, None, 200),
        # Credentials: the lowercase 401 body, and an authorization fault.
        (
            _answer(401, orjson.dumps(wire.unauthorized_body("Token expired"))),
            AuthError,
            "3200",
            401,
        ),
        (
            _answer(403, _fault("120", "Authorization Failure", "", "AuthorizationFault")),
            AuthError,
            "120",
            403,
        ),
        # The data: a stale SyncToken, a missing object, business rules.
        (
            _answer(400, _fault("5010", "Stale Object Error", "SyncToken 0 is not 1")),
            ConflictError,
            "5010",
            400,
        ),
        (_answer(400, _fault("610", "Object Not Found", "Customer Id 9")), FatalError, "610", 404),
        (_answer(400, DUPLICATE), ProviderValidationError, "6240", 400),
        (
            _answer(400, _fault("6080", "Name missing", "Supply a name")),
            ProviderValidationError,
            "6080",
            400,
        ),
        (
            _answer(400, _fault("6150", "Cannot change", "Sub-customer to top")),
            ProviderValidationError,
            "6150",
            400,
        ),
        (
            _answer(400, _fault("2020", "Required param missing", "Id")),
            ProviderValidationError,
            "2020",
            400,
        ),
        # A 200 carrying a Fault is not a success.
        (
            _answer(200, _fault("6000", "A business validation error", "Balance")),
            ProviderValidationError,
            "6000",
            200,
        ),
        # Anything else: nothing to retry.
        (_answer(404, "Not Found"), FatalError, None, 404),
    ],
)
def test_classify(
    response: httpx.Response, error: type[ProviderError], code: str | None, http_status: int
) -> None:
    with pytest.raises(error) as raised:
        classify(response)
    assert type(raised.value) is error
    assert raised.value.code == code
    assert raised.value.http_status == http_status
    assert raised.value.provider == "qbo"


def test_classified_errors_say_what_happened() -> None:
    with pytest.raises(ProviderValidationError) as duplicate:
        classify(_answer(400, DUPLICATE))
    assert "Duplicate Name Exists Error: The name supplied already exists." in str(duplicate.value)
    assert duplicate.value.body["Fault"]["type"] == "ValidationFault"
    with pytest.raises(ThrottledError) as xml:
        classify(_answer(429, wire.THROTTLE_XML, **{"Retry-After": "7"}))
    assert xml.value.retry_after == 7
    assert "ThrottleExceeded" in xml.value.message
    with pytest.raises(ThrottledError) as bare:
        classify(_answer(429, orjson.dumps(wire.throttle_body())))
    assert bare.value.retry_after == 60  # Intuit's advice when no Retry-After is given


def test_a_success_is_returned_as_it_came() -> None:
    body = {"QueryResponse": {"totalCount": 3}, "time": "2026-05-05T05:15:24.356-07:00"}
    assert classify(_answer(200, orjson.dumps(body))) == body


def test_injected_faults_and_throttles_change_nothing(qbo_connection: QboConnection) -> None:
    qbo_connection.seed(300)
    clean = run(
        lambda http: collect(qbo_connection.connector(http, page_size=10), None), Recorder()
    )
    # Half the answers fail (429s in XML, 500s, 503s), slowly, and two at a time at most.
    qbo_connection.configure(
        error_rate=0.5,
        error_statuses=[429, 500, 503],
        latency_ms=20,
        max_concurrent=2,
        throttle_as_xml=True,
    )
    recorder = Recorder()
    faulty = run(lambda http: collect(qbo_connection.connector(http, page_size=10), None), recorder)

    assert [p.customers for p in faulty] == [p.customers for p in clean]
    assert [p.checkpoint["after_id"] for p in faulty[:-1]] == [
        p.checkpoint["after_id"] for p in clean[:-1]
    ]
    assert {429, 500, 503} <= set(recorder.statuses)


@dataclass
class MemoryCredentials:
    """A `CredentialStore` in memory, for tests that need no database."""

    credentials: dict[str, Any]
    reauthorise: list[str] = field(default_factory=list)

    async def load(self) -> dict[str, Any]:
        return dict(self.credentials)

    @asynccontextmanager
    async def rotating(self) -> AsyncIterator[MemoryRotation]:
        yield MemoryRotation(dict(self.credentials), self)

    async def needs_reauthorisation(self, message: str) -> None:
        self.reauthorise.append(message)


@dataclass
class MemoryRotation:
    current: dict[str, Any]
    store: MemoryCredentials

    async def save(self, credentials: dict[str, Any]) -> dict[str, Any]:
        self.store.credentials = credentials
        return credentials


def test_cdc_deleted_entries_become_deleted_ids() -> None:
    """QuickBooks lists an object deleted outright as `status: Deleted` with only its id;
    customers are deactivated rather than deleted, but the connector takes both."""
    newest = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    cdc = {
        "CDCResponse": [
            {
                "QueryResponse": [
                    {
                        "Customer": [
                            {
                                "Id": "58",
                                "SyncToken": "2",
                                "DisplayName": "Kept",
                                "Active": False,
                                "MetaData": {
                                    "CreateTime": "2026-03-01T09:00:00-07:00",
                                    "LastUpdatedTime": (newest - timedelta(hours=1)).isoformat(),
                                },
                            },
                            {
                                "Id": "61",
                                "status": "Deleted",
                                "MetaData": {"LastUpdatedTime": newest.isoformat()},
                            },
                        ],
                        "startPosition": 1,
                        "maxResults": 2,
                    }
                ]
            }
        ],
        "time": datetime.now(UTC).isoformat(),
    }
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=orjson.dumps(cdc))

    store = MemoryCredentials(
        {
            "realm_id": "4620816365231419",
            "client_id": "c",
            "client_secret": "s",
            "refresh_token": "rt",
            "access_token": "at",
            "access_token_expires_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        }
    )
    since = datetime.now(UTC) - timedelta(days=2)

    async def read() -> list[Any]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
            connector = QboConnector(
                base_url="https://quickbooks.api.intuit.com",
                credentials=store,
                http=http,
                settings=ConnectorSettings(),
            )
            return await collect(connector, {"since": since.isoformat()})

    (page,) = asyncio.run(read())
    assert [c["Id"] for c in page.customers] == ["58"]
    assert page.deleted_ids == ["61"]
    # The newest change, deleted or not, less the lag.
    assert page.checkpoint == {"since": (newest - timedelta(seconds=60)).isoformat()}
    (request,) = seen
    assert request.url.path == "/v3/company/4620816365231419/cdc"
    assert request.url.params["entities"] == "Customer"
    assert request.url.params["minorversion"] == "75"
    assert request.headers["Authorization"] == "Bearer at"
