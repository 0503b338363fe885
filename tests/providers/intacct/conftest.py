"""Fixtures for the Intacct sandbox: a seeded company and a client holding its token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from asgi_client import TestClient
from providers.intacct.support import SPEC_PATH, Company, make_company


@pytest.fixture
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.fixture
def company(app: FastAPI, http: TestClient) -> Company:
    """A company with 60 seeded customers."""
    return make_company(app, http, "ACME", 60)


def _nullable_to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` is JSON Schema's `type: [..., "null"]`."""
    if isinstance(node, dict):
        converted = {key: _nullable_to_jsonschema(value) for key, value in node.items()}
        if converted.pop("nullable", False) and isinstance(converted.get("type"), str):
            converted["type"] = [converted["type"], "null"]
        return converted
    if isinstance(node, list):
        return [_nullable_to_jsonschema(item) for item in node]
    return node


@pytest.fixture(scope="session")
def openapi() -> dict[str, Any]:
    spec: dict[str, Any] = _nullable_to_jsonschema(json.loads(SPEC_PATH.read_text()))
    return spec
