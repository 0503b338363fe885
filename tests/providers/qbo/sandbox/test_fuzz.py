"""Hypothesis fuzzing of the QuickBooks Online sandbox's query endpoint and customer
writes: every answer is 200 or a `Fault` envelope (never a 5xx), and a refused write leaves
every customer exactly as it was."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledgerbridge.providers.qbo import wire
from providers.qbo.qbo_helpers import Realm

FUZZ = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)
PROPERTIES = ["Id", "DisplayName", "Balance", "Active", "MetaData.LastUpdatedTime", "Level",
              "ParentRef", "GivenName", "Colour", "Metadata.CreateTime"]  # fmt: skip
NASTY = ["²", "٣", "1e999999999", "NaN", "-0", "9" * 30, "9999-12-31T23:59:59-01:00",
         "0001-01-01T00:00:00+01:00", "2026-13-45", "", "'", "\\", "\x00", "%", "true"]  # fmt: skip
values = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=12),
    st.integers(-(10**30), 10**30).map(str),
    st.dates().map(str),
)
literals = values.map(lambda v: "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'") | (
    st.integers(-(10**25), 10**25).map(str)
)
conditions = st.builds(
    lambda prop, op, value: f"{prop} {op} {value}",
    st.sampled_from(PROPERTIES),
    st.sampled_from(["=", "<", ">", "<=", ">=", "!=", "LIKE", "IN"]),
    literals,
)
queries = st.one_of(
    st.builds(
        lambda projection, where, tail: f"SELECT {projection} FROM Customer{where}{tail}",
        st.sampled_from(["*", "COUNT(*)", "Id, DisplayName", "Metadata.LastUpdatedTime", "Colour"]),
        st.lists(conditions, max_size=4).map(lambda c: " WHERE " + " AND ".join(c) if c else ""),
        st.sampled_from(["", " MAXRESULTS 5", " STARTPOSITION ²", " MAXRESULTS 99999999999"]),
    ),
    st.text(max_size=80),
)


def _assert_fault_or_ok(response: Any) -> None:
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        error = response.json()["Fault"]["Error"][0]
        assert error["code"]
        assert error["Message"]


def test_any_query_is_answered_or_faulted(realm: Realm) -> None:
    realm.create(DisplayName="Fuzzed Co")

    @FUZZ
    @given(text=queries)
    def fuzz(text: str) -> None:
        _assert_fault_or_ok(realm.query(text))

    fuzz()


def _everything(realm: Realm) -> list[dict[str, Any]]:
    response = realm.query("SELECT * FROM Customer WHERE Active IN (true, false) MAXRESULTS 1000")
    rows: list[dict[str, Any]] = response.json()["QueryResponse"].get("Customer", [])
    return rows


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.sampled_from(NASTY) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
bodies = st.dictionaries(
    st.sampled_from([*wire.WRITABLE, "Id", "SyncToken", "sparse", "Colour"]),
    json_values,
    max_size=6,
)


def test_a_refused_write_changes_nothing(realm: Realm) -> None:
    existing = realm.create(DisplayName="Fuzz Target")

    @FUZZ
    @given(body=bodies, update=st.booleans())
    def fuzz(body: dict[str, Any], update: bool) -> None:
        if update:
            body = {**body, "Id": existing["Id"], "SyncToken": "0", "sparse": True}
        before = _everything(realm)
        response = realm.post_customer(body)
        _assert_fault_or_ok(response)
        if response.status_code == 400:
            assert _everything(realm) == before

    fuzz()
