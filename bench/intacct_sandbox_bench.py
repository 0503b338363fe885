"""Intacct sandbox: seed rate, query-service latency, paging rate and a first sync's read.

`python -m bench intacct_sandbox_bench --customers N [--database-url URL]`

With `--database-url`, a company that already holds N customers is reused as it is
(seeding a million takes minutes): seed once into a file, then time as often as needed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from ledgerbridge.db import create_engine
from ledgerbridge.providers.intacct.connector import MODIFIED
from ledgerbridge.providers.intacct.mapper import QUERY_FIELDS
from ledgerbridge.providers.intacct.sandbox import cache, provider
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


def _sync_read(post: Callable[[dict[str, Any]], dict[str, Any]]) -> int:
    """Every customer read as the connector's first sync reads them (`IntacctConnector`:
    its fields, parent's among them, ordered by modification time then key, each page
    from the last page's second on, that second's keys skipped); the rows read."""
    since: str | None = None
    seen: set[str] = set()
    rows = 0
    while True:
        size = 4000  # the most a query answers; the boundary second's rows come again
        answer = post(
            {
                "object": QUERY["object"],
                "fields": list(QUERY_FIELDS),
                "filters": [{"$gte": {MODIFIED: since}}] if since else [],
                "orderBy": [{MODIFIED: "asc"}, {"key": "asc"}],
                "start": 1,
                "size": size,
            }
        )
        page = answer["ia::result"]
        assert isinstance(page, list), answer
        fresh = [row for row in page if not (row[MODIFIED] == since and row["key"] in seen)]
        if not fresh and len(page) == size:
            raise SystemExit(f"more than a page of customers modified at {since}")
        rows += len(fresh)
        for row in fresh:
            if row[MODIFIED] != since:
                since, seen = row[MODIFIED], set()
            seen.add(row["key"])
        if len(page) < size:
            return rows


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
        cache.clear()  # the first sync of a company meets nothing remembered
        begun = time.perf_counter()
        rows = _sync_read(lambda body: http.post(URL, json=body, headers=headers).json())
        seconds = time.perf_counter() - begun
        print(
            f"a first sync's read (its fields, keyset pages of 4000 by modification time,"
            f" nothing cached): {rows} rows in {seconds:.1f}s = {rows / seconds:,.0f}/s"
        )
    engine.dispose()
