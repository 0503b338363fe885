"""Property-based: the query parser only ever answers with a 4000 fault, and query results
equal a plain-Python evaluation of the same filter, order and page over the same data."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledgerbridge.db import read_transaction
from ledgerbridge.providers.qbo.sandbox import query as qbo_query
from ledgerbridge.providers.qbo.sandbox import store
from ledgerbridge.providers.qbo.sandbox.tables import customers
from ledgerbridge.providers.qbo.wire import QboFault
from ledgerbridge.providers.registry import get_platform
from providers.qbo.qbo_helpers import REALM

_PIECES = [
    "SELECT",
    "select",
    "*",
    "COUNT(*)",
    "FROM",
    "Customer",
    "customer",
    "WHERE",
    "AND",
    "OR",
    "ORDERBY",
    "ORDER BY",
    "ASC",
    "DESC",
    "STARTPOSITION",
    "MAXRESULTS",
    "IN",
    "LIKE",
    "(",
    ")",
    ",",
    "=",
    "<",
    ">=",
    "'a%'",
    "'O\\'Brien'",
    "true",
    "false",
    "1",
    "-5",
    "1000",
    "DisplayName",
    "Active",
    "Balance",
    "MetaData.LastUpdatedTime",
    "Metadata.CreateTime",
    "'2025-01-01T00:00:00Z'",
    "Id",
    "'",
    "\\",
    ".",
    "Job",
    "'x'",
]


def _fault_code(text: str) -> str | None:
    """None when the query parses, else the fault's code (any other exception escapes)."""
    try:
        qbo_query.parse_query(text)
    except QboFault as fault:
        return fault.code
    return None


@given(st.text(max_size=80))
def test_parser_raises_only_4000_on_any_text(text: str) -> None:
    assert _fault_code(text) in (None, "4000")


@given(st.lists(st.sampled_from(_PIECES), max_size=16))
def test_parser_raises_only_4000_on_token_soup(pieces: list[str]) -> None:
    assert _fault_code(" ".join(pieces)) in (None, "4000")


# A generated filter: (property, operator, literal in query syntax, python value).
_TIMES = ["2024-12-01T00:00:00Z", "2025-06-15T12:00:00-07:00", "2026-01-01T00:00:00+00:00"]
_condition = st.one_of(
    st.tuples(st.just("Active"), st.just("="), st.sampled_from(["true", "false"])),
    st.tuples(st.just("Job"), st.just("="), st.sampled_from(["true", "false"])),
    st.tuples(
        st.just("Balance"),
        st.sampled_from(["<", ">", "<=", ">=", "="]),
        st.sampled_from(["0", "100", "-20.5", "2500.75"]),
    ),
    st.tuples(
        st.just("Metadata.LastUpdatedTime"),
        st.sampled_from(["<", ">", ">="]),
        st.sampled_from([f"'{t}'" for t in _TIMES]),
    ),
    st.tuples(st.just("DisplayName"), st.just("LIKE"), st.sampled_from(["'a%'", "'%e%'", "'%s'"])),
    st.tuples(st.just("Id"), st.just("IN"), st.sampled_from(["('1','2','3')", "('10', '40')"])),
)
_order = st.sampled_from(
    [
        "",
        " ORDERBY DisplayName",
        " ORDER BY Metadata.LastUpdatedTime DESC",
        " ORDERBY Balance, Id DESC",
    ]
)


def _value(row: dict[str, Any], prop: str) -> Any:
    if prop == "Balance":
        return Decimal(str(row["Balance"]))
    if prop == "Metadata.LastUpdatedTime":
        return datetime.fromisoformat(row["MetaData"]["LastUpdatedTime"])
    if prop == "Id":
        return int(row["Id"])
    if prop == "DisplayName":
        return row["DisplayName"].lower()
    return row[prop]


def _literal(prop: str, text: str) -> Any:
    if prop in ("Active", "Job"):
        return text == "true"
    if prop == "Balance":
        return Decimal(text)
    if prop == "Metadata.LastUpdatedTime":
        return datetime.fromisoformat(text.strip("'").replace("Z", "+00:00"))
    if prop == "Id":
        return {int(v.strip(" '")) for v in text.strip("()").split(",")}
    return text.strip("'").lower()


def _matches(row: dict[str, Any], prop: str, op: str, text: str) -> bool:
    value, literal = _value(row, prop), _literal(prop, text)
    if op == "IN":
        return bool(value in literal)
    if op == "LIKE":
        body = literal.strip("%")
        if literal.startswith("%") and literal.endswith("%"):
            return bool(body in value)
        return bool(value.startswith(body) if literal.endswith("%") else value.endswith(body))
    return bool(
        {
            "=": value == literal,
            "<": value < literal,
            ">": value > literal,
            "<=": value <= literal,
            ">=": value >= literal,
        }[op]
    )


def _sorted(rows: list[dict[str, Any]], order: str) -> list[dict[str, Any]]:
    rows = sorted(rows, key=lambda r: int(r["Id"]))
    if "DisplayName" in order:
        return sorted(rows, key=lambda r: r["DisplayName"].lower())
    if "LastUpdatedTime" in order:
        return sorted(rows, key=lambda r: _value(r, "Metadata.LastUpdatedTime"), reverse=True)
    if "Balance" in order:
        by_id = sorted(rows, key=lambda r: -int(r["Id"]))
        return sorted(by_id, key=lambda r: _value(r, "Balance"))
    return rows


@pytest.fixture
def dataset(app: FastAPI) -> tuple[Any, list[dict[str, Any]]]:
    context = app.state.sandbox
    get_platform("qbo").sandbox.seed(context, REALM, 120, 21)
    with read_transaction(context.engine) as connection:
        rows = [
            store.render(r, "-07:00")
            for r in connection.execute(
                customers.select().where(customers.c.realm_id == REALM)
            ).mappings()
        ]
    return context.engine, rows


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    conditions=st.lists(_condition, max_size=3),
    order=_order,
    start=st.integers(1, 130),
    size=st.integers(1, 60),
)
def test_results_equal_plain_python(
    dataset: tuple[Any, list[dict[str, Any]]],
    conditions: list[tuple[str, str, str]],
    order: str,
    start: int,
    size: int,
) -> None:
    engine, rows = dataset
    where = " AND ".join(f"{p} {op} {v}" for p, op, v in conditions)
    text = "SELECT * FROM Customer" + (f" WHERE {where}" if where else "") + order
    text += f" STARTPOSITION {start} MAXRESULTS {size}"
    parsed = qbo_query.parse_query(text, "-07:00")
    with read_transaction(engine) as connection:
        got = [
            str(r["id"])
            for r in connection.execute(
                qbo_query.rows_statement(parsed, REALM, connection.dialect.name)
            ).mappings()
        ]
        count = connection.execute(qbo_query.count_statement(parsed, REALM)).scalar_one()
    expected = [
        r
        for r in rows
        if all(_matches(r, p, op, v) for p, op, v in conditions)
        and (r["Active"] or any(p == "Active" for p, _, _ in conditions))
    ]
    assert count == len(expected)
    page = _sorted(expected, order)[start - 1 : start - 1 + size]
    # DisplayName is unique and update times are random, so every order is total.
    assert got == [r["Id"] for r in page]
