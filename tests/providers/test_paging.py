"""The paginators on their own: each ends on the platform's end signal, refuses a loop,
and (Conductor's cursor) refuses a page that does not continue where the last ended; and
the page size a full read is sized to."""

from __future__ import annotations

from typing import Any

import pytest

from ledgerbridge.providers.base import FatalError
from ledgerbridge.providers.paging import (
    SMALLEST_SIZED_PAGE,
    CursorPaging,
    KeyPaging,
    PositionPaging,
    sized_pages,
)
from ledgerbridge.providers.qbd.connector import CursorLostError, QbdCheckpoint
from ledgerbridge.providers.qbo.connector import QboCheckpoint


def test_positions_run_ahead_and_a_short_page_ends() -> None:
    paging = PositionPaging("qbo", size=3, next_position=4)
    assert [paging.claim(), paging.claim()] == [4, 7]  # claimed ahead of the answers
    assert paging.advance(["4", "5", "6"]) is True
    assert paging.advance(["7", "8"]) is False  # short: the end of the list
    assert PositionPaging("qbo", size=3).advance([]) is False


def test_positions_refuse_a_page_seen_before() -> None:
    paging = PositionPaging("qbo", size=2)
    paging.advance(["1", "2"])
    with pytest.raises(FatalError, match="Loop detected in pagination"):
        paging.advance(["1", "2"])  # another position answered the same rows


def _body(ids: list[str], cursor: str | None, remaining: int, more: bool = False) -> Any:
    return {"data": [{"id": i} for i in ids], "nextCursor": cursor, "remainingCount": remaining}


def test_a_cursor_is_followed_to_its_end() -> None:
    paging = CursorPaging("qbd", size=2)
    assert paging.params() == {}
    assert paging.advance(_body(["a", "b"], "c1", 3)) is True
    assert paging.params() == {"cursor": "c1"}
    assert paging.advance(_body(["c", "d"], "c1", 1)) is True  # one cursor for a listing
    assert paging.advance(_body(["e"], None, 0)) is False


def test_a_cursor_that_skips_or_repeats_is_refused() -> None:
    paging = CursorPaging("qbd", size=2)
    paging.advance(_body(["a", "b"], "c1", 5))
    with pytest.raises(CursorLostError, match="moved 4 customers instead of 2"):
        paging.advance(_body(["e", "f"], "c1", 1), lost=CursorLostError)

    looping = CursorPaging("qbd", size=2)
    looping.advance(_body(["a", "b"], "c1", 0))  # says none remain, yet gives a cursor
    with pytest.raises(FatalError, match="Loop detected"):
        looping.advance(_body(["a", "b"], "c1", 0))


def test_more_promised_without_a_cursor_is_fatal() -> None:
    body = {"data": [{"id": "a"}], "nextCursor": None, "hasMore": True, "remainingCount": 4}
    with pytest.raises(FatalError, match="gave no cursor"):
        CursorPaging("qbd", size=1).advance(body)


def test_keys_continue_after_the_last_and_end_short() -> None:
    paging = KeyPaging("intacct", size=2)
    assert paging.start() is None
    assert paging.advance(["3", "9"]) is True
    assert paging.start() == "9"
    assert paging.advance(["12", "15"], more=False) is False  # the platform's end signal
    stuck = KeyPaging("intacct", size=1)
    stuck.start()
    stuck.advance(["1"])
    stuck.start()
    stuck.advance(["1"])  # the platform ignored `after`
    with pytest.raises(FatalError, match="Loop detected"):
        stuck.start()


def test_pages_are_sized_to_the_company_and_the_round_trip() -> None:
    # Over the internet, the platform's largest pages: round trips cost most.
    assert sized_pages(10_000, 0.2, largest=4000) == 4000
    assert sized_pages(2_000, 0.1, largest=4000) >= 2_000  # one page
    # Over loopback, a company of 10,000 in smaller pages: the last page to store is short.
    near = sized_pages(10_000, 0.004, largest=4000)
    assert SMALLEST_SIZED_PAGE <= near < 4000
    # Larger companies and longer round trips take larger pages, up to the largest.
    sizes = [sized_pages(total, 0.004, largest=4000) for total in (10**4, 10**5, 10**6)]
    assert sizes == sorted(sizes)
    assert sizes[-1] == 4000
    assert sized_pages(10_000, 0.008, largest=4000) > near
    # Never below the floor, unless the platform allows less; unknown figures: the largest.
    assert sized_pages(100, 0.001, largest=4000) == SMALLEST_SIZED_PAGE
    assert sized_pages(100, 0.001, largest=200) == 200
    assert sized_pages(0, 0.004, largest=4000) == 4000
    assert sized_pages(10_000, 0.0, largest=4000) == 4000


@pytest.mark.parametrize(
    "raw",
    [
        {"since": "2026-01-02T03:04:05+00:00"},  # between runs
        {"full": True, "after_id": "2001", "since": "2026-01-02T03:04:05+00:00"},  # midway
    ],
)
def test_qbo_checkpoints_round_trip(raw: dict[str, Any]) -> None:
    assert QboCheckpoint.from_json(raw).to_json() == raw


@pytest.mark.parametrize(
    "raw",
    [
        {"full": True},
        {
            "updated_after": "2026-01-02T03:04:05.000Z",
            "checked_at": "2026-01-03T00:00:00.000Z",
            "boundary": {"80000001-1": "1700000000"},
        },
    ],
)
def test_qbd_checkpoints_round_trip(raw: dict[str, Any]) -> None:
    assert QbdCheckpoint.from_json(raw).to_json() == raw
