"""Log capture for the observability tests: the product's logging, configured as
`serve` configures it, into a buffer; restored afterwards."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

from ledgerbridge.observability.logs import configure_logging


@contextmanager
def captured_logs(level: str = "debug") -> Iterator[io.StringIO]:
    """Every line logged inside the block, as JSON lines, in the yielded buffer."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    buffer = io.StringIO()
    configure_logging(level, "json", stream=buffer)
    try:
        yield buffer
    finally:
        root.handlers, _ = saved
        root.setLevel(saved[1])
        structlog.reset_defaults()


def log_lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
