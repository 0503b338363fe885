"""Helpers of the QuickBooks Desktop sandbox tests: a client bound to a seeded end user, a
movable clock, and Conductor's published schemas to validate responses against."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import jsonschema

from asgi_client import TestClient
from ledgerbridge.providers.qbd import wire
from ledgerbridge.sandbox.base import SandboxContext

BASE = "/sandbox/conductor/v1"
END_USER = "end_usr_test1234"
SEEDED = 120


def schema_validator(pointer: str) -> jsonschema.Draft202012Validator:
    """A validator for the schema at `pointer` in Conductor's OpenAPI document."""
    document = wire.openapi()
    schema: Any = document
    for part in pointer.split("/"):
        schema = schema[part.replace("~1", "/")]
    return jsonschema.Draft202012Validator({**schema, "components": document["components"]})


LIST_SCHEMA = schema_validator(
    "paths/~1quickbooks-desktop~1customers/get/responses/200/content/application~1json/schema"
)
CUSTOMER_SCHEMA = schema_validator("components/schemas/qbd_customer")
ERROR_SCHEMA = schema_validator("components/schemas/ErrorResponse")
DELETED_SCHEMA = schema_validator(
    "paths/~1quickbooks-desktop~1deleted-list-objects/get/responses/200/content/"
    "application~1json/schema"
)


def assert_error(response: httpx.Response, status: int, type_: str, code: str) -> dict[str, Any]:
    """The response is Conductor's error envelope with this status, type and code."""
    body: dict[str, Any] = response.json()
    ERROR_SCHEMA.validate(body)
    assert response.status_code == status, body
    assert (body["error"]["type"], body["error"]["code"]) == (type_, code), body
    assert body["error"]["httpStatusCode"] == status
    assert body["error"]["requestId"] == response.headers["conductor-request-id"]
    return body


@dataclass
class Clock:
    """A sandbox clock the test moves forward."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Conductor:
    """A seeded end user and a client already carrying its key and id."""

    client: TestClient
    context: SandboxContext
    clock: Clock
    secret_key: str
    end_user_id: str = END_USER

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(BASE + path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.post(BASE + path, **kwargs)

    def all_customers(self, **params: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        response = self.get("/quickbooks-desktop/customers", params=params)
        while True:
            body = response.json()
            assert response.status_code == 200, body
            found += body["data"]
            if body["nextCursor"] is None:
                return found
            response = self.get(
                "/quickbooks-desktop/customers", params={**params, "cursor": body["nextCursor"]}
            )

    def configure(self, **changes: Any) -> None:
        response = self.client.patch(f"{BASE}/_admin/tenants/{self.end_user_id}", json=changes)
        assert response.status_code == 200, response.text
