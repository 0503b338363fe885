"""Structured logs with structlog: one configuration for our own lines and for the
standard-library loggers of the libraries underneath (uvicorn, SQLAlchemy, Alembic).

`LEDGERBRIDGE_LOG_FORMAT=console` (the default) prints a line a person reads;
`json` prints one JSON object a line for a log shipper. Values bound with
`structlog.contextvars` (a sync run's connection and provider, a request's id) are added
to every line logged inside their scope.

No secret may reach a log line. Every event passes `redact_secrets`, which blanks any
field whose name says it holds one; callers log ids, never credentials.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import Processor

LogFormat = Literal["console", "json"]

SECRET_FIELDS = frozenset(
    {
        "access_token",
        "api_key",
        "authorization",
        "client_secret",
        "credentials",
        "id_token",
        "password",
        "refresh_token",
        "secret",
        "secret_key",
        "token",
    }
)
"""Field names whose values are never written to a log."""

SECRET_QUERY_PARAMS = SECRET_FIELDS | {"code", "state"}
"""Query parameters whose values are never logged (an OAuth callback's `code`, `state`)."""

REDACTED = "[redacted]"

# Libraries that say too much at INFO for a production log.
_QUIET_LOGGERS = {"alembic": logging.WARNING, "httpx": logging.WARNING, "httpcore": logging.INFO}


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: blanks the value of every field named like a secret."""
    for key in event_dict:
        if key.lower() in SECRET_FIELDS:
            event_dict[key] = REDACTED
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]


def _renderer(fmt: LogFormat, stream: TextIO) -> Processor:
    if fmt == "json":
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=stream.isatty())


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a line is logged, not when logging was set
    up: a process (or a test runner) that replaces stderr later still gets every line, and
    a replaced stream that was closed is never written to."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        """The stream is always the current `sys.stderr`."""


def configure_logging(
    level: str = "info", fmt: LogFormat = "console", stream: TextIO | None = None
) -> None:
    """Send every log line, ours and the libraries', through one handler on `stream`
    (stderr) in `fmt`, dropping lines below `level`. Safe to call again (tests, the CLI)."""
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}; use debug, info, warning or error")
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,  # first: a dropped line costs nothing more
            *_shared_processors(),
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = _StderrHandler() if stream is None else logging.StreamHandler(stream)
    stream = stream or sys.stderr
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _renderer(fmt, stream),
        ],
    )
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(numeric)
    for name, floor in _QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(floor, numeric))
    # uvicorn's own handlers would print a second, unstructured copy of its lines.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A logger whose lines carry `name` and everything bound in the current context."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
