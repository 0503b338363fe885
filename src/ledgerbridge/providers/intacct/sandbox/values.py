"""Conversions between wire values and stored column values, per field kind.

Money never passes through float: amounts are parsed with Decimal and stored as integer
cents; `totalDue` goes out as a decimal string, `creditLimit` as a JSON number.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from ledgerbridge.parsing import (
    INT32_MAX,
    INT64_MAX,
    ParseError,
    cents,
    check_text,
    parse_decimal,
    parse_int,
)
from ledgerbridge.providers.intacct.sandbox.tables import LIST_SEPARATOR, STRING_LENGTH
from ledgerbridge.providers.intacct.wire import Field, FieldKind, bad_request

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999999.99")
"""Amounts are kept to 13 integer digits and 2 decimals (Sage publishes no figure; this is
far above any credit limit and keeps cents inside a 64-bit column)."""
MAX_NUMBER = 1e15


def cents_to_decimal(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def to_wire(kind: FieldKind, value: Any) -> Any:
    """A stored value as the API prints it (None stays None)."""
    if value is None:
        return None
    if kind == "key":
        return str(value)
    if kind == "decimal":
        return str(cents_to_decimal(int(value)))
    if kind == "money":
        amount = cents_to_decimal(int(value))
        return int(amount) if amount == amount.to_integral_value() else float(amount)
    if kind == "date":
        return value.isoformat() if isinstance(value, date) else str(value)
    if kind == "datetime":
        moment: datetime = value
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == "string_list":
        text: str = value
        return [item for item in text.split(LIST_SEPARATOR) if item]
    return value


def parse_cents(raw: Any) -> int:
    """Exact cents of a JSON number or decimal string within `MAX_AMOUNT`; ValueError
    (a `ParseError`) when it is neither, not finite, or too large."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError("not a number")
    return cents(parse_decimal(raw, max_abs=MAX_AMOUNT))


def parse_whole(raw: Any, kind: FieldKind) -> int:
    """A key (a 4-byte column) or an integer field (8 bytes) from a JSON integer or a
    string of ASCII digits; ValueError otherwise ("²" and 2**64 included)."""
    maximum = INT32_MAX if kind == "key" else INT64_MAX
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ValueError("not a whole number")
    return parse_int(raw, minimum=-maximum if kind == "integer" else 0, maximum=maximum)


def parse_number(raw: Any) -> float:
    """A finite JSON number or numeric string of bounded size; ValueError otherwise."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError("not a number")
    return float(parse_decimal(raw, max_abs=Decimal(MAX_NUMBER)))


def from_wire(field: Field, raw: Any) -> Any:
    """A request value for a writable field as stored; a 400 envelope when it is wrong."""
    target = "/" + field.path.replace(".", "/")
    if raw is None:
        return None
    kind = field.kind
    ok = True
    value: Any = raw
    if kind == "string":
        ok = isinstance(raw, str)
        if ok:
            try:
                check_text(raw, max_length=STRING_LENGTH, what=target)
            except ParseError as exc:
                raise bad_request(str(exc), target) from None
        if ok and field.enum is not None and raw not in field.enum:
            allowed = ", ".join(repr(item) for item in field.enum)
            raise bad_request(f"{target} must be one of {allowed}, not {raw!r}", target)
    elif kind == "boolean":
        ok = isinstance(raw, bool)
    elif kind in ("integer", "key"):
        try:
            value = parse_whole(raw, kind)
        except ValueError:
            ok = False
    elif kind == "number":
        ok = isinstance(raw, int | float) and not isinstance(raw, bool)
        try:
            value = parse_number(raw) if ok else raw
        except ValueError:
            ok = False
    elif kind in ("money", "decimal"):
        try:
            value = parse_cents(raw)
        except ValueError:
            ok = False
    elif kind == "string_list":
        ok = isinstance(raw, list) and all(
            isinstance(item, str) and LIST_SEPARATOR not in item and "\x00" not in item
            for item in raw
        )
        if ok:
            value = LIST_SEPARATOR + LIST_SEPARATOR.join(raw) + LIST_SEPARATOR if raw else None
    else:
        ok = False  # dates and times are read-only in this object
    if not ok:
        raise bad_request(f"{target} has an invalid value {raw!r} for a {kind} field", target)
    return value
