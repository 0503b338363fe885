"""Intacct sandbox: seed rate, query-service latency and paging rate.

A first sync's read, through the connector itself, is `sync_bench --provider intacct`'s
first read-only pass (a new server: nothing remembered).

`python -m bench intacct_sandbox_bench --customers N [--database-url URL]`

With `--database-url`, a company that already holds N customers is reused as it is
(seeding a million takes minutes): seed once into a file, then time as often as needed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from ledgerbridge.db import create_engine
from ledgerbridge.providers.intacct.sandbox import provider
from ledgerbridge.providers.intacct.sandbox.tables import customers
from ledgerbridge.runtime import migrate_sandbox_database
from ledgerbridge.sandbox.base import SandboxContext

TENANT = "BENCH"
URL = "/services/core/query"
QUERY: dict[str, Any] = {
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

    with engine.connect() as connection:
        existing = connection.execute(
            sa.select(sa.func.count()).where(customers.c.tenant_id == TENANT)
        ).scalar_one()
    if existing == args.customers:
        print(f"seed: reusing the {existing} customers already in the database")
    elif existing:
        raise SystemExit(
            f"{TENANT} already has {existing} customers, not {args.customers}: use another database"
        )
    else:
        started = time.perf_counter()
        provider.seed(context, TENANT, args.customers, seed=1)
        seconds = time.perf_counter() - started
        print(
            f"seed: {args.customers} customers in {seconds:.1f}s"
            f" = {args.customers / seconds:,.0f}/s"
        )

    token = provider.credentials(context, TENANT)["access_token"]
    with TestClient(provider.create_app(context)) as http:
        headers = {"Authorization": f"Bearer {token}"}

        def timed(body: dict[str, Any]) -> tuple[float, float, dict[str, Any]]:
            """The first run's ms, the median ms over `--queries` runs, the last answer."""
            timings = []
            for _ in range(args.queries):
                begun = time.perf_counter()
                response = http.post(URL, json=body, headers=headers)
                timings.append(time.perf_counter() - begun)
                assert response.status_code == 200, response.text
            answer: dict[str, Any] = response.json()
            return timings[0] * 1000, statistics.median(timings) * 1000, answer

        first, median, answer = timed(QUERY)
        total = answer["ia::meta"]["totalCount"]
        print(
            f"query (3 conditions, orderBy): median {median:.1f} ms over {args.queries} runs"
            f" (first {first:.1f} ms), totalCount {total}"
        )
        last_page = max(1, total - QUERY["size"] + 1)
        first, median, answer = timed({**QUERY, "start": last_page})
        assert len(answer["ia::result"]) == min(total, QUERY["size"])
        print(
            f"same query, last page (start {last_page}): median {median:.1f} ms"
            f" (first {first:.1f} ms)"
        )
        begun, rows, start = time.perf_counter(), 0, 1
        while True:
            page = http.post(
                URL,
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
