"""sageintacctrestsdk, a client we did not write, against the sandbox over real HTTP.

The SDK has no base URL parameter: every module imports `BASE_URL` from its constants, so
pointing it elsewhere means setting that name where it is used (`intacctsdk.intacctsdk`
for the token, `intacctsdk.apis.api_base` for everything else).
"""

from __future__ import annotations

import intacctsdk.apis.api_base
import intacctsdk.intacctsdk
import pytest
from fastapi import FastAPI
from intacctsdk import BadRequestError, IntacctRESTSDK

from conftest import LiveServer
from ledgerbridge.providers.intacct.sandbox import MOUNT_PATH, provider


@pytest.fixture
def sdk(app: FastAPI, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> IntacctRESTSDK:
    base = live_server.url + MOUNT_PATH
    monkeypatch.setattr(intacctsdk.intacctsdk, "BASE_URL", base)
    monkeypatch.setattr(intacctsdk.apis.api_base, "BASE_URL", base)
    provider.seed(app.state.sandbox, "ACME", 4500, seed=3)
    creds = provider.credentials(app.state.sandbox, "ACME")
    return IntacctRESTSDK(
        username=creds["username"],
        client_id=creds["client_id"],
        client_secret=creds["client_secret"],
    )


def test_the_sdk_pages_gets_creates_updates_and_deletes(sdk: IntacctRESTSDK) -> None:
    # Client-credentials token, fetched by the SDK's own constructor.
    assert sdk.access_token.count(".") == 2
    assert sdk.access_token_expires_in == 3600

    # Paging every customer through the query service, 2000 rows a page.
    pages = list(sdk.customers.get_all_generator(fields=["key", "id", "name", "parent.id"]))
    assert [len(page) for page in pages] == [2000, 2000, 500]
    keys = [row["key"] for page in pages for row in page]
    assert len(set(keys)) == 4500
    assert sdk.customers.count() == 4500
    active = sdk.customers.count(filters=[{"$eq": {"status": "active"}}])
    assert 0 < active < 4500

    created = sdk.customers.post({"id": "SDK-1", "name": "Made by the SDK", "creditLimit": 1500})
    key = created["ia::result"]["key"]
    fetched = sdk.customers.get_by_key(key)["ia::result"]
    assert fetched["name"] == "Made by the SDK"
    assert fetched["creditLimit"] == 1500

    sdk.customers.update(key, {"status": "inactive"})
    updated = sdk.customers.get_by_key(key)["ia::result"]
    assert updated["status"] == "inactive"
    assert updated["name"] == "Made by the SDK"

    assert sdk.customers.delete(key) is None
    with pytest.raises(BadRequestError) as missing:
        sdk.customers.get_by_key(key)
    assert "notFound" in str(missing.value.response)


def test_the_sdk_works_within_an_entity(
    app: FastAPI, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK's `entity_id` sends `X-IA-API-Param-Entity` on every object and query call
    (and none to `company-config/entity`): a customer it creates belongs to the entity."""
    base = live_server.url + MOUNT_PATH
    monkeypatch.setattr(intacctsdk.intacctsdk, "BASE_URL", base)
    monkeypatch.setattr(intacctsdk.apis.api_base, "BASE_URL", base)
    context = app.state.sandbox
    provider.seed(context, "GLOBEX", 20, seed=3)
    provider.seed_entities(context, "GLOBEX")
    creds = provider.credentials(context, "GLOBEX")

    def client(entity_id: str | None) -> IntacctRESTSDK:
        return IntacctRESTSDK(
            username=creds["username"],
            client_id=creds["client_id"],
            client_secret=creds["client_secret"],
            entity_id=entity_id,
        )

    east, top = client("US-EAST"), client(None)
    key = east.customers.post({"name": "Made in US-EAST"})["ia::result"]["key"]
    assert east.customers.get_by_key(key)["ia::result"]["entity"]["id"] == "US-EAST"
    assert east.customers.count() == 21
    # Private to the entity: the top level sees it only with includePrivate.
    assert top.customers.count() == 20
    assert top.customers.count(filter_parameters={"includePrivate": True}) == 21
    with pytest.raises(BadRequestError):
        top.customers.get_by_key(key)
    listed = east.location_entities._get_request()["ia::result"]
    assert [entity["id"] for entity in listed] == ["US-EAST", "US-WEST", "UK"]
