"""The query service: operators, filterExpression, parameters, aggregates, order, paging."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledgerbridge.providers.intacct.sandbox.dates import macro_period
from ledgerbridge.providers.intacct.sandbox.expression import evaluate, parse_expression
from providers.intacct.support import QUERY, Company

FIELDS = [
    "key",
    "id",
    "name",
    "status",
    "currency",
    "totalDue",
    "creditLimit",
    "isOnHold",
    "restrictedLocations",
    "parent.id",
    "audit.createdDateTime",
    "contacts.default.email1",
]


def _all(company: Company) -> list[dict[str, Any]]:
    response = company.query(fields=FIELDS, size=4000)
    assert response.status_code == 200
    rows: list[dict[str, Any]] = response.json()["ia::result"]
    return rows


def _keys(company: Company, **body: Any) -> list[str]:
    response = company.query(fields=["key"], size=4000, **body)
    assert response.status_code == 200, response.text
    return [row["key"] for row in response.json()["ia::result"]]


def _money(value: Any) -> Decimal:
    return Decimal(str(value))


Row = dict[str, Any]
# Each operator, with the plain-Python meaning the answer must equal.
OPERATOR_CASES: list[tuple[dict[str, Any], Callable[[Row], bool]]] = [
    ({"$eq": {"status": "inactive"}}, lambda r: r["status"] == "inactive"),
    ({"$ne": {"status": "active"}}, lambda r: r["status"] != "active"),
    ({"$lt": {"totalDue": "10000"}}, lambda r: _money(r["totalDue"]) < 10000),
    ({"$lte": {"totalDue": "0"}}, lambda r: _money(r["totalDue"]) <= 0),
    (
        {"$gt": {"creditLimit": 10000}},
        lambda r: r["creditLimit"] is not None and r["creditLimit"] > 10000,
    ),
    (
        {"$gte": {"creditLimit": 25000}},
        lambda r: r["creditLimit"] is not None and r["creditLimit"] >= 25000,
    ),
    ({"$in": {"currency": ["CAD", "GBP"]}}, lambda r: r["currency"] in ("CAD", "GBP")),
    ({"$notIn": {"currency": ["USD"]}}, lambda r: r["currency"] != "USD"),
    (
        {"$between": {"totalDue": ["100.00", "20000"]}},
        lambda r: 100 <= _money(r["totalDue"]) <= 20000,
    ),
    ({"$notBetween": {"totalDue": [1, 20000]}}, lambda r: not 1 <= _money(r["totalDue"]) <= 20000),
    ({"$contains": {"name": "and"}}, lambda r: "and" in r["name"]),
    ({"$notContains": {"name": "LLC"}}, lambda r: "LLC" not in r["name"]),
    ({"$startsWith": {"name": "S"}}, lambda r: r["name"].startswith("S")),
    ({"$notStartsWith": {"name": "S"}}, lambda r: not r["name"].startswith("S")),
    ({"$endsWith": {"name": "Inc"}}, lambda r: r["name"].endswith("Inc")),
    ({"$notEndsWith": {"name": "Inc"}}, lambda r: not r["name"].endswith("Inc")),
    (
        {"$has": {"restrictedLocations": "Dallas"}},
        lambda r: "Dallas" in (r["restrictedLocations"] or []),
    ),
    ({"$eq": {"isOnHold": True}}, lambda r: r["isOnHold"] is True),
    ({"$eq": {"parent.id": None}}, lambda r: r["parent.id"] is None),
    ({"$ne": {"parent.id": None}}, lambda r: r["parent.id"] is not None),
    (
        {"$startsWith": {"parent.id": "C-0000"}},
        lambda r: (r["parent.id"] or "").startswith("C-0000"),
    ),
]


@pytest.mark.parametrize(
    ("condition", "expected"), OPERATOR_CASES, ids=lambda c: None if callable(c) else str(c)[:40]
)
def test_each_operator_matches_its_plain_meaning(
    company: Company, condition: dict[str, Any], expected: Callable[[Row], bool]
) -> None:
    rows = _all(company)
    want = [row["key"] for row in rows if expected(row)]
    assert _keys(company, filters=[condition]) == want
    # `totalCount` joins only what the condition reads (a parent, say): fields from a
    # joined parent change no count.
    for fields in (["key"], FIELDS):
        response = company.query(fields=fields, filters=[condition], size=1)
        assert response.json()["ia::meta"]["totalCount"] == len(want), fields


def test_the_seed_gives_each_operator_something_to_find(company: Company) -> None:
    rows = _all(company)
    for condition, expected in OPERATOR_CASES:
        assert 0 < sum(expected(row) for row in rows) < len(rows), condition


def test_string_comparisons_are_case_sensitive_unless_asked(company: Company) -> None:
    name = _all(company)[0]["name"]
    assert _keys(company, filters=[{"$eq": {"name": name.upper()}}]) == [] or name == name.upper()
    insensitive = _keys(
        company,
        filters=[{"$eq": {"name": name.upper()}}],
        filterParameters={"caseSensitiveComparison": False},
    )
    assert len(insensitive) >= 1
    assert _keys(
        company,
        filters=[{"$contains": {"name": name[:3].lower()}}],
        filterParameters={"caseSensitiveComparison": False},
    )


def test_date_macros_follow_as_of_date(company: Company) -> None:
    rows = _all(company)
    as_of = date.fromisoformat(rows[0]["audit.createdDateTime"][:10])
    for macro in ("today", "currentMonth", "priorMonth", "currentYear", "priorYear", "lastWeek"):
        low, high = macro_period(macro, as_of)
        want = [
            row["key"]
            for row in rows
            if low <= date.fromisoformat(row["audit.createdDateTime"][:10]) < high
        ]
        got = _keys(
            company,
            filters=[{"$eq": {"audit.createdDateTime": macro}}],
            filterParameters={"asOfDate": as_of.isoformat()},
        )
        assert got == want, macro
    before = _keys(
        company,
        filters=[{"$lt": {"audit.createdDateTime": "priorYear"}}],
        filterParameters={"asOfDate": as_of.isoformat()},
    )
    assert all(
        date.fromisoformat(r["audit.createdDateTime"][:10]) < date(as_of.year - 1, 1, 1)
        for r in rows
        if r["key"] in before
    )


def test_macro_periods() -> None:
    day = date(2024, 5, 15)  # a Wednesday
    assert macro_period("priorMonth", day) == (date(2024, 4, 1), date(2024, 5, 1))
    assert macro_period("currentQuarter", day) == (date(2024, 4, 1), date(2024, 7, 1))
    assert macro_period("priorQuarter", day) == (date(2024, 1, 1), date(2024, 4, 1))
    assert macro_period("currentWeek", day) == (date(2024, 5, 13), date(2024, 5, 20))
    assert macro_period("priorMonth", date(2024, 1, 10)) == (date(2023, 12, 1), date(2024, 1, 1))


# Conditions the property test combines, with their plain-Python meaning.
ATOMS: list[tuple[dict[str, Any], Callable[[Row], bool]]] = [
    ({"$eq": {"status": "active"}}, lambda r: r["status"] == "active"),
    ({"$gt": {"totalDue": "15000"}}, lambda r: _money(r["totalDue"]) > 15000),
    ({"$in": {"currency": ["USD", "EUR"]}}, lambda r: r["currency"] in ("USD", "EUR")),
    ({"$contains": {"name": "e"}}, lambda r: "e" in r["name"]),
    ({"$eq": {"isOnHold": False}}, lambda r: r["isOnHold"] is False),
    (
        {"$lte": {"creditLimit": 25000}},
        lambda r: r["creditLimit"] is not None and r["creditLimit"] <= 25000,
    ),
    ({"$notStartsWith": {"name": "M"}}, lambda r: not r["name"].startswith("M")),
]


def _expression(count: int) -> st.SearchStrategy[str]:
    leaf = st.integers(1, count).map(str)
    return st.recursive(
        leaf,
        lambda inner: (
            st.tuples(inner, st.sampled_from(["and", "or", "AND", "Or"]), inner).map(
                lambda t: f"{t[0]} {t[1]} {t[2]}"
            )
            | inner.map(lambda e: f"({e})")
        ),
        max_leaves=6,
    )


@st.composite
def _queries(draw: st.DrawFn) -> tuple[list[int], str]:
    chosen = draw(st.lists(st.integers(0, len(ATOMS) - 1), min_size=1, max_size=4))
    return chosen, draw(_expression(len(chosen)))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=_queries())
def test_answers_equal_a_plain_python_evaluation(
    company: Company, query: tuple[list[int], str]
) -> None:
    chosen, text = query
    rows = _all(company)
    parsed = parse_expression(text, len(chosen))
    assert parsed is not None

    def matches(row: Row) -> bool:
        return evaluate(parsed, lambda n: ATOMS[chosen[n - 1]][1](row), all, any)

    got = _keys(company, filters=[ATOMS[i][0] for i in chosen], filterExpression=text)
    assert got == [row["key"] for row in rows if matches(row)]


def test_precedence_and_binds_tighter_than_or(company: Company) -> None:
    filters = [ATOMS[0][0], ATOMS[1][0], ATOMS[2][0]]
    loose = _keys(company, filters=filters, filterExpression="1 or 2 and 3")
    explicit = _keys(company, filters=filters, filterExpression="1 or (2 and 3)")
    grouped = _keys(company, filters=filters, filterExpression="(1 or 2) and 3")
    assert loose == explicit
    assert loose != grouped


def test_or_shortcut_and_default_and(company: Company) -> None:
    filters = [ATOMS[0][0], ATOMS[1][0]]
    rows = _all(company)
    assert _keys(company, filters=filters, filterExpression="or") == [
        r["key"] for r in rows if ATOMS[0][1](r) or ATOMS[1][1](r)
    ]
    assert _keys(company, filters=filters) == [
        r["key"] for r in rows if ATOMS[0][1](r) and ATOMS[1][1](r)
    ]


def test_aggregates_group_by_the_plain_fields(company: Company) -> None:
    rows = _all(company)
    response = company.query(
        fields=["status", "count:key", "sum:totalDue", "min:name", "max:creditLimit"]
    )
    result = {row["status"]: row for row in response.json()["ia::result"]}
    for status in {r["status"] for r in rows}:
        mine = [r for r in rows if r["status"] == status]
        assert result[status]["count:key"] == len(mine)
        assert Decimal(result[status]["sum:totalDue"]) == sum(_money(r["totalDue"]) for r in mine)
        assert result[status]["min:name"] == min(r["name"] for r in mine)
        limits = [r["creditLimit"] for r in mine if r["creditLimit"] is not None]
        assert result[status]["max:creditLimit"] == (max(limits) if limits else None)
    overall = company.query(fields=["count:key", "avg:totalDue"]).json()["ia::result"]
    assert overall[0]["count:key"] == len(rows)
    average = sum(_money(r["totalDue"]) for r in rows) / len(rows)
    assert abs(Decimal(overall[0]["avg:totalDue"]) - average) <= Decimal("0.005")


def test_order_by_several_fields(company: Company) -> None:
    response = company.query(
        fields=["key", "currency", "totalDue"],
        orderBy=[{"currency": "asc"}, {"totalDue": "desc"}],
        size=4000,
    )
    rows = response.json()["ia::result"]
    assert rows == sorted(
        rows, key=lambda r: (r["currency"], -_money(r["totalDue"]), int(r["key"]))
    )


def test_paging_walks_every_row_once(company: Company, openapi: dict[str, Any]) -> None:
    seen: list[str] = []
    start: int | None = 1
    while start is not None:
        response = company.query(fields=["key", "parent.id"], start=start, size=7)
        schema = openapi["paths"][QUERY]["post"]["responses"]["200"]["content"]["application/json"][
            "schema"
        ]
        jsonschema.validate(response.json(), {**schema, "components": openapi["components"]})
        meta = response.json()["ia::meta"]
        assert meta["previous"] == (None if start == 1 else max(1, start - 7))
        seen += [row["key"] for row in response.json()["ia::result"]]
        start = meta["next"]
    assert seen == sorted(seen, key=int)
    assert len(seen) == 60


@pytest.mark.parametrize(
    ("body", "target"),
    [
        ({"fields": ["nope"]}, "/fields/0"),  # unknown field
        ({"fields": ["key"], "filters": [{"$like": {"name": "a"}}]}, "/filters/0"),  # bad operator
        (
            {"fields": ["key"], "filters": [{"$eq": {"name": "a"}}], "filterExpression": "1 and"},
            "/filterExpression",
        ),
        (
            {"fields": ["key"], "filters": [{"$eq": {"name": "a"}}], "filterExpression": "1 or 2"},
            "/filterExpression",
        ),
        ({"fields": ["key"], "size": 4001}, "/size"),
        ({"fields": ["key"], "size": "10"}, "/size"),
        ({"fields": ["key"], "start": 0}, "/start"),
        ({"fields": ["key"], "filters": [{"$gt": {"totalDue": "much"}}]}, "/filters/0/$gt"),
        (
            {"fields": ["key"], "filters": [{"$contains": {"totalDue": "1"}}]},
            "/filters/0/$contains",
        ),
        ({"fields": ["key"], "filters": [{"$between": {"totalDue": [1]}}]}, "/filters/0/$between"),
        (
            {"fields": ["key"], "filters": [{"$eq": {"audit.createdDateTime": "someday"}}]},
            "/filters/0/$eq",
        ),
        ({"fields": ["key"], "orderBy": [{"name": "up"}]}, "/orderBy/0"),
        ({"fields": ["median:totalDue"]}, "/fields/0"),
        ({"fields": ["sum:name"]}, "/fields/0"),
        (
            {"fields": ["key"], "filterParameters": {"caseSensitiveComparison": "no"}},
            "/filterParameters/caseSensitiveComparison",
        ),
        ({"fields": ["key"], "select": ["x"]}, "/select"),
        ({"fields": []}, "/fields"),
    ],
)
def test_bad_queries_get_a_400_envelope(
    company: Company, body: dict[str, Any], target: str
) -> None:
    response = company.query(**body)
    assert response.status_code == 400
    error = response.json()["ia::result"]["ia::error"]
    assert error["details"][0]["target"] == target
    assert error["message"]


def test_another_object_is_refused(company: Company) -> None:
    response = company.post(QUERY, {"object": "accounts-payable/vendor", "fields": ["key"]})
    assert response.status_code == 400
