"""conductor-py, a client we did not write, against the Conductor sandbox over real
loopback HTTP: only the base URL changes."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import conductor
import httpx
import pytest
from conductor import Conductor
from fastapi import FastAPI

from ledgerbridge.providers.qbd.sandbox import provider

END_USER = "end_usr_conformance"
SEEDED = 340


@pytest.fixture
def sdk(app: FastAPI, live_server: object) -> Iterator[Conductor]:
    context = app.state.sandbox
    provider.seed(context, END_USER, SEEDED, seed=11)
    key = provider.credentials(context, END_USER)["CONDUCTOR_SECRET_KEY"]
    base_url = f"{live_server.url}/sandbox/conductor/v1"  # type: ignore[attr-defined]
    with Conductor(api_key=key, base_url=base_url, max_retries=0) as client:
        yield client


def test_list_auto_paginates_across_pages_with_filters(sdk: Conductor) -> None:
    every = list(sdk.qbd.customers.list(conductor_end_user_id=END_USER, status="all", limit=150))
    assert len(every) == SEEDED  # three pages
    assert len({c.id for c in every}) == SEEDED
    active = list(sdk.qbd.customers.list(conductor_end_user_id=END_USER, limit=40))
    assert active
    assert all(c.is_active for c in active)
    first_page = sdk.qbd.customers.list(conductor_end_user_id=END_USER, status="all", limit=100)
    assert first_page.has_next_page()
    assert len(first_page.data) == 100
    # Several filters at once, still paged by the SDK.
    rich = [c for c in every if Decimal(c.total_balance or "0") > 100]
    filtered = list(
        sdk.qbd.customers.list(
            conductor_end_user_id=END_USER,
            status="all",
            limit=25,
            total_balance_greater_than="100",
            currency_ids=sorted({c.currency.id for c in every if c.currency}),
        )
    )
    assert {c.id for c in filtered} == {c.id for c in rich}
    by_ids = sdk.qbd.customers.list(conductor_end_user_id=END_USER, ids=[every[0].id, every[-1].id])
    assert {c.id for c in by_ids} == {every[0].id, every[-1].id}


def test_retrieve_create_update_and_stale_revision(sdk: Conductor) -> None:
    parent = sdk.qbd.customers.create(
        conductor_end_user_id=END_USER,
        name="Conformance Parent",
        company_name="Conformance LLC",
        opening_balance="10.00",
        billing_address={"line1": "1 Main St", "city": "Oakland", "state": "CA"},
    )
    job = sdk.qbd.customers.create(
        conductor_end_user_id=END_USER,
        name="Job 1",
        parent_id=parent.id,
        opening_balance="2.50",
        job_status="in_progress",
    )
    assert job.full_name == "Conformance Parent:Job 1"
    assert job.parent is not None
    assert job.parent.id == parent.id
    fetched = sdk.qbd.customers.retrieve(parent.id, conductor_end_user_id=END_USER)
    assert (fetched.total_balance, fetched.balance) == ("12.50", "10.00")
    assert fetched.billing_address is not None
    assert fetched.billing_address.city == "Oakland"
    updated = sdk.qbd.customers.update(
        parent.id,
        conductor_end_user_id=END_USER,
        revision_number=fetched.revision_number,
        email="billing@conformance.example",
    )
    assert updated.email == "billing@conformance.example"
    assert updated.revision_number != fetched.revision_number
    with pytest.raises(conductor.BadRequestError) as raised:
        sdk.qbd.customers.update(
            parent.id,
            conductor_end_user_id=END_USER,
            revision_number=fetched.revision_number,
            note="stale",
        )
    assert raised.value.status_code == 400
    error = raised.value.body["error"]  # type: ignore[index]
    assert (error["code"], error["integrationCode"]) == ("QBD_REQUEST_ERROR", "3200")
    with pytest.raises(conductor.NotFoundError):
        sdk.qbd.customers.retrieve("80009999-1700000000", conductor_end_user_id=END_USER)


def test_wrong_key_raises_authentication_error(sdk: Conductor) -> None:
    wrong = sdk.with_options(api_key="sk_test_wrong_wrong_wrong")
    with pytest.raises(conductor.AuthenticationError):
        wrong.qbd.customers.list(conductor_end_user_id=END_USER)


def test_deleted_list_objects_through_the_sdk(sdk: Conductor) -> None:
    lonely = sdk.qbd.customers.create(conductor_end_user_id=END_USER, name="Soon Gone")
    # Deleting outright happens in the desktop app; the sandbox's admin API stands in for it.
    admin = f"{sdk.base_url}_admin/tenants/{END_USER}/customers/{lonely.id}"
    assert httpx.delete(admin).status_code == 204
    deleted = sdk.qbd.deleted_list_objects.list(
        conductor_end_user_id=END_USER, object_types=["customer"]
    )
    assert [(d.id, d.full_name) for d in deleted.data] == [(lonely.id, "Soon Gone")]
