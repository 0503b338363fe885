"""The one set of input rules (`ledgerbridge.parsing`): each refusal a fuzzer found."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from ledgerbridge.parsing import (
    ParseError,
    check_json,
    load_json,
    parse_datetime,
    parse_decimal,
    parse_id,
    parse_int,
)


@pytest.mark.parametrize("text", ["²", "٣", "1e3", "", "+", "1.0", "9" * 41])
def test_parse_int_takes_ascii_digits_only(text: str) -> None:
    with pytest.raises(ParseError):
        parse_int(text)


def test_parse_int_bounds() -> None:
    assert parse_int("42", maximum=42) == 42
    assert parse_int("-5", minimum=-5) == -5
    with pytest.raises(ParseError, match="from 0 to 2147483647"):
        parse_int("3000000000")
    with pytest.raises(ParseError):
        parse_int(True)


@pytest.mark.parametrize(
    ("text", "expected"), [("7", 7), ("²", None), ("0", None), ("9" * 20, None)]
)
def test_parse_id(text: str, expected: int | None) -> None:
    assert parse_id(text) == expected


@pytest.mark.parametrize("text", ["NaN", "sNaN", "Infinity", "-inf", "1e999999999", "1e20", "x"])
def test_parse_decimal_refuses_non_finite_and_huge(text: str) -> None:
    with pytest.raises(ParseError):
        parse_decimal(text, max_abs=Decimal("1e13"))


def test_parse_decimal_is_exact() -> None:
    assert parse_decimal("0.10", max_abs=Decimal(1)) == Decimal("0.10")
    assert parse_decimal(0.1, max_abs=Decimal(1)) == Decimal("0.1")


@pytest.mark.parametrize(
    "text", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "9999-12-31", "x"]
)
def test_parse_datetime_refuses_what_cannot_be_made_utc(text: str) -> None:
    with pytest.raises(ParseError):
        parse_datetime(text, end_of_day=True)


def test_parse_datetime_zones() -> None:
    zone = timezone(timedelta(hours=-7))
    assert parse_datetime("2026-01-02", default_zone=zone) == datetime(2026, 1, 2, tzinfo=zone)
    assert parse_datetime("2026-01-02T03:04:05Z") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw",
    [b"[" * 100 + b"]" * 100, b'{"a": "\\u0000"}', b"18446744073709551615", b"{", b"1e999"],
)
def test_load_json_refusals(raw: bytes) -> None:
    with pytest.raises(ParseError):
        load_json(raw)


def test_check_json_passes_plain_values() -> None:
    value = {"a": [1, 2.5, "x", None, True, {"b": -(2**63)}]}
    assert check_json(value) is value
