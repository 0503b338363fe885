"""Reading customers with the QuickBooks Online connector over loopback HTTP: full runs
(concurrent pages, resume), incremental runs (CDC, keyset with boundary de-duplication,
one-second fallback) and checkpoints."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ledgerbridge.db import read_transaction
from ledgerbridge.providers.base import CustomerPage
from ledgerbridge.providers.qbo.sandbox import store
from providers.key_lists import listed_ids
from providers.qbo.connector_support import QboConnection, Recorder, collect, ids_of, run

BILL = {"line1": "1 Main St", "city": "Tucson"}
# Older than CDC's 29 days, so incremental runs from here use the keyset query.
OLD = (datetime.now(UTC) - timedelta(days=40)).replace(hour=10, minute=0, second=0, microsecond=0)


def _since(page: CustomerPage) -> datetime:
    return datetime.fromisoformat(page.checkpoint["since"])


@pytest.mark.parametrize(
    ("customers", "page_size"),
    [
        (230, 40),  # 6 full pages and a short one; ids cross 9→10 and 99→100
        (80, 40),  # a multiple of the page: the end is an empty page
        (0, 40),  # an empty company
    ],
)
def test_full_run_reads_every_customer_once(
    qbo_connection: QboConnection, customers: int, page_size: int
) -> None:
    qbo_connection.seed(customers)
    expected = qbo_connection.sandbox_ids()
    recorder = Recorder()
    started = datetime.now(UTC)
    pages = run(
        lambda http: collect(qbo_connection.connector(http, page_size=page_size), None), recorder
    )

    ids = ids_of(pages)
    assert ids == expected  # all of them, inactive ones too, once, in numeric Id order
    assert len(expected) == customers
    assert [int(i) for i in ids] == sorted(int(i) for i in ids)
    assert all(page.total == customers for page in pages)
    *middle, last = pages
    for page in middle:
        assert page.checkpoint == {
            "full": True,
            "after_id": page.records[-1].external_id,
            "since": last.checkpoint["since"],
        }
    assert set(last.checkpoint) == {"since"}
    # The server's time of the first answer, less the 60 s lag.
    lagged = started - timedelta(seconds=60)
    assert lagged - timedelta(seconds=2) <= _since(last) <= lagged + timedelta(seconds=5)
    calls = recorder.api_calls()
    assert calls[0] == "query: SELECT COUNT(*) FROM Customer WHERE Active IN (true, false)"
    assert calls[1] == (
        "query: SELECT * FROM Customer WHERE Active IN (true, false) ORDERBY Id "
        f"MAXRESULTS {page_size}"
    )
    # Keyset pages by Id (a merge may remove a lower id mid-run), then the key list.
    assert all("STARTPOSITION" not in call for call in calls)
    assert listed_ids(pages) == frozenset(expected)
    assert last.key_list is not None
    assert last.key_list.last


def test_inactive_customers_read_as_deleted(qbo_connection: QboConnection) -> None:
    qbo_connection.seed(120)

    async def scenario(http: httpx.AsyncClient) -> tuple[int, int]:
        connector = qbo_connection.connector(http)
        pages = await collect(connector, None)
        records = [r for page in pages for r in page.records]
        for record in records:
            assert record.external_id == record.native["Id"]
        return len(records), sum(record.deleted for record in records)

    read, inactive = run(scenario, Recorder())
    assert read == 120
    assert 0 < inactive < 40  # the seed deactivates about one in ten


def test_a_full_run_resumes_from_its_checkpoint(qbo_connection: QboConnection) -> None:
    qbo_connection.seed(200)

    async def first_three(http: httpx.AsyncClient) -> list[CustomerPage]:
        pages = []
        async for page in qbo_connection.connector(http, page_size=30).pages(None):
            pages.append(page)
            if len(pages) == 3:
                break  # the run is killed here; in-flight page fetches are cancelled
        return pages

    before = run(first_three, Recorder())
    checkpoint = before[-1].checkpoint
    assert checkpoint["full"] is True
    assert checkpoint["after_id"] == ids_of(before)[-1]
    recorder = Recorder()
    after = run(
        lambda http: collect(qbo_connection.connector(http, page_size=30), checkpoint), recorder
    )
    assert ids_of(before) + ids_of(after) == qbo_connection.sandbox_ids()
    assert after[-1].checkpoint == {"since": checkpoint["since"]}  # the run's start, kept
    assert f"Id > '{checkpoint['after_id']}'" in recorder.api_calls()[1]


def _freeze(qbo_connection: QboConnection, moment: datetime) -> Callable[[], None]:
    """Stop the sandbox's clock at `moment`; returns the function that restarts it."""
    context = qbo_connection.sandbox
    original = context.clock
    context.clock = lambda: moment
    return lambda: setattr(context, "clock", original)


