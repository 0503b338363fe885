"""A sync's per-customer work, phase by phase, without HTTP or a second process: the steady
figure to compare two trees by (`sync_bench`'s wall-clock rates swing with the machine).

QuickBooks Online customers are seeded into a temporary sandbox database by the sandbox's
own generator and rendered as the sandbox answers a query page (`store.render`, then one
JSON body a page of 1,000). Each page then goes through what the syncing process does to
it, each phase timed by this process's CPU:

- parse: the page's JSON (`orjson.loads`, as the connector's `classify` does);
- prepare: the record store's input, built as the engine builds it, one customer at a
  time: `mapper.mapped` (the unified payload, deleted flag and version) read through
  `MappedOnRead`, then `incoming_record` (the sortable version, the JSON texts and the
  hashes of the payload and the platform's object);
- store: `save_records` in the page's write transaction (the lookup, the insert), with
  its commit.

The process calls `runtime.started()` first, as `ledgerbridge sync` does (the garbage
collector's freeze, the malloc arena cap). Pages are saved into a new main database, SQLite
unless `--database-url` names one (a PostgreSQL database is used as it is: give an empty
one).

    python -m bench phases_bench [--customers 20000] [--rounds 3] [--database-url URL]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import sqlalchemy as sa

from ledgerbridge import runtime
from ledgerbridge.config import Settings
from ledgerbridge.connections import create_connection
from ledgerbridge.crypto import CredentialCipher, load_or_create_key
from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.providers.base import MappedOnRead
from ledgerbridge.providers.qbo import mapper
from ledgerbridge.providers.qbo.sandbox import store
from ledgerbridge.providers.qbo.sandbox.seed import seed_customers
from ledgerbridge.providers.qbo.sandbox.tables import customers
from ledgerbridge.runtime import open_main_database, open_sandbox_database
from ledgerbridge.sync.engine import incoming_record
from ledgerbridge.unified.customer import MODEL_NAME
from ledgerbridge.unified.records import save_records

REALM = "9130357992221046"
PAGE = 1000
PHASES = ("parse", "prepare", "store")


def _pages(settings: Settings, count: int) -> tuple[list[bytes], int]:
    """`count` customers as the sandbox answers them, a JSON body per page, and how many
    customers the pages hold."""
    engine = open_sandbox_database(settings)
    now = datetime.now(UTC)
    with write_transaction(engine) as conn:
        store.ensure_company(conn, REALM, now)
    seed_customers(engine, REALM, count, seed=0, now=now)
    with read_transaction(engine) as conn:
        rows = conn.execute(
            sa.select(customers).where(customers.c.realm_id == REALM).order_by(customers.c.id)
        ).mappings()
        rendered = [store.render(row, "-07:00") for row in rows]
    engine.dispose()
    pages = [
        orjson.dumps({"QueryResponse": {"Customer": rendered[start : start + PAGE]}})
        for start in range(0, len(rendered), PAGE)
    ]
    return pages, len(rendered)


def _round(settings: Settings, pages: list[bytes]) -> dict[str, float]:
    """CPU seconds of each phase over every page, saved into a new connection."""
    engine = open_main_database(settings)
    cipher = CredentialCipher(load_or_create_key(settings))
    now = datetime.now(UTC)
    with write_transaction(engine) as conn:
        connection_id = create_connection(
            conn,
            cipher,
            provider="qbo",
            base_url="http://phases.invalid",
            credentials={},
            sync_frequency_s=3600,
            now=now,
        ).id
    spent = dict.fromkeys(PHASES, 0.0)
    clock = time.process_time
    for body in pages:
        started = clock()
        native = orjson.loads(body)["QueryResponse"]["Customer"]
        parsed = clock()
        batch = [incoming_record(record) for record in MappedOnRead(native, mapper.mapped)]
        prepared = clock()
        with write_transaction(engine) as conn:
            save_records(conn, connection_id=connection_id, model=MODEL_NAME, batch=batch, now=now)
        stored = clock()
        spent["parse"] += parsed - started
        spent["prepare"] += prepared - parsed
        spent["store"] += stored - prepared
    engine.dispose()
    return spent


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="phases_bench")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", help="main database (default: a new SQLite file)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        sandbox = Settings(data_dir=Path(folder), _env_file=None)  # type: ignore[call-arg]
        pages, customers_read = _pages(sandbox, args.customers)
        runtime.started()  # as `ledgerbridge sync` does once started
        for number in range(args.rounds):
            data = Path(folder) / f"round{number}"
            data.mkdir()
            settings = Settings(
                data_dir=data,
                database_url=args.database_url or f"sqlite:///{data}/main.db",
                _env_file=None,  # type: ignore[call-arg]
            )
            spent = _round(settings, pages)
            per = {phase: seconds / customers_read * 1e6 for phase, seconds in spent.items()}
            shown = ", ".join(f"{phase} {per[phase]:.1f}" for phase in PHASES)
            print(
                f"round {number + 1}: {sum(per.values()):.1f} us of CPU a customer "
                f"({shown}; {customers_read:,} QuickBooks Online customers)",
                flush=True,
            )
