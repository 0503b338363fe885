"""Where a page's customers are mapped: in the thread that saves the page, not on the event
loop that reads the next one (`providers.base.MappedOnRead`); a customer the mapper refuses
fails the run there, before its page is saved, and the next run reads from that page."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from ledgerbridge.db import read_transaction
from ledgerbridge.providers.base import MappedCustomer, MappedOnRead
from ledgerbridge.providers.qbo import mapper
from ledgerbridge.sync import leases
from ledgerbridge.sync.engine import SyncEnvironment, run_sync
from providers.qbo.live_sync import SyncSetup, seed_realm
from sync.lossless import compare, read_all

pytestmark = pytest.mark.anyio


def test_a_page_is_mapped_once_when_first_read_one_record_at_a_time() -> None:
    calls: list[int] = []

    def mapping(native: int) -> MappedCustomer:
        calls.append(native)
        return mapper.mapped(
            {"Id": str(native), "SyncToken": "0", "MetaData": _meta(), "DisplayName": "A"}
        )

    page = MappedOnRead([1, 2, 3], mapping)
    assert len(page) == 3
    assert calls == []  # counting maps nothing
    records = iter(page)
    assert next(records).external_id == "1"
    assert calls == [1]  # a record is mapped as it is read, while its reader works on it
    assert [record.external_id for record in records] == ["2", "3"]
    assert [record.external_id for record in page] == ["1", "2", "3"]
    assert page[1].external_id == "2"
    assert [record.external_id for record in page[1:]] == ["2", "3"]
    assert calls == [1, 2, 3]  # once, whatever reads it next


def _meta() -> dict[str, str]:
    return {
        "CreateTime": "2026-01-02T03:04:05-08:00",
        "LastUpdatedTime": "2026-01-02T03:04:05-08:00",
    }


async def test_customers_are_mapped_in_the_saving_thread_and_a_refused_one_fails_its_page(
    qbo: SyncSetup, env: SyncEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_realm(qbo.app, 120)  # pages of 50: the refused customer is on the second
    every = "SELECT * FROM Customer WHERE Active IN (true, false) MAXRESULTS 1000"
    refused = sorted((c["Id"] for c in qbo.realm.query(every)), key=int)[60]
    threads: set[str] = set()
    real = mapper.mapped

    def watched(customer: Any) -> MappedCustomer:
        threads.add(threading.current_thread().name)
        if customer["Id"] == refused:
            raise ValueError(f"customer {refused} cannot be mapped")
        return real(customer)

    monkeypatch.setattr(mapper, "mapped", watched)
    failed = await run_sync(env, qbo.connection_id)
    assert failed.status == "failed"
    assert failed.error == f"customer {refused} cannot be mapped"
    assert threads
    assert threading.main_thread().name not in threads, threads
    saved = qbo.records()
    assert len(saved) == 50  # the first page, and none of the refused customer's
    assert refused not in saved
    with read_transaction(env.engine) as conn:
        checkpoint, _ = leases.starting_point(conn, qbo.connection_id)
    assert checkpoint is not None
    assert checkpoint["after_id"] == max(saved, key=int)

    monkeypatch.setattr(mapper, "mapped", real)
    succeeded = await run_sync(env, qbo.connection_id)
    assert succeeded.status == "succeeded"
    platform = qbo.realm.query(every)
    assert len(platform) == 120
    compare("qbo", platform, read_all(qbo.server.url, qbo.connection_id)).assert_equal()
