"""Tenants are created only by `sandbox create` (or the admin API's PUT) and `sandbox seed`:
an unknown one is refused with one clear line, and each platform answers it its own way."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from asgi_client import TestClient
from ledgerbridge.cli import app as cli
from ledgerbridge.providers.registry import get_platform, platform_names


@pytest.mark.parametrize("provider", platform_names())
def test_credentials_of_an_unknown_tenant_are_refused(app: FastAPI, provider: str) -> None:
    sandbox = get_platform(provider).sandbox
    with pytest.raises(LookupError, match="create or seed it first"):
        sandbox.credentials(app.state.sandbox, "typo_tenant")
    sandbox.create(app.state.sandbox, "typo_tenant")
    assert sandbox.credentials(app.state.sandbox, "typo_tenant")


@pytest.mark.parametrize("provider", platform_names())
def test_cli_create_then_token(cli_in_process: CliRunner, provider: str) -> None:
    runner = cli_in_process
    refused = runner.invoke(cli, ["sandbox", "token", "--provider", provider, "--tenant", "T1"])
    assert refused.exit_code == 1
    assert refused.output.strip().count("\n") == 0  # one line
    assert "create or seed it first" in refused.output
    created = runner.invoke(cli, ["sandbox", "create", "--provider", provider, "--tenant", "T1"])
    assert created.exit_code == 0, created.output
    issued = runner.invoke(cli, ["sandbox", "token", "--provider", provider, "--tenant", "T1"])
    assert issued.exit_code == 0, issued.output


def test_the_admin_api_creates_a_tenant(client: TestClient) -> None:
    created = client.put("/sandbox/qbo/_admin/tenants/4242", json={})
    assert created.status_code == 200
    assert client.get("/sandbox/qbo/_admin/tenants/4242").status_code == 200
