"""The OpenAPI document tells the truth: a schema-driven fuzzer (schemathesis) sends
requests built from `/openapi.json` to a real server over loopback and checks every answer
against the document (status codes, response schemas, content types, headers, no 5xx).
Bounded: a few examples per operation, derandomized, so it runs the same each time."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ledgerbridge.sync.engine import SyncEnvironment, run_sync
from providers.qbo.live_sync import SyncSetup, env, qbo, seed_realm

pytestmark = pytest.mark.anyio

__all__ = ["env", "qbo"]  # fixtures

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
    response_headers_conformance,
]
EXAMPLES_PER_OPERATION = 12


def _fuzz_operation(operation: Any, base_url: str, headers: dict[str, str]) -> set[int]:
    """`EXAMPLES_PER_OPERATION` cases of one operation; the statuses it answered."""
    answered: set[int] = set()

    @given(case=operation.as_strategy(), known=st.booleans())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any, known: bool) -> None:
        # Half the cases name the real connection, so answers are records, not 404s.
        sent = {**(case.headers or {}), "Authorization": headers["Authorization"]}
        if known and "Connection-Id" in sent:
            sent["Connection-Id"] = headers["Connection-Id"]
        if known:  # the operator key's own environment, where the connection is
            sent.pop("Ledgerbridge-Environment", None)
        case.headers = sent
        response = case.call_and_validate(base_url=base_url, checks=CHECKS)
        answered.add(response.status_code)

    check()
    return answered


def _fuzz(base_url: str, headers: dict[str, str]) -> dict[str, set[int]]:
    """Every operation of the document; the statuses each answered."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    answered = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        name = f"{operation.method.upper()} {operation.path}"
        answered[name] = _fuzz_operation(operation, base_url, headers)
    return answered


async def test_every_answer_matches_the_openapi_document(
    qbo: SyncSetup, env: SyncEnvironment
) -> None:
    seed_realm(qbo.app, 30)
    assert (await run_sync(env, qbo.connection_id)).status == "succeeded"
    headers = {"Authorization": "Bearer lb_test_key", "Connection-Id": qbo.connection_id}
    answered = _fuzz(qbo.server.url, headers)
    assert len(answered) == 28, answered
    # Cases reached past validation: records were served, and writes reached the platform
    # (which takes or refuses random customers: 201 or its own 422).
    assert 200 in answered["GET /customers"], answered
    assert answered["POST /customers"] & {201, 422}, answered


def test_the_document_declares_the_bearer_key_and_our_error_envelope(
    qbo: SyncSetup,
) -> None:
    document = httpx.get(f"{qbo.server.url}/openapi.json").json()
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    customers = document["paths"]["/customers"]["get"]
    assert customers["security"] == [{"bearer": []}]
    assert set(customers["responses"]) == {"200", "400", "401", "404"}
    header = next(p for p in customers["parameters"] if p["name"] == "Connection-Id")
    assert header["required"] is True
    authorize = document["paths"]["/connections/{provider}/authorize"]["get"]["responses"]["307"]
    assert "content" not in authorize
    assert "Location" in authorize["headers"]
    for path in document["paths"].values():
        for operation in path.values():
            assert "422" not in operation["responses"] or operation["responses"]["422"]["content"][
                "application/json"
            ]["schema"] == {"$ref": "#/components/schemas/ErrorEnvelope"}
    assert "HTTPValidationError" not in document["components"]["schemas"]
