"""Many readers: clients paging `GET /customers` of different connections at once against
one `ledgerbridge serve` process, as a separate process on the same database.

Each client owns one connection and follows `next_cursor` with `limit=100` from the start,
beginning again at the end, for a fixed time; every request's latency is kept. The clients
are asyncio tasks of one process (this one), each with its own keep-alive connection, so on
a small machine they share its cores with the server: the figures are the whole loop's.
Beside them, the server process's own CPU a request (from /proc), which does not depend on
who else shares the machine.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.processes import cpu_s

API_KEY = "bench-readers"
PAGE = 100


@dataclass(frozen=True)
class ReadFigures:
    clients: int
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    server_cpu_s: float
    """CPU seconds the `serve` process spent over the level."""

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def line(self) -> str:
        return (
            f"{self.clients:>3} clients: {self.per_second:7,.0f} requests/s  "
            f"p50 {self.p50_ms:6.1f} ms  p95 {self.p95_ms:6.1f} ms  ({self.requests:,} requests; "
            f"server CPU {self.server_cpu_s / max(self.requests, 1) * 1e3:.2f} ms a request)"
        )


@contextmanager
def serve(database_url: str, folder: Path) -> Iterator[tuple[str, int]]:
    """A `ledgerbridge serve` process on `database_url` (no scheduler); yields its URL and
    process id."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env = {
        **os.environ,
        "LEDGERBRIDGE_DATA_DIR": str(folder),
        "LEDGERBRIDGE_DATABASE_URL": database_url,
        "LEDGERBRIDGE_API_KEY": API_KEY,
        "LEDGERBRIDGE_SCHEDULER": "false",
    }
    command = [sys.executable, "-m", "ledgerbridge", "serve", "--port", str(port)]
    # The server logs each request as it would in production (part of its CPU a request),
    # into a file rather than over the benchmark's figures.
    log = folder / "serve.log"
    with log.open("w") as output:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=output)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start (its log: {log})")
            time.sleep(0.2)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


async def _reader(
    http: httpx.AsyncClient, connection_id: str, until: float, latencies: list[float]
) -> None:
    cursor: str | None = None
    headers = {"Connection-Id": connection_id}
    while time.perf_counter() < until:
        params: dict[str, str | int] = {"limit": PAGE}
        if cursor:
            params["cursor"] = cursor
        started = time.perf_counter()
        response = await http.get("/customers", params=params, headers=headers)
        latencies.append(time.perf_counter() - started)
        response.raise_for_status()
        body = response.json()
        if not body["records"]:
            raise SystemExit(f"connection {connection_id} has no records")
        cursor = body["next_cursor"]  # None at the end: start again


async def _first_page(http: httpx.AsyncClient, connection_id: str) -> None:
    response = await http.get(
        "/customers", params={"limit": PAGE}, headers={"Connection-Id": connection_id}
    )
    response.raise_for_status()


async def _measure(
    url: str, server_pid: int, connection_ids: list[str], seconds: float
) -> ReadFigures:
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=len(connection_ids) + 1)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    # A client waits its turn behind the others: at 50 clients a page can take seconds, past
    # httpx's 5 s default, which would end the level instead of measuring it.
    timeout = httpx.Timeout(60.0)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=timeout
    ) as http:
        # A first page each, untimed: connections opened and the server warm.
        await asyncio.gather(*(_first_page(http, c) for c in connection_ids))
        started, server_cpu = time.perf_counter(), cpu_s(server_pid)
        until = started + seconds
        await asyncio.gather(*(_reader(http, c, until, latencies) for c in connection_ids))
        elapsed = time.perf_counter() - started
        server_cpu = cpu_s(server_pid) - server_cpu
    quantiles = statistics.quantiles(latencies, n=100)
    return ReadFigures(
        clients=len(connection_ids),
        requests=len(latencies),
        seconds=elapsed,
        p50_ms=statistics.median(latencies) * 1000,
        p95_ms=quantiles[94] * 1000,
        server_cpu_s=server_cpu,
    )


def measure_readers(
    database_url: str,
    connection_ids: list[str],
    levels: list[int],
    seconds: float,
    folder: Path,
) -> list[ReadFigures]:
    """For each number of clients in `levels`, that many clients (each on its own
    connection of `connection_ids`) reading for `seconds` against one `serve` process
    whose data folder is `folder` (the loader's: its secret key reads the connections'
    credentials)."""
    figures = []
    with serve(database_url, folder) as (url, pid):
        for clients in levels:
            figures.append(asyncio.run(_measure(url, pid, connection_ids[:clients], seconds)))
            print(figures[-1].line(), flush=True)
    return figures
