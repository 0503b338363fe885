"""QuickBooks Online sandbox at scale: seed N customers into one realm, then time the
indexed lookups and a 1000-row page through the real HTTP stack (in-process ASGI).

    python -m bench qbo_sandbox_bench --customers 1000000 [--database-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from ledgerbridge.api.app import create_app
from ledgerbridge.config import Settings
from ledgerbridge.providers.registry import get_platform

REALM = "9130357766123456"


def _median_ms(client: TestClient, url: str, params: dict[str, str], rounds: int) -> float:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = client.get(url, params=params)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    return statistics.median(timings)


def main(argv: list[str]) -> None:
    """Seed, then print the median of each query and the 1000-row page rate."""
    parser = argparse.ArgumentParser(prog="qbo_sandbox_bench")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--database-url", default="", help="sandbox database (default SQLite)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        sandbox_url = args.database_url or f"sqlite:///{Path(folder) / 'sandbox.db'}"
        settings = Settings(
            data_dir=Path(folder),
            database_url=f"sqlite:///{Path(folder) / 'main.db'}",
            sandbox_database_url=sandbox_url,
            api_key="bench",
            scheduler=False,
            _env_file=None,  # type: ignore[call-arg]
        )
        app = create_app(settings)
        context = app.state.sandbox
        sandbox = get_platform("qbo").sandbox
        started = time.perf_counter()
        sandbox.seed(context, REALM, args.customers, 1)
        seeded = time.perf_counter() - started
        print(
            f"seeded {args.customers:,} customers in {seeded:.1f} s "
            f"({args.customers / seeded:,.0f}/s)"
        )
        # The benchmark measures queries, not the throttle.
        from ledgerbridge.db import write_transaction
        from ledgerbridge.sandbox.tenants import update_tenant

        with write_transaction(context.engine) as connection:
            update_tenant(
                connection, "qbo", REALM, {"requests_per_minute": None, "max_concurrent": None}
            )
        token = sandbox.credentials(context, REALM)["access_token"]
        with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
            url = f"/sandbox/qbo/v3/company/{REALM}/query"
            middle = client.get(
                url, params={"query": f"SELECT * FROM Customer WHERE Id = '{args.customers // 2}'"}
            ).json()["QueryResponse"]["Customer"][0]
            name = middle["DisplayName"].replace("'", "\\'")
            since = middle["MetaData"]["LastUpdatedTime"]
            lookup = f"SELECT * FROM Customer WHERE DisplayName = '{name}'"
            page_query = (
                f"SELECT * FROM Customer WHERE Metadata.LastUpdatedTime > '{since}' "
                "ORDERBY Metadata.LastUpdatedTime MAXRESULTS 1000"
            )
            queries = {
                "DisplayName = (indexed lookup)": lookup,
                "LastUpdatedTime > ... ORDERBY ... MAXRESULTS 1000": page_query,
                "COUNT(*)": "SELECT COUNT(*) FROM Customer",
            }
            for label, text in queries.items():
                ms = _median_ms(client, url, {"query": text}, args.rounds)
                print(f"median {label}: {ms:.1f} ms")
            page = {"query": page_query}
            started = time.perf_counter()
            for _ in range(args.rounds):
                client.get(url, params=page)
            elapsed = time.perf_counter() - started
            print(
                f"1000-row pages: {args.rounds / elapsed:.1f} requests/s "
                f"({args.rounds * 1000 / elapsed:,.0f} customers/s)"
            )
        app.state.databases.dispose()
