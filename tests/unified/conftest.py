"""The record store's tests: the app's main database and one connection in it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from ledgerbridge.connections import create_connection
from ledgerbridge.crypto import CredentialCipher
from ledgerbridge.db import write_transaction
from ledgerbridge.runtime import MAIN_MIGRATIONS

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def engine(app: FastAPI) -> Engine:
    main: Engine = app.state.databases.main
    return main


def _connection(app: FastAPI, engine: Engine, base_url: str) -> str:
    cipher: CredentialCipher = app.state.cipher
    with write_transaction(engine) as conn:
        return create_connection(
            conn,
            cipher,
            provider="qbo",
            base_url=base_url,
            credentials={},
            sync_frequency_s=3600,
            now=T0,
        ).id


@pytest.fixture
def conn_id(app: FastAPI, engine: Engine) -> str:
    return _connection(app, engine, "http://x")


@pytest.fixture
def other_conn_id(app: FastAPI, engine: Engine) -> str:
    """A second connection beside `conn_id`."""
    return _connection(app, engine, "http://y")


def run_alembic(engine: Engine, verb: str, revision: str) -> None:
    """`alembic upgrade|downgrade revision` on the main database's migrations."""
    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", MAIN_MIGRATIONS)
        config.attributes["connection"] = connection
        getattr(command, verb)(config, revision)
