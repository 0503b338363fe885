"""A connector's key list read back from its pages, as the engine stages it."""

from __future__ import annotations

from collections.abc import Iterable

from ledgerbridge.providers.base import CustomerPage


def listed_ids(pages: Iterable[CustomerPage]) -> frozenset[str] | None:
    """The ids of the first key list the pages complete (None: no list completed), gathered
    as the engine stages them: a part marked `first` starts the list again."""
    staged: list[str] = []
    for page in pages:
        part = page.key_list
        if part is None:
            continue
        if part.first:
            staged = []
        staged += part.ids
        if part.last:
            return frozenset(staged)
    return None
