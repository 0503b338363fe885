"""Fuzzing the Conductor sandbox with Conductor's own published OpenAPI document
(`providers/fuzzing.py`): never a 5xx, every error in Conductor's envelope."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi import FastAPI
from schemathesis import GenerationMode

from conftest import LiveServer
from ledgerbridge.providers.qbd.sandbox import provider
from providers.fuzzing import MODES, fuzz_operation, operation_id, operations
from providers.qbd.support import END_USER, ERROR_SCHEMA

# A copy of shared/reference/data/conductor-customer-openapi.json (Conductor's published
# document, cut to the customer paths).
SPEC = Path(__file__).parents[1] / "data" / "conductor-customer-openapi.json"


def _conductor_error(response: requests.Response) -> None:
    ERROR_SCHEMA.validate(response.json())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("operation", operations(SPEC), ids=operation_id)
def test_no_input_the_document_allows_breaks_the_sandbox(
    app: FastAPI, live_server: LiveServer, operation: Any, mode: GenerationMode
) -> None:
    context = app.state.sandbox
    provider.seed(context, END_USER, 20, seed=5)
    key = provider.credentials(context, END_USER)["CONDUCTOR_SECRET_KEY"]
    fuzz_operation(
        operation,
        mode,
        base_url=live_server.url + provider.mount_path,
        headers={"Authorization": f"Bearer {key}", "Conductor-End-User-Id": END_USER},
        check_error=_conductor_error,
    )
