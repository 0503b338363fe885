"""Webhook delivery under chaos: events written to the outbox, two `ledgerbridge worker`
processes delivering them to a receiver that fails at random, one worker SIGKILLed midway.

Prints events written, events delivered (answered 2xx at least once), deliveries the
receiver got more than once (at least once: a killed worker's in-flight requests are sent
again by the survivor), deliveries any one worker made twice (must be 0), retries
(failed attempts), and events that reached the receiver out of order for their
connection (must be 0). `python -m bench webhooks_chaos_bench [EVENTS] [DATABASE_URL]`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ledgerbridge.config import Settings
from ledgerbridge.connections import create_connection
from ledgerbridge.crypto import CredentialCipher, load_or_create_key
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.runtime import open_databases
from ledgerbridge.tables import sync_state, webhook_attempts, webhook_deliveries
from ledgerbridge.webhooks.events import EventType, record_event
from ledgerbridge.webhooks.subscriptions import create_subscription

CONNECTIONS = 20
FAILURE_RATE = 0.25


class _Server(ThreadingHTTPServer):
    """Room for every sender's connections at once (the default backlog of 5 makes the
    kernel drop connection attempts beyond it, which then wait a second to retry)."""

    request_queue_size = 128
    daemon_threads = True


class ChaosReceiver:
    """Answers 500 to a quarter of requests at random and 2xx to the rest, recording the
    event ids it accepted, in order."""

    def __init__(self) -> None:
        self.accepted: list[dict[str, Any]] = []
        self.requests = 0
        self.lock = threading.Lock()
        rng = random.Random(11)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(rng.random() * 0.02)
                with outer.lock:
                    outer.requests += 1
                    failed = rng.random() < FAILURE_RATE
                    if not failed:
                        outer.accepted.append(json.loads(body))
                self.send_response(500 if failed else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _write_events(settings: Settings, events: int, url: str) -> None:
    databases = open_databases(settings)
    cipher = CredentialCipher(load_or_create_key(settings))
    now = utcnow()
    with write_transaction(databases.main) as conn:
        create_subscription(
            conn,
            cipher,
            environment="dev",
            url=url,
            events=["connection.created", "sync.succeeded"],
            include_empty_syncs=True,
            now=now,
        )
        ids = [
            create_connection(
                conn,
                cipher,
                provider="qbo",
                base_url="http://127.0.0.1:9",
                credentials={},
                sync_frequency_s=86400,
                now=now,
            ).id
            for _ in range(CONNECTIONS)
        ]
        # Nothing is due: the workers only deliver.
        conn.execute(sa.update(sync_state).values(next_run_at=now.replace(year=now.year + 1)))
        for n in range(events - CONNECTIONS):
            connection_id = ids[n % CONNECTIONS]
            data = {"connection_id": connection_id, "n": n}
            record_event(
                conn, EventType.SYNC_SUCCEEDED, connection_id=connection_id, data=data, now=now
            )
    databases.dispose()


def _worker(settings: Settings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LEDGERBRIDGE_DATA_DIR": str(settings.data_dir),
        "LEDGERBRIDGE_DATABASE_URL": settings.main_database_url,
        "LEDGERBRIDGE_SANDBOX_DATABASE_URL": settings.sandbox_url,
        "LEDGERBRIDGE_WEBHOOK_RETRY_BASE_S": "0.05",
        "LEDGERBRIDGE_WEBHOOK_RETRY_CAP_S": "0.5",
        "LEDGERBRIDGE_WEBHOOK_LEASE_S": "3",
        "LEDGERBRIDGE_WEBHOOK_TIMEOUT_S": "2",
        "LEDGERBRIDGE_LOG_LEVEL": "warning",
    }
    command = [sys.executable, "-m", "ledgerbridge", "worker"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _pending(settings: Settings) -> int:
    engine = sa.create_engine(settings.main_database_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(webhook_deliveries)
                    .where(webhook_deliveries.c.status == "pending")
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _order_violations(accepted: list[dict[str, Any]]) -> int:
    """Events accepted before an earlier event of their connection was first accepted."""
    first_seen: dict[str, int] = {}
    for index, event in enumerate(accepted):
        first_seen.setdefault(event["id"], index)
    by_connection: dict[str, list[tuple[int, int]]] = {}
    for event in accepted:
        n = event["data"].get("n", -1)
        by_connection.setdefault(event["data"]["connection_id"], []).append(
            (first_seen[event["id"]], n)
        )
    violations = 0
    for seen in by_connection.values():
        ordered = [n for _, n in sorted(set(seen))]
        violations += sum(1 for a, b in itertools.pairwise(ordered) if b < a)
    return violations


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="webhooks_chaos_bench")
    parser.add_argument("events", type=int, nargs="?", default=600)
    parser.add_argument("database_url", nargs="?", help="default: SQLite in a new folder")
    args = parser.parse_args(argv)
    events = args.events
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'chaos.db'}"
        settings = Settings(data_dir=Path(folder), database_url=url, _env_file=None)  # type: ignore[call-arg]
        receiver = ChaosReceiver()
        _write_events(settings, events, receiver.url)
        started = time.monotonic()
        workers = [_worker(settings), _worker(settings)]
        try:
            while len(receiver.accepted) < events // 3:
                time.sleep(0.01)
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait()
            killed_at = len(receiver.accepted)
            deadline = time.monotonic() + 600
            while _pending(settings):
                assert time.monotonic() < deadline, "not everything was delivered"
                time.sleep(0.1)
            seconds = time.monotonic() - started
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
                worker.wait()
        receiver.server.shutdown()
        engine = sa.create_engine(settings.main_database_url)
        with read_transaction(engine) as conn:
            attempts = conn.execute(
                sa.select(
                    webhook_attempts.c.worker,
                    webhook_attempts.c.delivery_id,
                    webhook_attempts.c.status_code,
                )
            ).all()
        engine.dispose()
    per_event = Counter(event["id"] for event in receiver.accepted)
    by_worker = Counter((a.worker, a.delivery_id) for a in attempts if a.status_code == 200)
    workers_seen = Counter(a.worker for a in attempts)
    twice_by_one = sum(count - 1 for count in by_worker.values() if count > 1)
    print(
        f"events written: {events} ({CONNECTIONS} connections, receiver fails {FAILURE_RATE:.0%})"
    )
    print(f"delivered (2xx at least once): {len(per_event)} in {seconds:.1f} s")
    print(f"worker killed after {killed_at} accepted; attempts per worker: {dict(workers_seen)}")
    print(f"received 2xx more than once: {sum(c - 1 for c in per_event.values() if c > 1)}")
    print(f"made twice by one worker: {twice_by_one}")
    print(f"retries (failed attempts recorded): {sum(1 for a in attempts if a.status_code != 200)}")
    print(f"requests the receiver got: {receiver.requests}")
    print(f"out of order per connection: {_order_violations(receiver.accepted)}")
