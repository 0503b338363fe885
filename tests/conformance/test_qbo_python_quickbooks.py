"""Conformance: python-quickbooks with intuit-oauth, unchanged, against the QuickBooks
Online sandbox over real loopback HTTP. Only the base URLs differ from production: the
discovery document's URL as intuit-oauth's `environment`, and `api_url_v3` on the client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from fastapi import FastAPI
from intuitlib.client import AuthClient
from quickbooks import QuickBooks
from quickbooks.batch import batch_create
from quickbooks.cdc import change_data_capture
from quickbooks.exceptions import (
    ObjectNotFoundException,
    QuickbooksException,
    ValidationException,
)
from quickbooks.objects.base import Address, EmailAddress, Ref
from quickbooks.objects.customer import Customer

from conftest import LiveServer
from ledgerbridge.providers.registry import get_platform

REALM = "4620816365231419"


@pytest.fixture
def qb(app: FastAPI, live_server: LiveServer) -> Iterator[QuickBooks]:
    """A python-quickbooks client that starts, as in production, with only a refresh
    token: intuit-oauth reads the discovery document and refreshes through it."""
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"  # plain http on loopback
    sandbox = get_platform("qbo").sandbox
    sandbox.seed(app.state.sandbox, REALM, 250, 11)
    # Every refresh rotates (Intuit's default returns the same token for 24 hours).
    single_use = {"refresh_token_single_use": True}
    admin = f"{live_server.url}/sandbox/qbo/_admin/tenants/{REALM}"
    httpx.patch(admin, json=single_use, timeout=10).raise_for_status()
    credentials = sandbox.credentials(app.state.sandbox, REALM)
    auth_client = AuthClient(
        client_id=credentials["client_id"],
        client_secret=credentials["client_secret"],
        redirect_uri="http://localhost/callback",
        environment=f"{live_server.url}/sandbox/qbo/.well-known/openid_configuration",
    )
    client = QuickBooks(
        auth_client=auth_client,
        refresh_token=credentials["refresh_token"],
        company_id=REALM,
        minorversion=75,
    )
    client.api_url_v3 = f"{live_server.url}/sandbox/qbo/v3"
    # The refresh rotated the token: the one we started with is dead now.
    assert auth_client.refresh_token != credentials["refresh_token"]
    yield client
    client._drop()


def _new_customer(name: str) -> Customer:
    customer = Customer()
    customer.DisplayName = name
    customer.GivenName = "Ada"
    customer.FamilyName = "Lovelace"
    customer.PrimaryEmailAddr = EmailAddress()
    customer.PrimaryEmailAddr.Address = "ada@example.com"
    customer.BillAddr = Address()
    customer.BillAddr.Line1 = "12 Ocean Dr."
    customer.BillAddr.City = "Half Moon Bay"
    return customer


def test_save_create_get_and_update(qb: QuickBooks) -> None:
    created = _new_customer("Ada Lovelace Consulting").save(qb=qb)
    assert created.Id
    assert created.SyncToken == "0"
    fetched = Customer.get(created.Id, qb=qb)
    assert fetched.DisplayName == "Ada Lovelace Consulting"
    fetched.Notes = "Prefers e-mail"
    updated = fetched.save(qb=qb)
    assert updated.SyncToken == "1"
    assert Customer.get(created.Id, qb=qb).Notes == "Prefers e-mail"


def test_sdk_raises_the_mapped_exceptions(qb: QuickBooks) -> None:
    with pytest.raises(ObjectNotFoundException):
        Customer.get(999_999, qb=qb)
    _new_customer("Duplicate Co").save(qb=qb)
    # python-quickbooks has no class for 5000-9999: a plain QuickbooksException.
    with pytest.raises(QuickbooksException) as duplicate:
        _new_customer("duplicate co").save(qb=qb)
    assert duplicate.value.error_code == 6240
    with pytest.raises(ValidationException) as excinfo:
        qb.query("SELECT * FROM Customer WHERE")
    assert excinfo.value.error_code == 4000


def test_all_with_paging_count_filter_where_choose(qb: QuickBooks) -> None:
    total = Customer.count(qb=qb)
    seen = []
    start = 1
    while True:
        page = Customer.all(start_position=start, max_results=100, qb=qb)
        seen.extend(c.Id for c in page)
        if len(page) < 100:
            break
        start += 100
    assert len(seen) == len(set(seen)) == total
    some = Customer.filter(Active=True, max_results=5, order_by="DisplayName", qb=qb)
    assert len(some) == 5
    names = [c.DisplayName.lower() for c in some]
    assert names == sorted(names)
    where = Customer.where("Job = true", order_by="Id", start_position=1, max_results=50, qb=qb)
    assert where
    assert all(c.Job for c in where)
    chosen = Customer.choose([seen[0], seen[1]], qb=qb)
    assert {c.Id for c in chosen} == {seen[0], seen[1]}
    assert Customer.count("Active IN (true, false)", qb=qb) == 250


def test_change_data_capture(qb: QuickBooks) -> None:
    _new_customer("Changed Today").save(qb=qb)
    # The SDK formats the time without an offset; the sandbox reads it in the company's
    # zone (-07:00 by default), so the caller passes company-local time.
    since = datetime.now(timezone(timedelta(hours=-7))) - timedelta(hours=1)
    result = change_data_capture([Customer], since, qb=qb)
    names = [c.DisplayName for c in result.Customer]
    assert "Changed Today" in names


def test_change_data_capture_reports_a_merged_customer_as_deleted(
    qb: QuickBooks, live_server: LiveServer
) -> None:
    keep = _new_customer("Keep Me").save(qb=qb)
    duplicate = _new_customer("Duplicate Of Keep").save(qb=qb)
    merge = f"{live_server.url}/sandbox/qbo/_admin/tenants/{REALM}/customers/{duplicate.Id}/merge"
    httpx.post(merge, json={"into": int(keep.Id)}, timeout=10).raise_for_status()
    since = datetime.now(timezone(timedelta(hours=-7))) - timedelta(hours=1)
    result = change_data_capture([Customer], since, qb=qb)
    by_id = {c.Id: c for c in result.Customer}
    assert by_id[keep.Id].DisplayName == "Keep Me"
    assert by_id[duplicate.Id].status == "Deleted"  # the SDK keeps Intuit's marker
    with pytest.raises(ObjectNotFoundException):  # 610
        Customer.get(duplicate.Id, qb=qb)


def test_batch_create(qb: QuickBooks) -> None:
    first, second = _new_customer("Batch A"), _new_customer("Batch B")
    clash = _new_customer("Batch A")
    result = batch_create([first, second, clash], qb=qb)
    assert len(result.successes) == 2
    assert len(result.faults) == 1
    assert result.faults[0].Error[0].code == "6240"


def test_job_with_parent_ref(qb: QuickBooks) -> None:
    parent = _new_customer("Parent Account").save(qb=qb)
    job = _new_customer("Kitchen Remodel")
    job.Job = True
    job.ParentRef = Ref()
    job.ParentRef.value = parent.Id
    saved = job.save(qb=qb)
    assert saved.FullyQualifiedName == "Parent Account:Kitchen Remodel"
    assert saved.Level == 1
