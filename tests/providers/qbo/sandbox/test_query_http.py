"""The query endpoint as other clients call it: GET ?query=, POST application/text, any
keyword case, ORDER BY, Metadata., offsets in datetimes, envelopes, paging, 4000 faults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI

from ledgerbridge.providers.registry import get_platform
from providers.qbo.qbo_helpers import Realm, fault_code


@pytest.fixture
def seeded(app: FastAPI, realm: Realm) -> Realm:
    get_platform("qbo").sandbox.seed(app.state.sandbox, realm.realm_id, 60, 7)
    return realm


def _rows(realm: Realm, text: str) -> list[dict[str, object]]:
    response = realm.query(text)
    assert response.status_code == 200, response.text
    rows: list[dict[str, object]] = response.json()["QueryResponse"].get("Customer", [])
    return rows


def test_envelope_and_paging(seeded: Realm) -> None:
    body = seeded.query("SELECT * FROM Customer STARTPOSITION 1 MAXRESULTS 10").json()
    assert body["QueryResponse"]["startPosition"] == 1
    assert body["QueryResponse"]["maxResults"] == 10
    assert "time" in body
    active = seeded.query("SELECT COUNT(*) FROM Customer").json()["QueryResponse"]["totalCount"]
    seen: list[object] = []
    start = 1
    while True:
        page = _rows(seeded, f"select * from customer startposition {start} maxresults 7")
        seen.extend(row["Id"] for row in page)
        if len(page) < 7:
            break
        start += 7
    assert len(seen) == len(set(seen)) == active
    assert (
        seeded.query(f"SELECT * FROM Customer STARTPOSITION {active + 1}").json()["QueryResponse"]
        == {}
    )


def test_only_active_unless_active_is_filtered(seeded: Realm) -> None:
    every = seeded.query("SELECT COUNT(*) FROM Customer WHERE Active IN (true, false)").json()
    active = seeded.query("SELECT COUNT(*) FROM Customer").json()
    inactive = _rows(seeded, "SELECT * FROM Customer WHERE Active = false MAXRESULTS 1000")
    assert every["QueryResponse"]["totalCount"] == 60
    assert active["QueryResponse"]["totalCount"] + len(inactive) == 60
    assert inactive
    assert all(row["Active"] is False for row in inactive)


def test_get_with_query_param_lowercase_and_order_by(seeded: Realm) -> None:
    response = seeded.get(
        "query",
        query="select * from customer where Metadata.LastUpdatedTime > '2000-01-01T00:00:00Z' "
        "order by Metadata.LastUpdatedTime desc, DisplayName maxresults 1000",
    )
    rows = response.json()["QueryResponse"]["Customer"]
    stamps = [datetime.fromisoformat(str(r["MetaData"]["LastUpdatedTime"])) for r in rows]  # type: ignore[index]
    assert stamps == sorted(stamps, reverse=True)


def test_datetime_offsets_are_equivalent(seeded: Realm) -> None:
    moment = datetime.now(UTC) - timedelta(days=200)
    forms = [
        moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        moment.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        (moment - timedelta(hours=7)).strftime("%Y-%m-%dT%H:%M:%S-07:00"),
    ]
    counts = {
        seeded.query(
            f"SELECT COUNT(*) FROM Customer WHERE MetaData.LastUpdatedTime >= '{form}'"
        ).json()["QueryResponse"]["totalCount"]
        for form in forms
    }
    assert len(counts) == 1


def test_display_name_equality_like_and_escaped_apostrophe(realm: Realm) -> None:
    realm.create(DisplayName="Bill's Windsurf Shop")
    realm.create(DisplayName="Billy Bob")
    assert (
        len(_rows(realm, r"SELECT * FROM Customer WHERE DisplayName = 'Bill\'s Windsurf Shop'"))
        == 1
    )
    assert len(_rows(realm, "SELECT * FROM Customer WHERE DisplayName LIKE 'Bill%'")) == 2
    assert len(_rows(realm, "SELECT * FROM Customer WHERE DisplayName LIKE '%bob'")) == 1
    assert _rows(realm, "SELECT * FROM Customer WHERE DisplayName LIKE 'Bill_s%'") == []
    ids = _rows(realm, "SELECT * FROM Customer WHERE Id IN ('1', '2') ORDERBY Id DESC")
    assert [r["Id"] for r in ids] == ["2", "1"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "SELECT",
        "SELECT * FROM",
        "SELECT * FROM Customer WHERE",
        "SELECT * FROM Customer WHERE DisplayName = 'unterminated",
        "SELECT * FROM Customer WHERE Colour = 'red'",
        "SELECT * FROM Customer WHERE Active > true",
        "SELECT * FROM Customer WHERE Balance LIKE '1%'",
        "SELECT * FROM Customer WHERE MetaData.LastUpdatedTime > 'yesterday'",
        "SELECT * FROM Customer STARTPOSITION 0",
        "SELECT * FROM Customer MAXRESULTS 0",
        "SELECT * FROM Invoice",
        "SELECT Colour FROM Customer",
        "DELETE FROM Customer",
        # PostgreSQL holds no NUL in text: refused before the database sees it (a 500 once)
        "SELECT * FROM Customer WHERE DisplayName = 'a\x00b'",
        "SELECT * FROM Customer WHERE GivenName LIKE '%\x00%'",
        "SELECT * FROM Customer WHERE Id IN ('1', '\x00')",
    ],
)
def test_malformed_queries_are_4000(realm: Realm, text: str) -> None:
    response = realm.query(text)
    assert response.status_code == 400
    assert fault_code(response) == "4000"
    assert response.json()["Fault"]["Error"][0]["Message"] == "Error parsing query"


def test_or_is_refused_clearly(realm: Realm) -> None:
    response = realm.query("SELECT * FROM Customer WHERE Active = true OR Active = false")
    assert fault_code(response) == "4000"
    assert "OR is not supported" in response.json()["Fault"]["Error"][0]["Detail"]


def test_max_results_capped_at_1000(app: FastAPI, realm: Realm) -> None:
    get_platform("qbo").sandbox.seed(app.state.sandbox, realm.realm_id, 1100, 3)
    body = realm.query("SELECT * FROM Customer WHERE Active IN (true,false) MAXRESULTS 5000")
    assert body.json()["QueryResponse"]["maxResults"] == 1000