def _create_at(qbo_connection: QboConnection, batches: list[tuple[datetime, int]]) -> list[str]:
    """Create customers with the sandbox clock stopped at each batch's moment."""

    async def scenario(http: httpx.AsyncClient) -> list[str]:
        connector = qbo_connection.connector(http)
        made = []
        for moment, count in batches:
            restart = _freeze(qbo_connection, moment)
            try:
                for _ in range(count):
                    name = f"Customer {len(made) + 1}"
                    native = await connector.create({"display_name": name, "bill_address": BILL})
                    made.append(str(native["Id"]))
            finally:
                restart()
        return made

    return run(scenario, Recorder())


def _keyset_queries(recorder: Recorder) -> list[str]:
    return [c for c in recorder.api_calls() if c.startswith("query: SELECT * ")]


def test_incremental_keyset_skips_rows_it_already_read_at_the_boundary(
    qbo_connection: QboConnection,
) -> None:
    t1 = OLD
    t2, t3 = t1 + timedelta(minutes=5), t1 + timedelta(minutes=9)
    made = _create_at(qbo_connection, [(t1, 2), (t2, 2), (t3, 2)])
    recorder = Recorder()
    checkpoint = {"since": (t1 - timedelta(minutes=1)).isoformat()}
    pages = run(
        lambda http: collect(qbo_connection.connector(http, page_size=3), checkpoint), recorder
    )

    assert ids_of(pages) == made  # each exactly once, in change order
    assert [len(p.customers) for p in pages] == [3, 2, 1]
    # Page 2 starts at the last row's second again (closed) and drops the row it had.
    queries = _keyset_queries(recorder)
    assert f"LastUpdatedTime >= '{t2.isoformat()}'" in queries[1]
    assert all("STARTPOSITION" not in q for q in queries)
    sinces = [_since(p) for p in pages]
    assert sinces == sorted(sinces)  # never backwards
    assert sinces[-1] == t3 - timedelta(seconds=60)


def test_a_page_within_one_second_is_read_by_id_inside_it(qbo_connection: QboConnection) -> None:
    t1 = OLD
    t2 = t1 + timedelta(minutes=3)
    made = _create_at(qbo_connection, [(t1, 1), (t2, 8), (t2 + timedelta(seconds=1), 2)])
    recorder = Recorder()
    checkpoint = {"since": t1.isoformat()}
    pages = run(
        lambda http: collect(qbo_connection.connector(http, page_size=3), checkpoint), recorder
    )

    assert ids_of(pages) == made
    queries = _keyset_queries(recorder)
    after = t2 + timedelta(seconds=1)
    window = (
        f"LastUpdatedTime >= '{t2.isoformat()}' "
        f"AND Metadata.LastUpdatedTime < '{after.isoformat()}'"
    )
    # The second is long over: one read of it by Id, from its first Id, is all of it.
    positioned = [q for q in queries if window in q]
    assert [q.split(window, 1)[1].split(" AND Active", 1)[0] for q in positioned] == [
        "",
        f" AND Id > '{made[3]}'",
        f" AND Id > '{made[6]}'",
    ]
    # After the second, the keyset goes on from the next one.
    assert f"LastUpdatedTime >= '{after.isoformat()}'" in queries[-1]
    assert _since(pages[-1]) == after - timedelta(seconds=60)


