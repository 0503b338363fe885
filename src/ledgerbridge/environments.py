"""Environments: every connection, API key, webhook subscription and sync run belongs to
one (`dev`, `prod`, or any name the operator creates), and a key sees only its own.

A run belongs to its connection's environment; the operator key (`LEDGERBRIDGE_API_KEY`)
chooses one per request (the `Ledgerbridge-Environment` header, see `api/deps.py`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ledgerbridge.errors import NotFoundError
from ledgerbridge.tables import environments

DEFAULT_ENVIRONMENT = "dev"
"""The environment of rows made before environments existed, and of keys created without
`--environment`."""

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_NAME = re.compile(NAME_PATTERN)


class EnvironmentExistsError(ValueError):
    """An environment of that name exists already."""


@dataclass(frozen=True)
class EnvironmentInfo:
    name: str
    created_at: datetime


def check_name(name: str) -> str:
    """`name` if it can name an environment (lower-case letters, digits, `-`, `_`)."""
    if not _NAME.match(name):
        raise ValueError(
            f"{name!r} cannot name an environment: 1 to 64 lower-case letters, digits, "
            "'-' or '_', starting with a letter or digit"
        )
    return name


def create_environment(conn: Connection, name: str, *, now: datetime) -> EnvironmentInfo:
    check_name(name)
    try:  # the transaction is given up with the error: no savepoint needed
        conn.execute(sa.insert(environments).values(name=name, created_at=now))
    except IntegrityError:
        raise EnvironmentExistsError(f"environment {name!r} exists already") from None
    return EnvironmentInfo(name=name, created_at=now)


def list_environments(conn: Connection) -> list[EnvironmentInfo]:
    rows = conn.execute(sa.select(environments).order_by(environments.c.name))
    return [EnvironmentInfo(name=row.name, created_at=row.created_at) for row in rows]


def require_environment(conn: Connection, name: str) -> str:
    """`name` if that environment exists; `NotFoundError` otherwise."""
    found = conn.execute(
        sa.select(environments.c.name).where(environments.c.name == name)
    ).scalar_one_or_none()
    if found is None:
        raise NotFoundError(
            f"no environment {name!r}; create it with `ledgerbridge environments create {name}`"
        )
    return name
