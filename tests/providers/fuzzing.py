"""Schema-driven fuzzing of a sandbox with its platform's own published OpenAPI document
(schemathesis), over real loopback HTTP: whatever the document lets a client send, valid
or not, the answer is never a 5xx and every error is in the platform's envelope."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

EXAMPLES = 20
"""Examples a mode per operation: bounded so each document fuzzes in seconds."""
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]


def operations(document: Path) -> list[Any]:
    """The operations of a published OpenAPI document, to parametrize a test over."""
    schema = schemathesis.openapi.from_dict(json.loads(document.read_text()))
    return [result.ok() for result in schema.get_all_operations()]


def operation_id(operation: Any) -> str:
    return f"{operation.method} {operation.path}"


def fuzz_operation(
    operation: Any,
    mode: GenerationMode,
    *,
    base_url: str,
    headers: Mapping[str, str],
    check_error: Callable[[requests.Response], None],
) -> None:
    """Send `EXAMPLES` generated requests of `operation`; none may get a 5xx, and every
    4xx must pass `check_error` (the platform's error envelope)."""
    session = requests.Session()

    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy(generation_mode=mode))
        response = case.call(base_url=base_url, session=session, headers=dict(headers), timeout=30)
        assert response.status_code < 500, (case.as_curl_command(), response.text)
        if response.status_code >= 400:
            check_error(response)

    try:
        fuzz()
    except Unsatisfiable:
        # Negative mode needs a constraint to break; some operations declare none.
        pytest.skip("the document leaves no invalid input to generate for this operation")
