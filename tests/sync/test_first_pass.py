"""A connection's first sync reads no key list (`sync.engine.needs_key_lists`): it could
delete nothing, since the reconciliation spares every record changed after its pass
began. Later full passes still read one, and still find what was merged away."""

from __future__ import annotations

import httpx
import pytest

from conftest import sync_environment
from ledgerbridge.sync.engine import needs_key_lists, run_sync
from providers.qbo.live_sync import SyncSetup, seed_realm
from sync.lossless import CursorConsumer
from sync.test_no_lost_change import Realm, _check

pytestmark = pytest.mark.anyio

KEY_LIST = "SELECT Id FROM Customer"


def test_only_a_pass_begun_on_a_connection_with_something_stored_needs_key_lists() -> None:
    assert not needs_key_lists(0)
    assert needs_key_lists(1)


async def test_a_first_sync_reads_no_key_list_and_a_later_full_sync_does(qbo: SyncSetup) -> None:
    realm = Realm(qbo)
    seed_realm(qbo.app, 45)
    consumer = CursorConsumer(qbo.server.url, qbo.connection_id, "qbo")
    queries: list[str] = []

    async def record(request: httpx.Request) -> None:
        if request.url.path.endswith("/query"):
            queries.append(request.url.params["query"])

    async with sync_environment(qbo.app, page_size=20, key_page_size=20) as env:
        env.http.event_hooks["request"].append(record)
        first = await run_sync(env, qbo.connection_id)
        assert (first.status, first.kind) == ("succeeded", "full"), first.error
        assert first.added + first.deleted == 45  # the inactive ones are stored deleted
        assert [q for q in queries if q.startswith(KEY_LIST)] == []
        assert len(queries) == 1 + 3  # the count, then three pages of customers
        _check(realm, qbo, consumer)

        # Merged away before a later full pass: that pass reads the key list, which lacks it.
        everyone = [c for c in realm.customers() if c["Active"] and not c.get("Job")]
        parents = {c["ParentRef"]["value"] for c in realm.customers() if c.get("ParentRef")}
        away, survivor = [c["Id"] for c in everyone if c["Id"] not in parents][:2]
        consumer.platform_deletes.add(away)
        realm.merge(away, survivor)
        queries.clear()
        again = await run_sync(env, qbo.connection_id, full=True)
        assert (again.status, again.kind, again.deleted) == ("succeeded", "full", 1), again.error
        assert len([q for q in queries if q.startswith(KEY_LIST)]) == 3  # 44 ids, 20 a page
        _check(realm, qbo, consumer)
