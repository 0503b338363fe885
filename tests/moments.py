"""Instants for the tests that hold a fast timestamp formatter equal to `strftime` or
`isoformat`: random fields, microseconds at their edges, and offsets from -12 to +12 h."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone


def random_moments(seed: int, count: int = 2000) -> Iterator[datetime]:
    rng = random.Random(seed)
    for _ in range(count):
        yield datetime(
            rng.randint(1000, 9998),
            rng.randint(1, 12),
            rng.randint(1, 28),
            rng.randint(0, 23),
            rng.randint(0, 59),
            rng.randint(0, 59),
            rng.choice([0, 999, 1000, 999999, rng.randint(0, 999999)]),
            tzinfo=timezone(timedelta(minutes=rng.randint(-720, 720))),
        )
