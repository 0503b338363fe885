"""Checkpoints and paginators: the small pieces connectors page with.

A checkpoint is a connector's own typed record of where a read stands, stored by the
engine as the JSON of `to_json` with each saved page and read back with `from_json`.

A paginator is one paging scheme, in two halves (as dlt's `rest_client/paginators.py`):
what the next request asks for, and `advance(...)` with what a page answered. Each one
ends on the platform's own end signal and refuses, through its `PageGuard`, a position it
has already asked for, so a platform that loops cannot make a sync run forever or store
a page twice ("Loop detected in pagination", as singer-sdk says).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, Self

from ledgerbridge.providers.base import CustomerPage, FatalError, KeyListPart


class Checkpoint(Protocol):
    """Where a connector's read stands, as the engine stores it."""

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Self:
        """The checkpoint a page carried (its `to_json`)."""
        ...

    def to_json(self) -> dict[str, Any]:
        """Plain JSON, stored with the page in one transaction."""
        ...


@dataclass
class PageGuard:
    """Refuses a paging token already seen, so a provider that loops cannot make a sync
    run forever or store the same page twice."""

    provider: str
    _seen: set[str] = field(default_factory=set)

    def check(self, token: str) -> None:
        if token in self._seen:
            raise FatalError(
                f"Loop detected in pagination: the token {token!r} came back twice.",
                provider=self.provider,
            )
        self._seen.add(token)


@dataclass
class PositionPaging:
    """Pages by a 1-based row position and a page size: QuickBooks Online's
    `STARTPOSITION n MAXRESULTS size` (Intacct's `start`/`size` is the same scheme). A page
    shorter than the size is the end. Positions may be claimed ahead of the pages answered
    (QuickBooks Online's full run asks for several pages at once); a page that starts with
    a row another page started with is a loop."""

    provider: str
    size: int
    next_position: int = 1
    _guard: PageGuard = field(init=False)

    def __post_init__(self) -> None:
        self._guard = PageGuard(self.provider)

    def claim(self) -> int:
        """The position of the next page to ask for (and move past it)."""
        position = self.next_position
        self.next_position += self.size
        return position

    def advance(self, keys: list[str]) -> bool:
        """Record a page by its rows' keys, in order; True while more pages may follow."""
        if keys:
            self._guard.check(keys[0])
        return len(keys) >= self.size


@dataclass
class CursorPaging:
    """Conductor's cursor paging: follow `nextCursor` until it is null. The cursor is one
    string for a whole listing, so the guard sees it with the position it was given at;
    a page that does not land where the last left off (`remainingCount` moved by other
    than a page: a retried request the desktop had already answered) is refused with
    `lost`, never skipped."""

    provider: str
    size: int
    cursor: str | None = None
    remaining: int | None = None
    _guard: PageGuard = field(init=False)
    _started: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self._guard = PageGuard(self.provider)

    def params(self) -> dict[str, str]:
        """The query parameters of the next request (none for the first page)."""
        return {} if self.cursor is None else {"cursor": self.cursor}

    def advance(self, body: Mapping[str, Any], lost: type[FatalError] = FatalError) -> bool:
        """Read a page's paging fields; True while a next page follows."""
        now_remaining = body.get("remainingCount")
        if self._started and self.remaining is not None and now_remaining is not None:
            expected = max(0, self.remaining - self.size)
            if int(now_remaining) != expected:
                raise lost(
                    f"The cursor moved {self.remaining - int(now_remaining)} customers "
                    f"instead of {self.remaining - expected}.",
                    provider=self.provider,
                )
        self._started = True
        self.remaining = None if now_remaining is None else int(now_remaining)
        cursor = body.get("nextCursor")
        if not cursor:
            if body.get("hasMore"):
                raise FatalError(
                    "The platform said more follow but gave no cursor.", provider=self.provider
                )
            return False
        data = body.get("data") or []
        last = data[-1].get("id", "") if data else ""
        self._guard.check(f"{cursor}|{self.remaining}|{last}")
        self.cursor = str(cursor)
        return True


