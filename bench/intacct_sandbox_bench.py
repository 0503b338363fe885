"""Intacct sandbox: seed rate, query-service latency and paging rate.

`python -m bench intacct_sandbox_bench --customers N [--database-url URL]`
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from ledgerbridge.db import create_engine
from ledgerbridge.providers.intacct.sandbox import provider
from ledgerbridge.sandbox.app import migrate_sandbox_database
from ledgerbridge.sandbox.base import SandboxContext

QUERY = {
    "object": "accounts-receivable/customer",
    "fields": ["key", "id", "name", "totalDue", "audit.modifiedDateTime"],
    "filters": [
        {"$eq": {"status": "active"}},
        {"$gt": {"totalDue": "1000"}},
        {"$gte": {"audit.modifiedDateTime": "2026-01-01T00:00:00Z"}},
    ],
    "filterExpression": "1 and (2 or 3)",
    "orderBy": [{"audit.modifiedDateTime": "asc"}],
    "size": 100,
}


def main(argv: list[str]) -> None:
    """Seed a company, then time the query service against it."""
    parser = argparse.ArgumentParser(prog="intacct_sandbox_bench")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--queries", type=int, default=20)
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="intacct-bench-"))
    engine = create_engine(args.database_url or f"sqlite:///{folder / 'sandbox.db'}")
    migrate_sandbox_database(engine)
    context = SandboxContext(engine=engine)

    started = time.perf_counter()
    provider.seed(context, "BENCH", args.customers, seed=1)
    seconds = time.perf_counter() - started
    print(f"seed: {args.customers} customers in {seconds:.1f}s = {args.customers / seconds:,.0f}/s")

    token = provider.credentials(context, "BENCH")["access_token"]
    with TestClient(provider.create_app(context)) as http:
        headers = {"Authorization": f"Bearer {token}"}
        url = "/services/core/query"
        timings = []
        for _ in range(args.queries):
            begun = time.perf_counter()
            response = http.post(url, json=QUERY, headers=headers)
            timings.append(time.perf_counter() - begun)
            assert response.status_code == 200, response.text
        print(
            f"query (3 conditions, orderBy): median {statistics.median(timings) * 1000:.1f} ms"
            f" over {args.queries} runs, totalCount {response.json()['ia::meta']['totalCount']}"
        )
        begun, rows, start = time.perf_counter(), 0, 1
        while True:
            page = http.post(
                url,
                json={
                    "object": QUERY["object"],
                    "fields": ["key", "id", "name"],
                    "start": start,
                    "size": 2000,
                },
                headers=headers,
            ).json()
            rows += len(page["ia::result"])
            if page["ia::meta"]["next"] is None:
                break
            start = page["ia::meta"]["next"]
        seconds = time.perf_counter() - begun
        print(
            f"paging all customers by 2000: {rows} rows in {seconds:.1f}s = {rows / seconds:,.0f}/s"
        )
    engine.dispose()
