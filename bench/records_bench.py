"""Record store and `GET /customers` at scale.

Loads N records (default 1,000,000) into one connection through the store's batch upsert,
then times `GET /customers?limit=100` over loopback HTTP for the first page and for a page
reached by a cursor near the end, and compares the upsert rate with a plain `executemany`
INSERT of the same rows. Goals: deep/first page ratio <= 1.5; upsert >= 0.5x plain insert.

Then many readers: N more records spread over 50 connections, and 1, 10 and 50 clients
paging their own connection at once against one `ledgerbridge serve` process (requests/s,
p50 and p95 latency; see `concurrent_readers.py`). `--readers-only` skips the rest.

On PostgreSQL, as goal 5 asks: `--database-url` names the server (by default
`LEDGERBRIDGE_BENCH_POSTGRES`, else the local one, as `scheduler_bench`), where the bench
makes a database of its own and drops it after (`databases.scratch_database`). `--sqlite`
runs it on a new SQLite file instead.

    python -m bench records_bench [--records N] [--database-url URL | --sqlite]
        [--readers-only] [--clients 1,10,50] [--read-seconds S]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import uvicorn

from bench.concurrent_readers import measure_readers
from bench.databases import BENCH_POSTGRES, is_postgresql, scratch_database
from ledgerbridge.api.app import create_app
from ledgerbridge.config import Settings
from ledgerbridge.connections import create_connection
from ledgerbridge.db import write_transaction
from ledgerbridge.tables import records
from ledgerbridge.unified.cursor import encode_cursor
from ledgerbridge.unified.records import IncomingRecord, save_records

BATCH = 1000
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def payload(i: int) -> dict[str, Any]:
    return {
        "id": str(i),
        "created_at": "2025-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:00.000Z",
        "given_name": f"Given{i}",
        "family_name": f"Family{i}",
        "display_name": f"Customer {i}",
        "company_name": None,
        "active": True,
        "balance_cents": i % 100_000,
        "taxable": i % 2 == 0,
        "primary_email": f"customer{i}@example.com",
        "primary_phone": "(555) 555-0100",
        "bill_address": {
            "id": str(i),
            "line1": f"{i} Main St",
            "city": "Springfield",
            "postal_code": "12345",
            "country": "US",
        },
        "ship_address": None,
        "currency": "USD",
    }


def _new_connection(app: Any) -> str:
    with write_transaction(app.state.databases.main) as conn:
        return create_connection(
            conn,
            app.state.cipher,
            provider="qbo",
            base_url="http://bench",
            credentials={},
            sync_frequency_s=3600,
            now=T0,
        ).id


def load(app: Any, conn_id: str, count: int) -> float:
    """Upsert `count` records in pages of BATCH; returns records/s. Only the store's
    transactions are timed, not building the pages (as for `plain_insert`)."""
    engine = app.state.databases.main
    elapsed = 0.0
    for start in range(0, count, BATCH):
        batch = [
            IncomingRecord(str(i), payload(i), {"Id": str(i), "DisplayName": f"Customer {i}"})
            for i in range(start, min(start + BATCH, count))
        ]
        started = time.perf_counter()
        with write_transaction(engine) as conn:
            save_records(
                conn,
                connection_id=conn_id,
                model="Customer",
                batch=batch,
                now=T0 + timedelta(seconds=start),
            )
        elapsed += time.perf_counter() - started
    return count / elapsed


def plain_insert(app: Any, conn_id: str, count: int) -> float:
    """The same rows through a bare executemany INSERT (rows built outside the timing)."""
    engine = app.state.databases.main
    pages = []
    for start in range(0, count, BATCH):
        rows = []
        for i in range(start, min(start + BATCH, count)):
            # Hashed as the store hashes (`IncomingRecord`), the JSON left to SQLAlchemy.
            record = IncomingRecord(
                str(i), payload(i), remote_data={"Id": str(i), "DisplayName": f"Customer {i}"}
            )
            rows.append(
                {
                    "connection_id": conn_id,
                    "model": "Customer",
                    "external_id": record.external_id,
                    "payload": record.payload,
                    "remote_data": record.remote_data,
                    "content_hash": record.content_hash,
                    "remote_hash": record.remote_hash,
                    "first_seen_at": T0,
                    "last_modified_at": T0,
                    "deleted_at": None,
                    "last_action": "ADDED",
                    "change_seq": i + 1,
                }
            )
        pages.append(rows)
    started = time.perf_counter()
    for rows in pages:
        with write_transaction(engine) as conn:
            conn.execute(sa.insert(records), rows)
    return count / (time.perf_counter() - started)


def median_ms(client: httpx.Client, params: dict[str, Any], conn_id: str, runs: int) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get("/customers", params=params, headers={"Connection-Id": conn_id})
        timings.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        assert len(response.json()["records"]) == params["limit"]
    return statistics.median(timings)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="records_bench")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--baseline-records", type=int, default=200_000)
    parser.add_argument(
        "--database-url",
        default=BENCH_POSTGRES,
        help="a PostgreSQL server, where the bench makes a database of its own and drops it "
        "after (default: LEDGERBRIDGE_BENCH_POSTGRES, else the local server), or a SQLite URL",
    )
    parser.add_argument("--sqlite", action="store_true", help="a new SQLite file instead")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--clients", default="1,10,50", help="reader counts, comma-separated")
    parser.add_argument("--read-seconds", type=float, default=15.0)
    parser.add_argument("--readers-only", action="store_true")
    args = parser.parse_args(argv)
    if args.sqlite:
        _measure(args, "")
    elif is_postgresql(args.database_url):
        with scratch_database(args.database_url, "lb_records_bench") as url:
            _measure(args, url)
    else:
        _measure(args, args.database_url)


def _measure(args: argparse.Namespace, database_url: str) -> None:
    folder = Path(tempfile.mkdtemp(prefix="lb-bench-"))
    settings = Settings(
        data_dir=folder, database_url=database_url, api_key="bench", scheduler=False
    )
    app = create_app(settings)
    backend = app.state.databases.main.dialect.name
    print(f"backend: {backend}; records: {args.records:,}")
    if not args.readers_only:
        single_connection(app, args)
    levels = [int(n) for n in args.clients.split(",")]
    connection_ids = [_new_connection(app) for _ in range(max(levels))]
    each = args.records // len(connection_ids)
    rates = [load(app, conn_id, each) for conn_id in connection_ids]
    print(
        f"loaded {each * len(connection_ids):,} records into {len(connection_ids)} connections "
        f"at {statistics.mean(rates):,.0f} records/s; {args.read_seconds:.0f} s per level:"
    )
    app.state.databases.dispose()
    measure_readers(settings.main_database_url, connection_ids, levels, args.read_seconds, folder)


def single_connection(app: Any, args: argparse.Namespace) -> None:
    """Upsert against plain insert, then first and deep pages of one large connection."""
    baseline_n = min(args.baseline_records, args.records)
    upsert_rate = load(app, _new_connection(app), baseline_n)
    insert_rate = plain_insert(app, _new_connection(app), baseline_n)
    print(f"bulk upsert ({baseline_n:,} new records): {upsert_rate:,.0f} records/s")
    print(f"plain executemany INSERT, same rows:   {insert_rate:,.0f} records/s")
    print(f"upsert / plain insert: {upsert_rate / insert_rate:.2f}  (goal >= 0.5)")

    conn_id = _new_connection(app)
    full_rate = load(app, conn_id, args.records)
    print(f"loaded {args.records:,} records into one connection at {full_rate:,.0f} records/s")

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    with httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": "Bearer bench"}
    ) as client:
        with app.state.databases.main.connect() as conn:
            top = conn.execute(
                sa.select(sa.func.max(records.c.change_seq)).where(
                    records.c.connection_id == conn_id
                )
            ).scalar_one()
        first = median_ms(client, {"limit": 100}, conn_id, args.runs)
        deep = median_ms(
            client,
            {
                "limit": 100,
                "cursor": encode_cursor(top - 150, connection_id=conn_id, model="Customer"),
            },
            conn_id,
            args.runs,
        )
    server.should_exit = True
    thread.join()
    print(f"GET /customers?limit=100 first page:       median {first:.2f} ms")
    print(f"GET /customers?limit=100 page near the end: median {deep:.2f} ms")
    print(f"deep / first: {deep / first:.2f}  (goal <= 1.5)")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