@dataclass
class KeyListParts:
    """A key list handed on in parts (`KeyListPart`) as its ids are listed: the first part
    marked `first`, the last `last`, each but the last of at least `size` ids."""

    size: int
    _ids: list[str] = field(default_factory=list)
    _started: bool = False

    def add(self, ids: Iterable[str]) -> None:
        self._ids += ids

    def part(self, last: bool = False) -> KeyListPart | None:
        """The ids added since the previous part, once there are `size` of them or the list
        is complete (`last`); None while too few."""
        if not last and len(self._ids) < self.size:
            return None
        part = KeyListPart(self._ids, first=not self._started, last=last)
        self._ids, self._started = [], True
        return part


@dataclass
class KeyPaging:
    """Keyset pages in key order: each next page asks for keys after the last one read,
    so a row deleted meanwhile cannot shift a live one out (as offsets would). A page
    shorter than the size, or the platform saying there is no next one, is the end."""

    provider: str
    size: int
    after: str | None = None
    _guard: PageGuard = field(init=False)

    def __post_init__(self) -> None:
        self._guard = PageGuard(self.provider)

    def start(self) -> str | None:
        """The key the next page starts after (None: from the first key)."""
        self._guard.check(str(self.after))
        return self.after

    def advance(self, keys: list[str], more: bool = True) -> bool:
        """Record a page's keys, in order; True while more pages may follow."""
        if not more or len(keys) < self.size:
            return False
        self.after = keys[-1]
        return True


KeyPage = Callable[[str | None], Awaitable[tuple[list[str], bool]]]
"""A key pass's request: the keys after the one given (None: from the first), in key
order, and whether the platform says more follow."""


async def key_list(
    provider: str, size: int, page: KeyPage, final: CustomerPage, *, wanted: bool = True
) -> AsyncIterator[CustomerPage]:
    """Every key a keyset pass lists, `size` at a time, as the parts of a key list (the
    lists that find deletes, `KeyListPart`): each part on a page of its own that leaves the
    stored checkpoint as it is, the last one on `final`, whose checkpoint moves on with the
    reconciliation. Nothing is held between pages: the engine stages each part. Not
    `wanted` (`ConnectorSettings.key_lists`), only `final`."""
    if not wanted:
        yield final
        return
    paging, parts = KeyPaging(provider, size), KeyListParts(size)
    while True:
        found, more = await page(paging.start())
        parts.add(found)
        if not paging.advance(found, more=more):
            yield replace(final, key_list=parts.part(last=True))
            return
        yield CustomerPage([], None, key_list=parts.part())  # a full page: a whole part


SAVE_SECONDS_A_RECORD = 25e-6
"""About what the syncing process spends storing a record it has read (map, serialise,
hash, write): `sync_bench`'s CPU a customer (27-28 µs), less its read-only pass's (4-5)."""
SMALLEST_SIZED_PAGE = 1_000
"""`sized_pages` never goes below this: at 500 a page each request's own cost took over
(`sync_bench`, Intacct, 10,000 customers: 27,062 records/s against 30,205 at 1,000)."""


def sized_pages(total: int, round_trip_s: float, largest: int) -> int:
    """The page size that makes a full read of `total` records quickest, when each request
    costs `round_trip_s` besides its records, and at most `largest`.

    A sync stores each page while the next is read, so its time is the read's plus the
    storing of the last page (a two-stage pipeline: with both stages about as fast, it
    takes the whole read plus one page, the largest). Fewer, larger pages save round
    trips; smaller ones a shorter last page to wait for. The sum `total / size * round_trip
    + size * SAVE_SECONDS_A_RECORD` is least at `size = sqrt(total * round_trip /
    SAVE_SECONDS_A_RECORD)`. Over the internet (a round trip of 0.1 s or more) that is the
    platform's maximum for any company of a thousand records or more; over loopback (4-7
    ms, the platform's own work included) a company of 10,000 is read about 1,300 a page
    rather than 4,000, whose last page alone is what the sync waited for after the read
    (`sync_bench`, Intacct, 10,000 customers: 24,242-26,011 to 28,432-29,471 records/s).
    A cold request (a connection to open, a token to grant) reads as a long round trip, and
    errs toward the largest pages: the size before."""
    if total <= 0 or round_trip_s <= 0:
        return largest
    best = math.isqrt(int(total * round_trip_s / SAVE_SECONDS_A_RECORD))
    return max(min(SMALLEST_SIZED_PAGE, largest), min(best, largest))
