"""The provider object the CLI uses: seeding, credentials, reset."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from ledgerbridge.providers.qbd.sandbox import provider
from ledgerbridge.providers.registry import get_platform
from ledgerbridge.sandbox.base import LazySandbox
from providers.qbd.support import Conductor


def test_registered_and_mounted() -> None:
    sandbox = get_platform("qbd").sandbox
    assert isinstance(sandbox, LazySandbox)
    assert sandbox.provider is provider  # named in the registry, loaded on first use
    assert provider.mount_path == "/sandbox/conductor/v1"


def test_same_seed_same_company_file(app: FastAPI, conductor: Conductor) -> None:
    context = app.state.sandbox
    provider.seed(context, "end_usr_twin", 120, seed=7)
    twin = conductor.client.get(
        "/sandbox/conductor/v1/quickbooks-desktop/customers",
        params={"status": "all"},
        headers={"Conductor-End-User-Id": "end_usr_twin"},
    ).json()["data"]
    original = conductor.all_customers(status="all")
    assert [c["fullName"] for c in twin] == [c["fullName"] for c in original]
    assert [c["totalBalance"] for c in twin] == [c["totalBalance"] for c in original]


def test_credentials_are_stable_and_reset_forgets_the_end_user(
    app: FastAPI, conductor: Conductor
) -> None:
    context = app.state.sandbox
    credentials = provider.credentials(context, conductor.end_user_id)
    assert credentials["CONDUCTOR_SECRET_KEY"] == conductor.secret_key
    assert credentials["CONDUCTOR_SECRET_KEY"].startswith("sk_")
    assert credentials["CONDUCTOR_BASE_URL"].endswith("/sandbox/conductor/v1")
    provider.reset(context, conductor.end_user_id)
    with pytest.raises(LookupError, match="seed it first"):
        provider.credentials(context, conductor.end_user_id)
    gone = conductor.get("/quickbooks-desktop/customers")
    assert gone.json()["error"]["code"] == "RESOURCE_MISSING"
    # Seeding again brings it back, with the same key.
    provider.seed(context, conductor.end_user_id, 3, seed=1)
    assert len(conductor.all_customers(status="all")) == 3
