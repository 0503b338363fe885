"""Conductor's paging over a QuickBooks Desktop iterator.

The first request fixes the result set (QuickBooks holds an iterator on it); every later
page is asked for with the same cursor string, and must come within the cursor lifetime
(10 s by default) of the previous one. The last page says `nextCursor: null`; asking again
after it, or after the lifetime, is an error.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from ledgerbridge.providers.qbd import wire

DEFAULT_CURSOR_LIFETIME_S = 10.0
CURSOR_LIFETIME_KNOB = "cursor_lifetime_s"


@dataclass
class _Iterator:
    end_user_id: str
    ids: list[str]
    position: int
    expires_at: datetime
    exclude_alternate_shipping: bool


@dataclass(frozen=True)
class Page:
    """The ids of one page, and what the envelope says about the rest."""

    ids: list[str]
    next_cursor: str | None
    remaining_count: int
    exclude_alternate_shipping: bool


class Cursors:
    """Open iterators of every company file, in memory (they live seconds)."""

    def __init__(self) -> None:
        self._open: dict[str, _Iterator] = {}
        self._lock = threading.Lock()

    def first_page(
        self,
        end_user_id: str,
        ids: list[str],
        limit: int,
        now: datetime,
        lifetime_s: float,
        exclude_alternate_shipping: bool,
    ) -> Page:
        """The first page of a fresh result set; opens a cursor when more pages follow."""
        remaining = max(0, len(ids) - limit)
        cursor = None
        if remaining:
            cursor = str(uuid.UUID(bytes=secrets.token_bytes(16), version=4))
            with self._lock:
                self._expire(now)
                self._open[cursor] = _Iterator(
                    end_user_id,
                    ids,
                    limit,
                    now + timedelta(seconds=lifetime_s),
                    exclude_alternate_shipping,
                )
        return Page(ids[:limit], cursor, remaining, exclude_alternate_shipping)

    def next_page(
        self, end_user_id: str, cursor: str, limit: int, now: datetime, lifetime_s: float
    ) -> Page:
        """The next page of the cursor's result set."""
        with self._lock:
            self._expire(now)
            iterator = self._open.get(cursor)
            if iterator is None or iterator.end_user_id != end_user_id:
                raise wire.invalid_request(
                    f'The cursor "{cursor}" has expired or does not exist. Cursors expire '
                    f"{lifetime_s:g} seconds after the previous page; start again without "
                    "`cursor`.",
                    code="INVALID_CURSOR",
                )
            if iterator.position >= len(iterator.ids):
                raise wire.invalid_request(
                    f'The cursor "{cursor}" has no more results: the previous page was the '
                    "last (`hasMore: false`).",
                    code="INVALID_CURSOR",
                )
            start = iterator.position
            iterator.position = min(len(iterator.ids), start + limit)
            iterator.expires_at = now + timedelta(seconds=lifetime_s)
            remaining = len(iterator.ids) - iterator.position
        return Page(
            iterator.ids[start : iterator.position],
            cursor if remaining else None,
            remaining,
            iterator.exclude_alternate_shipping,
        )

    def _expire(self, now: datetime) -> None:
        for cursor in [c for c, it in self._open.items() if it.expires_at <= now]:
            del self._open[cursor]
