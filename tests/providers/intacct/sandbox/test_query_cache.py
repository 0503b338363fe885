"""What the query service remembers (counts, bookmarks for deep pages) never changes an
answer: pages reached through bookmarks equal the plain ones, and every write is seen."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asgi_client import TestClient
from ledgerbridge.db import create_engine, read_transaction, write_transaction
from ledgerbridge.providers.intacct.sandbox import cache, provider, query
from ledgerbridge.providers.intacct.sandbox.tables import customers, versions
from ledgerbridge.runtime import migrate_sandbox_database
from ledgerbridge.sandbox.base import SandboxContext
from providers.intacct.support import CUSTOMERS, Company, make_company

FILTERS: list[dict[str, Any]] = [
    {"$eq": {"status": "active"}},
    {"$gt": {"totalDue": "15000"}},
    {"$in": {"currency": ["USD", "EUR"]}},
    {"$ne": {"notes": None}},
]
ORDERABLE = [
    "name",  # indexed, never empty
    "audit.modifiedDateTime",  # indexed
    "id",
    "key",
    "status",  # many ties
    "notes",  # often empty
    "creditLimit",  # sometimes empty
    "parent.id",  # a joined field, often empty
]


def _body(order: list[tuple[str, str]], filters: list[int], expression: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "fields": ["key", "name"],
        "orderBy": [{path: direction} for path, direction in order],
    }
    if filters:
        body["filters"] = [FILTERS[index] for index in filters]
        body["filterExpression"] = expression
    return body


def _plain(company: Company, body: dict[str, Any]) -> list[str]:
    """The whole answer in one page from the first match: no bookmark can play a part."""
    response = company.query(**body, size=4000)
    assert response.status_code == 200, response.text
    return [row["key"] for row in response.json()["ia::result"]]


def _page(company: Company, body: dict[str, Any], start: int, size: int) -> dict[str, Any]:
    response = company.query(**body, start=start, size=size)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


@st.composite
def _requests(draw: st.DrawFn) -> tuple[list[tuple[str, str]], list[int], str, int, list[int]]:
    paths = draw(st.lists(st.sampled_from(ORDERABLE), max_size=2, unique=True))
    order = [(path, draw(st.sampled_from(["asc", "desc"]))) for path in paths]
    filters = draw(st.lists(st.integers(0, len(FILTERS) - 1), max_size=3, unique=True))
    expression = draw(st.sampled_from(["and", "or"]))
    size = draw(st.integers(1, 12))
    starts = draw(st.lists(st.integers(1, 70), min_size=1, max_size=8))
    return order, filters, expression, size, starts


@pytest.mark.slow
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(request=_requests())
def test_pages_at_any_depth_equal_slices_of_the_whole_answer(
    company: Company, request: tuple[list[tuple[str, str]], list[int], str, int, list[int]]
) -> None:
    order, filters, expression, size, starts = request
    body = _body(order, filters, expression)
    whole = _plain(company, body)
    # Jump around with nothing remembered (read from the start or back from the end)...
    cache.clear()
    for start in starts:
        answer = _page(company, body, start, size)
        assert [row["key"] for row in answer["ia::result"]] == whole[start - 1 : start - 1 + size]
    # ...walk it page by page (each page seeks from the previous one's last row)...
    walked: list[str] = []
    start: int | None = 1
    while start is not None:
        answer = _page(company, body, start, size)
        assert answer["ia::meta"]["totalCount"] == len(whole)
        walked += [row["key"] for row in answer["ia::result"]]
        start = answer["ia::meta"]["next"]
    assert walked == whole
    # ...then jump around, forwards and back, from whatever bookmarks are known by now.
    for start in starts:
        answer = _page(company, body, start, size)
        assert [row["key"] for row in answer["ia::result"]] == whole[start - 1 : start - 1 + size]


def _modified_keys(company: Company, direction: str) -> list[str]:
    body = {"fields": ["key"], "orderBy": [{"audit.modifiedDateTime": direction}]}
    walked: list[str] = []
    start: int | None = 1
    while start is not None:
        answer = _page(company, body, start, 7)
        walked += [row["key"] for row in answer["ia::result"]]
        start = answer["ia::meta"]["next"]
    for start in (50, 3, 29, 57, 29):
        answer = _page(company, body, start, 7)
        assert [row["key"] for row in answer["ia::result"]] == walked[start - 1 : start + 6]
    return walked


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_empty_values_in_an_indexed_sort_column(company: Company, direction: str) -> None:
    """The seek bound on an indexed column is only used while no customer has it empty."""
    before = _modified_keys(company, direction)
    with write_transaction(company.context.engine) as connection:
        connection.execute(
            sa.update(customers)
            .where(customers.c.tenant_id == company.tenant_id, customers.c.key % 5 == 0)
            .values(audit_modified_date_time=None)
        )
        cache.touch(connection, company.tenant_id)
    after = _modified_keys(company, direction)
    empty = sorted((key for key in before if int(key) % 5 == 0), key=int)
    rest = [key for key in before if int(key) % 5 != 0]
    assert empty
    # Empty values sort as the largest: last going up, first going down, in key order.
    assert after == (rest + empty if direction == "asc" else empty + rest)


def _count(company: Company, **body: Any) -> int:
    response = company.query(fields=["key"], **body)
    assert response.status_code == 200, response.text
    total: int = response.json()["ia::meta"]["totalCount"]
    return total


def _version(company: Company) -> str | None:
    with read_transaction(company.context.engine) as connection:
        return cache.current(connection, company.tenant_id)


def test_every_write_is_seen_by_the_next_query(company: Company) -> None:
    active = {"filters": [{"$eq": {"status": "active"}}]}
    start = _count(company, **active)
    assert _count(company, **active) == start  # remembered, still the same
    versions_seen = {_version(company)}

    created = company.post(CUSTOMERS, {"name": "Cache Co", "status": "active"})
    key = created.json()["ia::result"]["key"]
    versions_seen.add(_version(company))
    assert _count(company, **active) == start + 1

    assert company.patch(f"{CUSTOMERS}/{key}", {"status": "inactive"}).status_code == 200
    versions_seen.add(_version(company))
    assert _count(company, **active) == start
    assert company.patch(f"{CUSTOMERS}/{key}", {"status": "active"}).status_code == 200
    assert _count(company, **active) == start + 1

    assert company.delete(f"{CUSTOMERS}/{key}").status_code == 204
    versions_seen.add(_version(company))
    assert _count(company, **active) == start

    provider.seed(company.context, company.tenant_id, 5, seed=3)
    versions_seen.add(_version(company))
    assert _count(company) == 65
    assert None not in versions_seen
    assert len(versions_seen) == 5

    provider.reset(company.context, company.tenant_id)
    assert _version(company) is None
    provider.create(company.context, company.tenant_id)  # tenants are created explicitly
    again = provider.credentials(company.context, company.tenant_id)
    company.credentials = again
    assert _count(company) == 0


def test_a_page_is_right_after_writes_shift_the_rows_before_it(company: Company) -> None:
    body = {"fields": ["key"], "orderBy": [{"name": "asc"}]}
    first = _page(company, body, 1, 10)["ia::result"]
    second = _page(company, body, 11, 10)["ia::result"]
    assert len(first) == len(second) == 10
    # A new first customer moves every row one place down.
    company.post(CUSTOMERS, {"name": "000 First"})
    shifted = _page(company, body, 11, 10)["ia::result"]
    assert [row["key"] for row in shifted] == [row["key"] for row in [first[-1], *second[:-1]]]


def test_companies_never_share_what_is_remembered(app: FastAPI, http: TestClient) -> None:
    one = make_company(app, http, "ONE", 30)
    two = make_company(app, http, "TWO", 12)
    assert _count(one) == 30
    assert _count(two) == 12
    assert len(_plain(two, {"fields": ["key"]})) == 12
    assert _page(two, {"fields": ["key"]}, 11, 5)["ia::meta"]["totalCount"] == 12


def test_databases_never_share_what_is_remembered(company: Company, tmp_path: Path) -> None:
    """The same company in another database (another sandbox, a copy) is another version."""
    other = create_engine(f"sqlite:///{tmp_path / 'other.db'}")
    migrate_sandbox_database(other)
    provider.seed(SandboxContext(engine=other), company.tenant_id, 9, seed=7)
    request = query.parse_request({"object": "accounts-receivable/customer", "fields": ["key"]})
    totals = []
    for engine in (company.context.engine, other, company.context.engine, other):
        with read_transaction(engine) as connection:
            answer = query.run_query(connection, company.tenant_id, request, date.today())
        totals.append(answer["ia::meta"]["totalCount"])
    other.dispose()
    assert totals == [60, 9, 60, 9]


def test_migrated_companies_get_a_version(company: Company) -> None:
    with read_transaction(company.context.engine) as connection:
        rows = connection.execute(sa.select(versions.c.tenant_id)).scalars().all()
    assert rows == [company.tenant_id]


def test_a_version_change_during_a_request_remembers_nothing(
    company: Company, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a write can commit between two statements of one request: a bookmark
    found before it is not trusted, and nothing read is remembered under the old version."""
    body = {"fields": ["key"], "orderBy": [{"name": "asc"}]}
    whole = _plain(company, body)
    reads = iter(range(100))
    real = cache.current

    def current(connection: sa.Connection, tenant_id: str) -> str | None:
        # The request's first read is real; later reads see another version.
        return real(connection, tenant_id) if next(reads) == 0 else "another"

    learned: list[Any] = []
    monkeypatch.setattr(cache, "current", current)
    # A wrong bookmark: trusted, it would empty the page.
    monkeypatch.setattr(cache.Bookmarks, "nearest", lambda _self, _at: (30, ("~", 10**9)))
    monkeypatch.setattr(cache.Bookmarks, "add", lambda _self, *args: learned.append(args))
    monkeypatch.setattr(cache.COUNTS, "put", lambda *args: learned.append(args))
    everyone = {**body, "filters": [{"$ne": {"id": "nobody"}}]}  # a count not yet remembered
    answer = _page(company, everyone, 31, 10)
    assert [row["key"] for row in answer["ia::result"]] == whole[30:40]
    assert answer["ia::meta"]["totalCount"] == 60
    assert learned == []
