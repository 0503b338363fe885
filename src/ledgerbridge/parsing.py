"""One set of rules for reading untrusted text into numbers, amounts, times, ids and JSON.

A fuzzer found the same four mistakes behind most server errors: `str.isdigit()` accepts
Unicode digits (`"²"`) that `int()` refuses; an extreme date overflows when converted to
UTC; an unbounded number reaches a database column or the JSON encoder; and input past a
database's own limits (nesting, expression size). Every reader of client input, in the
unified API and in the sandboxes, goes through these functions, and each one refuses with
`ParseError` (a `ValueError`) whose message the caller puts in its own envelope.

A leaf module: it imports nothing of the product, so the sandboxes may use it too.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

import orjson

INT32_MAX = 2**31 - 1
"""The largest value of a 4-byte integer column (PostgreSQL `integer`)."""
INT64_MAX = 2**63 - 1
"""The largest value of an 8-byte integer column (`bigint`) and of orjson's integers."""
MAX_NUMBER_TEXT = 40
"""Characters in a number's text: more digits than any bounded value here needs."""
MIN_MOMENT = datetime(1, 1, 2, tzinfo=UTC)
MAX_MOMENT = datetime(9999, 12, 30, 23, 59, 59, tzinfo=UTC)
"""Times are kept a day inside datetime's range, so converting one to any offset (±24 h)
or adding a second to it never overflows."""
MAX_JSON_DEPTH = 64
"""Nesting of a JSON body: well below orjson's own limit (254 when encoding), and below
anything a customer record needs (an address inside a customer inside a batch item)."""

_ASCII_DIGITS = re.compile(r"[0-9]+")
_SIGNED_INTEGER = re.compile(r"[+-]?[0-9]+")


class ParseError(ValueError):
    """The text is not a value of the kind asked for; the message says what was expected."""


def is_ascii_digits(text: str) -> bool:
    """True for `0`-`9` only: unlike `str.isdigit()`, `"²"` and `"٣"` are not digits."""
    return _ASCII_DIGITS.fullmatch(text) is not None


def parse_int(
    text: str | int, *, minimum: int = 0, maximum: int = INT32_MAX, what: str = "value"
) -> int:
    """A whole number in `[minimum, maximum]` from ASCII digits (an optional sign) or an int;
    booleans, Unicode digits, exponents and anything out of range are refused."""
    if isinstance(text, bool):
        raise ParseError(f"{what} must be a whole number, not {text!r}")
    if isinstance(text, int):
        value = text
    elif (
        isinstance(text, str)
        and len(text) <= MAX_NUMBER_TEXT
        and _SIGNED_INTEGER.fullmatch(text) is not None
    ):
        value = int(text)
    else:
        raise ParseError(f"{what} must be a whole number, not {_shown(text)}")
    if not minimum <= value <= maximum:
        raise ParseError(f"{what} must be from {minimum} to {maximum}, not {value}")
    return value


def parse_id(text: str, *, maximum: int = INT32_MAX) -> int | None:
    """A positive numeric id, or None when `text` cannot be one (then it names nothing:
    the caller answers not-found, as a platform does for an id it never issued)."""
    if not is_ascii_digits(text) or len(text) > MAX_NUMBER_TEXT:
        return None
    value = int(text)
    return value if 0 < value <= maximum else None


