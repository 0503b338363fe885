"""Fuzzing the Intacct sandbox with Sage's own published OpenAPI document
(`providers/fuzzing.py`): never a 5xx, every error the `ia::result.ia::error` envelope."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from fastapi import FastAPI
from schemathesis import GenerationMode

from conftest import LiveServer
from ledgerbridge.providers.intacct.sandbox import MOUNT_PATH, provider
from providers.fuzzing import MODES, fuzz_operation, operation_id, operations
from providers.intacct.support import SPEC_PATH


def _intacct_error(response: requests.Response) -> None:
    assert "ia::error" in response.json()["ia::result"], response.text


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("operation", operations(SPEC_PATH), ids=operation_id)
def test_no_input_the_document_allows_breaks_the_sandbox(
    app: FastAPI, live_server: LiveServer, operation: Any, mode: GenerationMode
) -> None:
    context = app.state.sandbox
    provider.seed(context, "ACME", 20, seed=5)
    # Limits off: the fuzzer calls one at a time, and a 429 would hide the answer.
    admin = f"{live_server.url}{MOUNT_PATH}/_admin/tenants/ACME"
    requests.patch(admin, json={"max_concurrent": None}, timeout=30)
    token = provider.credentials(context, "ACME")["access_token"]
    fuzz_operation(
        operation,
        mode,
        base_url=live_server.url + MOUNT_PATH,
        headers={"Authorization": f"Bearer {token}"},
        check_error=_intacct_error,
    )