@pytest.mark.parametrize(
    ("after", "request_sent"),
    [
        (timedelta(hours=1), "query"),  # older than CDC's window: the keyset query
        (None, "cdc"),  # recent: CDC
    ],
)
def test_incremental_with_no_change_yields_nothing(
    qbo_connection: QboConnection, after: timedelta | None, request_sent: str
) -> None:
    t1 = OLD
    _create_at(qbo_connection, [(t1, 3)])
    since = t1 + after if after is not None else datetime.now(UTC) - timedelta(minutes=5)
    recorder = Recorder()
    checkpoint = {"since": since.isoformat()}
    assert run(lambda http: collect(qbo_connection.connector(http), checkpoint), recorder) == []
    (call,) = recorder.api_calls()
    assert call.startswith(request_sent)


def test_recent_changes_come_from_one_cdc_request(qbo_connection: QboConnection) -> None:
    qbo_connection.seed(50)  # created over the last two years
    since = datetime.now(UTC) - timedelta(minutes=5)
    recent_seed = {i for i in qbo_connection.sandbox_ids() if _updated(qbo_connection, i) > since}

    async def changes(http: httpx.AsyncClient) -> tuple[list[str], list[CustomerPage]]:
        connector = qbo_connection.connector(http)
        first = await connector.create({"display_name": "Fresh One", "bill_address": BILL})
        second = await connector.create({"display_name": "Fresh Two", "bill_address": BILL})
        await connector.update("3", {"notes": "Called on Monday"}, None)
        await connector.update(str(second["Id"]), {"active": False}, second)
        recorder.requests.clear()
        pages = await collect(connector, {"since": since.isoformat()})
        return [str(first["Id"]), str(second["Id"])], pages

    recorder = Recorder()
    (first_id, second_id), pages = run(changes, recorder)
    assert recorder.api_calls() == ["cdc"]
    assert len(pages) == 1
    (page,) = pages
    by_id = {str(c["Id"]): c for c in page.customers}
    assert set(by_id) == {first_id, second_id, "3"} | recent_seed
    assert by_id[second_id]["Active"] is False  # deactivated: the engine records a delete
    assert by_id["3"]["Notes"] == "Called on Monday"
    assert page.deleted_ids == []
    newest = max(datetime.fromisoformat(c["MetaData"]["LastUpdatedTime"]) for c in page.customers)
    assert _since(page) == newest - timedelta(seconds=60)


def _updated(qbo_connection: QboConnection, customer_id: str) -> datetime:
    with read_transaction(qbo_connection.sandbox.engine) as connection:
        row = store.get_customer(connection, qbo_connection.realm_id, int(customer_id))
    assert row is not None
    moment: datetime = row["last_updated_time"]
    return moment


@pytest.mark.slow
def test_cdc_at_its_limit_falls_back_to_the_query(qbo_connection: QboConnection) -> None:
    qbo_connection.seed(1100)
    ids = qbo_connection.sandbox_ids()
    now = datetime.now(UTC).replace(microsecond=0)
    # Every customer edited in the last hour, several in each second.
    qbo_connection.set_updated(
        {i: now - timedelta(hours=1) + timedelta(seconds=n // 3) for n, i in enumerate(ids)}
    )
    recorder = Recorder()
    checkpoint: dict[str, Any] = {"since": (now - timedelta(hours=2)).isoformat()}
    pages = run(lambda http: collect(qbo_connection.connector(http), checkpoint), recorder)

    calls = recorder.api_calls()
    assert calls[0] == "cdc"  # answered 1000 objects: maybe not all of them
    keyset = [c for c in calls[1:] if not c.startswith("query: SELECT Id FROM")]
    assert all(c.startswith("query: SELECT * FROM Customer WHERE Metadata.") for c in keyset)
    assert listed_ids(pages) == frozenset(ids)  # then the key list, for merges
    assert pages[-1].key_list is not None
    assert pages[-1].key_list.last
    assert sorted(ids_of(pages), key=int) == ids
    assert len(ids_of(pages)) == len(ids)