def parse_decimal(
    value: str | int | float | Decimal, *, max_abs: Decimal, what: str = "amount"
) -> Decimal:
    """A finite decimal with `abs(value) <= max_abs`. `NaN`, `Infinity`, `sNaN`, `1e999999`
    and texts longer than a number needs are refused, before any arithmetic."""
    if isinstance(value, bool):
        raise ParseError(f"{what} must be a decimal number, not {value!r}")
    if isinstance(value, str) and len(value.strip()) > MAX_NUMBER_TEXT:
        raise ParseError(f"{what} must be a decimal number, not {_shown(value)}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ParseError(f"{what} must be a decimal number, not {_shown(value)}") from None
    if not number.is_finite():
        raise ParseError(f"{what} must be a finite decimal number, not {_shown(value)}")
    if number.copy_abs() > max_abs:
        raise ParseError(f"{what} must be at most {max_abs} in size, not {_shown(value)}")
    return number


def cents(amount: Decimal) -> int:
    """Exact integer cents of a finite amount, half-to-even (`Decimal("28.995")` -> 2900)."""
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def bounded_moment(moment: datetime, *, what: str = "time") -> datetime:
    """`moment` if it lies within `MIN_MOMENT`..`MAX_MOMENT` once in UTC, else ParseError.
    Converting `9999-12-31T23:59:59-01:00` to UTC overflows; that is refused here."""
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        raise ParseError(f"{what} is out of range: {moment.isoformat()}") from None
    if not MIN_MOMENT <= utc <= MAX_MOMENT:
        raise ParseError(
            f"{what} must be between {MIN_MOMENT.date()} and {MAX_MOMENT.date()}, "
            f"not {moment.isoformat()}"
        )
    return moment


def parse_datetime(
    text: str, *, default_zone: tzinfo = UTC, end_of_day: bool = False, what: str = "time"
) -> datetime:
    """An aware, bounded time from ISO-8601 text. A date alone is the start of that day (its
    last second with `end_of_day`); a time without an offset is in `default_zone`."""
    if not isinstance(text, str) or len(text) > 64:
        raise ParseError(f"{what} must be an ISO-8601 date or date-time, not {_shown(text)}")
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time(23, 59, 59) if end_of_day else time())
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ParseError(
            f"{what} must be an ISO-8601 date or date-time, not {_shown(text)}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=default_zone)
    return bounded_moment(moment, what=what)


def parse_offset(text: str) -> timezone:
    """`-07:00` as a fixed timezone."""
    match = re.fullmatch(r"([+-])([0-9]{2}):([0-9]{2})", text)
    if match is None:
        raise ParseError(f"a UTC offset looks like -07:00, not {_shown(text)}")
    sign = -1 if match.group(1) == "-" else 1
    return timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))


def check_text(text: str, *, max_length: int | None = None, what: str = "text") -> str:
    """`text` unless it holds a NUL (PostgreSQL refuses them in text columns, SQLite cuts
    strings at them) or is longer than `max_length`."""
    if "\x00" in text:
        raise ParseError(f"{what} must not contain a NUL character")
    if max_length is not None and len(text) > max_length:
        raise ParseError(f"{what} must be at most {max_length} characters, not {len(text)}")
    return text


def check_json(value: Any, *, max_depth: int = MAX_JSON_DEPTH, what: str = "body") -> Any:
    """`value` (decoded JSON) unless it nests deeper than `max_depth`, holds an integer
    outside 64 bits or a non-finite float, or a string with a NUL. Iterative: a hostile
    depth cannot exhaust the stack."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > max_depth:
                raise ParseError(f"{what} is nested deeper than {max_depth} levels")
            children = list(item.items()) if isinstance(item, dict) else list(enumerate(item))
            for key, child in children:
                if isinstance(key, str):
                    check_text(key, what=f"{what} property name")
                pending.append((child, depth + 1))
        elif isinstance(item, str):
            check_text(item, what=f"{what} text")
        elif isinstance(item, int) and not isinstance(item, bool):
            if not -INT64_MAX - 1 <= item <= INT64_MAX:
                raise ParseError(f"{what} holds an integer outside 64 bits")
        elif isinstance(item, float) and not math.isfinite(item):
            raise ParseError(f"{what} holds a number that is not finite")
    return value


def load_json(raw: bytes, *, max_depth: int = MAX_JSON_DEPTH, what: str = "body") -> Any:
    """Decode and check a JSON body (see `check_json`)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"{what} is not valid JSON: {exc}") from None
    return check_json(value, max_depth=max_depth, what=what)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
