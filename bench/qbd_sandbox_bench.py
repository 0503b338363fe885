"""Conductor sandbox throughput: seed N customers, then page through all of them over real
loopback HTTP (`status=all&limit=150`, Conductor's cursor), and print records/s.

`python -m bench qbd_sandbox_bench --customers 50000`
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from ledgerbridge.db import create_engine
from ledgerbridge.providers.qbd.sandbox import provider
from ledgerbridge.runtime import migrate_sandbox_database
from ledgerbridge.sandbox.base import SandboxContext

END_USER = "end_usr_bench"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str]) -> None:
    """Seed, then read everything back through the HTTP API; print both rates."""
    parser = argparse.ArgumentParser(prog="qbd_sandbox_bench")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="qbd-bench-"))
    engine = create_engine(args.database_url or f"sqlite:///{folder / 'sandbox.db'}")
    migrate_sandbox_database(engine)
    context = SandboxContext(engine=engine)
    provider.reset(context, END_USER)

    started = time.perf_counter()
    provider.seed(context, END_USER, args.customers, seed=1)
    seed_s = time.perf_counter() - started
    print(f"seeded {args.customers} customers in {seed_s:.2f} s "
          f"({args.customers / seed_s:,.0f} customers/s)", flush=True)  # fmt: skip

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            provider.create_app(context), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    key = provider.credentials(context, END_USER)["CONDUCTOR_SECRET_KEY"]
    headers = {"Authorization": f"Bearer {key}", "Conductor-End-User-Id": END_USER}
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=90
        ) as client:
            started = time.perf_counter()
            records = pages = 0
            params: dict[str, str | int] = {"status": "all", "limit": 150}
            while True:
                response = client.get("/quickbooks-desktop/customers", params=params)
                response.raise_for_status()
                body = response.json()
                records += len(body["data"])
                pages += 1
                if body["nextCursor"] is None:
                    break
                params = {"status": "all", "limit": 150, "cursor": body["nextCursor"]}
            read_s = time.perf_counter() - started
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()
    print(f"paged {records} customers in {pages} pages in {read_s:.2f} s "
          f"({records / read_s:,.0f} records/s)", flush=True)  # fmt: skip
    if records != args.customers:
        raise SystemExit(f"expected {args.customers} customers, read {records}")
