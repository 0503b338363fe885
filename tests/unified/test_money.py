"""Money in the unified model: `to_cents` reads plain amounts from their digits and every
other amount through Decimal, and both ways give the same exact cents."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledgerbridge.unified.customer import to_cents


def _through_decimal(amount: float | str | int) -> int:
    """The rule itself: exact decimal cents, half to even."""
    value = Decimal(str(amount)) * 100
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


_DECIMAL_TEXT = st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str)
_ANY_PLACES = st.decimals(
    allow_nan=False, allow_infinity=False, min_value=-(10**9), max_value=10**9
)


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15))
def test_a_float_gives_the_cents_of_its_repr(amount: float) -> None:
    assert to_cents(amount) == _through_decimal(amount)


_TWO_PLACES = st.decimals(
    allow_nan=False, allow_infinity=False, places=2, min_value=-(10**13), max_value=10**13
)


@given(st.one_of(_TWO_PLACES, _TWO_PLACES.map(lambda d: d + Decimal("0.001"))).map(float))
def test_a_float_of_an_amount_gives_its_cents(amount: float) -> None:
    """Floats of two-decimal amounts (read by arithmetic below 10^12, by their repr above)
    and of amounts a thousandth off them (through Decimal)."""
    assert to_cents(amount) == _through_decimal(amount)


@given(st.one_of(_DECIMAL_TEXT, _ANY_PLACES.map(str), st.integers().map(str)))
def test_a_decimal_text_gives_its_exact_cents(text: str) -> None:
    try:
        expected = _through_decimal(text)
    except InvalidOperation:  # beyond Decimal's 28 digits: refused both ways
        with pytest.raises((ValueError, InvalidOperation)):
            to_cents(text)
        return
    assert to_cents(text) == expected


@given(st.integers(min_value=-(10**30), max_value=10**30))
def test_a_whole_number_is_a_hundred_cents_a_unit(amount: int) -> None:
    assert to_cents(amount) == amount * 100


@pytest.mark.parametrize(
    ("amount", "cents"),
    [
        ("12.", 1200),
        ("-0.5", -50),
        ("-0.0", 0),
        ("0.125", 12),  # half to even
        ("0.135", 14),
        (" 12.5 ", 1250),  # Decimal's reading: surrounding spaces allowed
        ("+1.25", 125),
        ("1e3", 100000),
        ("1_000", 100000),
        ("١٢", 1200),  # digits beyond ASCII, as Decimal reads them
        (1e16, 10**18),
        (-0.0, 0),
        (629.1, 62910),  # floats read by arithmetic: 629.1 * 100 is 62909.99999999999
        (0.29, 29),
        (-1234.56, -123456),
        (999_999_999_999.99, 99_999_999_999_999),  # the last float read so
        (1_000_000_000_000.01, 100_000_000_000_001),  # by its repr
        (0.125, 12),  # more decimals: Decimal's half to even
        (0.135, 14),
        (Decimal("28.99"), 2899),
    ],
)
def test_amounts_give_their_exact_cents(amount: str | float | Decimal, cents: int) -> None:
    assert to_cents(amount) == cents


@pytest.mark.parametrize("amount", [".", "-", "1.2.3", "abc", "--1", "1.-5"])
def test_what_is_not_an_amount_is_refused(amount: str) -> None:
    with pytest.raises(ValueError, match="not a decimal amount"):
        to_cents(amount)


def test_nothing_entered_is_no_amount() -> None:
    assert to_cents(None) is None
    assert to_cents("") is None
    for amount in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises((ValueError, InvalidOperation)):
            to_cents(amount)
