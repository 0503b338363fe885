"""`GET /customers` over HTTP: paging, filters, metadata and every kind of bad input."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI

from asgi_client import TestClient
from ledgerbridge.db import write_transaction
from ledgerbridge.unified.records import IncomingRecord, mark_deleted, save_records

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def conn_id(client: TestClient) -> str:
    response = client.post(
        "/connections",
        json={
            "provider": "qbo",
            "credentials": {
                "realm_id": "1",
                "client_id": "c",
                "client_secret": "s",
                "refresh_token": "rt",
            },
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def seed(app: FastAPI, conn_id: str, ids: list[str], at: datetime = T0, name: str = "A") -> None:
    batch = [IncomingRecord(i, {"id": i, "display_name": f"{name}{i}"}, {"Id": i}) for i in ids]
    with write_transaction(app.state.databases.main) as conn:
        save_records(conn, connection_id=conn_id, model="Customer", batch=batch, now=at)


def get(client: TestClient, conn_id: str, **params: Any) -> Any:
    response = client.get("/customers", params=params, headers={"Connection-Id": conn_id})
    assert response.status_code == 200, response.text
    return response.json()


def test_pages_follow_next_cursor_to_the_end(
    app: FastAPI, client: TestClient, conn_id: str
) -> None:
    seed(app, conn_id, [str(i) for i in range(25)])
    seen, cursor = [], None
    while True:
        body = get(client, conn_id, limit=10, **({"cursor": cursor} if cursor else {}))
        seen += [record["id"] for record in body["records"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert cursor == body["records"][-1]["_nango_metadata"]["cursor"]
    assert seen == [str(i) for i in range(25)]


def test_record_shape_and_metadata(app: FastAPI, client: TestClient, conn_id: str) -> None:
    seed(app, conn_id, ["7"])
    record = get(client, conn_id)["records"][0]
    assert record["display_name"] == "A7"
    assert record["id"] == "7"
    assert record["_nango_metadata"] == {
        "first_seen_at": "2026-01-01T00:00:00.000Z",
        "last_modified_at": "2026-01-01T00:00:00.000Z",
        "last_action": "ADDED",
        "deleted_at": None,
        "cursor": record["_nango_metadata"]["cursor"],
    }
    assert "remote_data" not in record
    with_raw = get(client, conn_id, include="remote_data")["records"][0]
    assert with_raw["remote_data"] == {"Id": "7"}
    single = client.get("/customers/7", headers={"Connection-Id": conn_id}).json()
    assert single["_nango_metadata"]["cursor"] == record["_nango_metadata"]["cursor"]


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ("added", ["1"]),
        ("UPDATED", ["2"]),  # any case
        ("deleted", ["3"]),
        ("added,deleted", ["1", "3"]),
        ("Updated, Deleted", ["2", "3"]),
    ],
)
def test_filter(
    app: FastAPI, client: TestClient, conn_id: str, filter_: str, expected: list[str]
) -> None:
    seed(app, conn_id, ["1", "2", "3"])
    seed(app, conn_id, ["2"], at=T0 + timedelta(hours=1), name="B")
    with write_transaction(app.state.databases.main) as conn:
        mark_deleted(
            conn,
            connection_id=conn_id,
            model="Customer",
            external_ids=["3"],
            now=T0 + timedelta(hours=2),
        )
    assert [r["id"] for r in get(client, conn_id, filter=filter_)["records"]] == expected


def test_modified_after_is_inclusive_and_ids_select(
    app: FastAPI, client: TestClient, conn_id: str
) -> None:
    seed(app, conn_id, ["1"])
    seed(app, conn_id, ["2"], at=T0 + timedelta(hours=1))
    body = get(client, conn_id, modified_after="2026-01-01T01:00:00.000Z")
    assert [r["id"] for r in body["records"]] == ["2"]
    assert [r["id"] for r in get(client, conn_id, ids="1,2")["records"]] == ["1", "2"]
    response = client.get("/customers?ids=2&ids=1", headers={"Connection-Id": conn_id}).json()
    assert [r["id"] for r in response["records"]] == ["1", "2"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"modified_after": "yesterday"}, "modified_after"),
        ({"filter": "removed"}, "filter"),
        ({"limit": "0"}, "limit"),
        ({"limit": "10001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"colour": "blue"}, "colour"),
        ({"include": "everything"}, "include"),
        ({"ids": ",".join(str(i) for i in range(101))}, "ids"),
    ],
)
def test_bad_query_gets_a_400_that_names_the_field(
    client: TestClient, conn_id: str, params: dict[str, str], field: str
) -> None:
    response = client.get("/customers", params=params, headers={"Connection-Id": conn_id})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_query_params"
    assert any(field in item["field"] for item in error["errors"]), error


def test_connection_header_is_required_and_checked(client: TestClient) -> None:
    missing = client.get("/customers")
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "missing_connection_id"
    unknown = client.get("/customers", headers={"Connection-Id": "conn_nope"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_connection"


def test_unknown_customer_is_404(client: TestClient, conn_id: str) -> None:
    response = client.get("/customers/404", headers={"Connection-Id": conn_id})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def _other_connection(client: TestClient, provider: str = "qbd") -> str:
    credentials = {"api_key": "sk_test", "end_user_id": "end_usr_1"}
    response = client.post("/connections", json={"provider": provider, "credentials": credentials})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _refused_cursor(client: TestClient, conn_id: str, cursor: str) -> str:
    response = client.get(
        "/customers", params={"cursor": cursor}, headers={"Connection-Id": conn_id}
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_query_params"
    assert error["errors"][0]["field"] == "cursor"
    message: str = error["message"]
    return message


def test_a_cursor_works_only_on_its_own_connection(
    app: FastAPI, client: TestClient, conn_id: str
) -> None:
    other = _other_connection(client)
    seed(app, conn_id, [str(i) for i in range(10)])
    seed(app, other, [str(i) for i in range(200)])
    # Read the other connection (its sequence runs further), then use its cursor here.
    foreign = get(client, other, limit=150)["next_cursor"]
    assert "belongs to connection" in _refused_cursor(client, conn_id, foreign)
    own = get(client, conn_id, limit=3)["next_cursor"]
    assert "belongs to connection" in _refused_cursor(client, other, own)
    assert [r["id"] for r in get(client, conn_id, cursor=own)["records"]] == [
        str(i) for i in range(3, 10)
    ]


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        # Another model of the same connection.
        ("lb2:{conn}:Vendor:3", "belongs to connection"),
        # The first format, a bare number bound to nothing.
        ("lb1:3", "earlier version"),
        # Past the largest BIGINT, and far past it.
        ("lb2:{conn}:Customer:9223372036854775808", "out of range"),
        ("lb2:{conn}:Customer:" + "9" * 5000, "out of range"),
        ("lb2:{conn}:Customer:-1", "not a valid cursor"),
        ("lb2:{conn}:Customer:٣", "not a valid cursor"),  # a digit, but not an ASCII one
        ("lb2:{conn}:Customer", "not a valid cursor"),
    ],
)
def test_cursors_that_point_nowhere_here_are_refused(
    app: FastAPI, client: TestClient, conn_id: str, raw: str, says: str
) -> None:
    seed(app, conn_id, ["1"])
    cursor = base64.urlsafe_b64encode(raw.format(conn=conn_id).encode()).decode().rstrip("=")
    assert says in _refused_cursor(client, conn_id, cursor)


def test_the_largest_cursor_reads_an_empty_page(
    app: FastAPI, client: TestClient, conn_id: str
) -> None:
    seed(app, conn_id, ["1"])
    raw = f"lb2:{conn_id}:Customer:9223372036854775807"
    cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    assert get(client, conn_id, cursor=cursor) == {"records": [], "next_cursor": None}


def test_name_search_finds_display_names_in_any_case(
    app: FastAPI, client: TestClient, conn_id: str
) -> None:
    seed(app, conn_id, ["1", "2"], name="Acme_")
    seed(app, conn_id, ["3"], name="Other%")
    assert [r["id"] for r in get(client, conn_id, name="acme")["records"]] == ["1", "2"]
    assert [r["id"] for r in get(client, conn_id, name="ACME_2")["records"]] == ["2"]
    # % and _ are plain characters, not patterns.
    assert [r["id"] for r in get(client, conn_id, name="%")["records"]] == ["3"]
    assert get(client, conn_id, name="Other_3")["records"] == []
    response = client.get(
        "/customers", params={"name": "x" * 201}, headers={"Connection-Id": conn_id}
    )
    assert response.status_code == 400
