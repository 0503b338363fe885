"""End-to-end sync: a sandbox company served by a separate `ledgerbridge serve` process over
loopback HTTP (limits off: the sandbox's, and the connector's own pacing), synced into
SQLite (or `--database-url`) by this process.

Prints the full sync's records/s, wall time and this process's peak RSS; the syncing
process's CPU per customer (start-up shown apart); read-only passes over the same pages
just before it, which also warms the sandbox, and just after it (the connector's own
requests and parsing, nothing mapped or stored: a page's records are mapped when first
read, `providers.base.MappedOnRead`, and these passes only count them), their rates, the
second's CPU per customer, and the full sync's rate as a share of the second's; beside
each, the sandbox server's CPU per customer, how busy the machine was, and with
`--database-url` on a PostgreSQL server of this machine, that server's CPU per customer
in the full sync; then the time of an incremental sync that finds nothing to do.

`--rounds N` (default 3) repeats the read-only pass, full sync, read-only pass sequence,
each full sync a new connection's first into a new SQLite main database, and prints the
medians and ranges of the rounds' figures last: on a shared machine one round's ratio
swings with the neighbours' load (seen: 68-91% within minutes on one tree). With
`--database-url`, one round.

`--latency-ms N` has the sandbox hold every request N ms before it answers, as a platform
across a network would: how a sync compares with the read-only pass when the platform, not
this machine, sets the pace.

Seeding a million customers takes minutes: `--sandbox-database-url` keeps the sandbox in
a database of your choosing, and `--seeded` reuses one seeded by an earlier run (the main
database is new each run unless `--database-url` says otherwise).

`python -m bench sync_bench --provider qbo --customers 100000`

With no options (as `make bench` runs it), the figures of issue 17's goal 2: QuickBooks
Online and Intacct at 10,000, 100,000 (three rounds each) and 1,000,000 customers (one
round; seeding QuickBooks Online's million takes about 8 minutes), each run in a process of
its own so that its peak RSS is its own, then one table of them all. `--matrix --sizes
2000,5000` runs the same over other sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa

from bench.processes import cpu_s, machine_busy, postgres_cpu_s
from ledgerbridge import runtime
from ledgerbridge.config import Settings
from ledgerbridge.connect import connect_sandbox
from ledgerbridge.connections import get_connection
from ledgerbridge.crypto import CredentialCipher, load_or_create_key
from ledgerbridge.db import read_transaction
from ledgerbridge.providers.base import ConnectorSettings
from ledgerbridge.runtime import open_databases
from ledgerbridge.sync.engine import SyncEnvironment, needs_key_lists, open_connector, run_sync
from ledgerbridge.sync.worker import new_http_client

UNPACED = ConnectorSettings(requests_per_minute=1_000_000)
"""The connector's own pacing lifted, as the sandbox's limits are: a connector keeps under
its platform's published rate (QuickBooks Online: 500 requests a minute a realm), which at
a million customers (2,001 requests) bounds a run at 4,166 customers/s whatever the code
does."""

TENANTS = {"qbo": "9130357992221046", "qbd": "end_usr_bench", "intacct": "BENCH-CO"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "ledgerbridge", *args], env=env, check=True)


def server_env(folder: Path, port: int) -> dict[str, str]:
    """The environment of a benchmark's `ledgerbridge` processes: one data folder, one
    port, no scheduler, and no access log (a line a page would bury the figures)."""
    return {
        **os.environ,
        "LEDGERBRIDGE_DATA_DIR": str(folder),
        "LEDGERBRIDGE_PORT": str(port),
        "LEDGERBRIDGE_SCHEDULER": "false",
        "LEDGERBRIDGE_LOG_LEVEL": "warning",
    }


def _wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit("the sandbox server did not start")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _read_only(env: SyncEnvironment, connection_id: str) -> tuple[int, float, float]:
    """A pass over the same pages, fetched and parsed by the connector's own requests, that
    maps and stores nothing: (customers, seconds, CPU seconds). The same pages: those of a
    connection's first sync, which reads no key list (`needs_key_lists`)."""
    with read_transaction(env.engine) as conn:
        info = get_connection(conn, connection_id)
    connector = open_connector(env, info, key_lists=needs_key_lists(pass_began_at_seq=0))
    customers, cpu, started = 0, time.process_time(), time.perf_counter()
    async for page in connector.pages(None):
        customers += len(page.records)  # counted, never read: nothing is mapped
    return customers, time.perf_counter() - started, time.process_time() - cpu


def _others(server_pid: int, postgresql: bool) -> tuple[float, float, float, float]:
    """(the sandbox server's CPU seconds, the machine's busy and total CPU seconds, and with
    `postgresql` the local PostgreSQL server's CPU seconds, else 0) so far."""
    return (cpu_s(server_pid), *machine_busy(), postgres_cpu_s() if postgresql else 0.0)


def _beside(
    before: tuple[float, float, float, float],
    seconds: float,
    customers: int,
    server_pid: int,
    postgresql: bool,
) -> str:
    """The sandbox server's CPU a customer and share of a core, and how busy the machine
    was, over a pass that began at `before` and took `seconds`; with `postgresql` (the main
    database on a server of this machine) that server's CPU a customer too."""
    now = _others(server_pid, postgresql)
    server, busy, total, database = (b - a for a, b in zip(before, now, strict=True))
    shown = (
        f"sandbox server {server / max(customers, 1) * 1e6:,.1f} us a customer "
        f"({server / seconds:.0%} of a core), machine {busy / max(total, 1e-9):.0%} busy"
    )
    if postgresql:
        shown += f", PostgreSQL server {database / max(customers, 1) * 1e6:,.1f} us a customer"
    return shown


def _local_postgresql(url: sa.engine.URL) -> bool:
    """Whether the main database is on a PostgreSQL server of this machine."""
    local = url.host in (None, "", "localhost", "127.0.0.1", "::1")
    return url.get_backend_name() == "postgresql" and local and postgres_cpu_s() > 0


@dataclass(frozen=True)
class Round:
    """One round's figures: the full sync's records/s, the read-only pass's after it, and
    the syncing process's CPU a customer in the sync."""

    rate: float
    read_rate: float
    cpu_us: float

    @property
    def ratio(self) -> float:
        return self.rate / self.read_rate


async def _sync(
    settings: Settings, connection_id: str, server_pid: int, round_began_cpu: float
) -> Round:
    databases = open_databases(settings)
    cipher = CredentialCipher(load_or_create_key(settings))
    async with new_http_client() as http:
        env = SyncEnvironment(
            engine=databases.main, cipher=cipher, http=http, connector_settings=UNPACED
        )
        # Imports (the first round's), settings, databases: not per customer.
        startup_cpu = time.process_time() - round_began_cpu
        runtime.started()  # as `ledgerbridge sync`, `serve` and `worker` do once started
        others = _others(server_pid, postgresql=False)  # the read-only pass stores nothing
        read, read_s, _ = await _read_only(env, connection_id)
        read_beside = _beside(others, read_s, read, server_pid, postgresql=False)
        postgresql = _local_postgresql(databases.main.url)
        others = _others(server_pid, postgresql)
        cpu, started = time.process_time(), time.perf_counter()
        run = await run_sync(env, connection_id, full=True)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        if run.error:
            raise SystemExit(f"the sync failed: {run.error}")
        records = run.added + run.updated + run.deleted + run.unchanged
        full_beside = _beside(others, seconds, records, server_pid, postgresql)
        # The sync is compared with a pass after it: the first pass warms the sandbox (its
        # database pages; Intacct's count and bookmark caches, which made the first pass
        # of 100,000 Intacct customers half as fast as the second), and the sync, which
        # runs warm, would otherwise be held against a cold sandbox.
        again, again_s, again_cpu = await _read_only(env, connection_id)
        rate, read_rate = records / seconds, again / again_s
        print(
            f"full sync: {records:,} records in {seconds:.1f}s = "
            f"{rate:,.0f} records/s ({run.pages} pages); "
            f"peak RSS of the syncing process {_peak_rss_mb():,.0f} MB"
        )
        print(
            f"  CPU of the syncing process: {cpu / max(records, 1) * 1e6:,.1f} us a customer "
            f"(start-up {startup_cpu:.2f} s, not included); read-only passes over the same "
            f"pages (fetch and parse; nothing mapped or stored) before it, warming the "
            f"sandbox, {read / read_s:,.0f} customers/s, and after it {read_rate:,.0f} "
            f"customers/s, {again_cpu / max(again, 1) * 1e6:,.1f} us a customer; "
            f"full sync / read-only after {rate / read_rate:.0%}"
        )
        print(
            f"  beside it ({os.cpu_count()} cores): in the read-only pass before "
            f"{read_beside}; in the full sync {full_beside}"
        )
        started = time.perf_counter()
        noop = await run_sync(env, connection_id)
        print(
            f"incremental sync with no change: {time.perf_counter() - started:.2f}s "
            f"(changed {noop.added + noop.updated + noop.deleted})"
        )
    databases.dispose()
    return Round(rate, read_rate, cpu / max(records, 1) * 1e6)


def _spread(values: list[float], unit: str = "", scale: float = 1) -> str:
    """The median of `values`, and their range when there are several."""
    mid = statistics.median(values) * scale
    if len(values) == 1:
        return f"{mid:,.0f}{unit}"
    return f"{mid:,.0f}{unit} ({min(values) * scale:,.0f}-{max(values) * scale:,.0f})"


def _figures(
    rounds: list[Round], units: tuple[str, str, str, str] = ("%", "", "", "")
) -> tuple[str, str, str, str]:
    """The rounds' ratio, full sync rate, read-only rate and CPU a customer, each a median
    with its range (`_spread`) and its unit of `units`: what the summary line and the
    matrix's table both show."""
    ratio, rate, read_rate, cpu = units
    return (
        _spread([r.ratio for r in rounds], ratio, 100),
        _spread([r.rate for r in rounds], rate),
        _spread([r.read_rate for r in rounds], read_rate),
        _spread([r.cpu_us for r in rounds], cpu),
    )


def _summary(rounds: list[Round]) -> str:
    """The rounds' medians and ranges: on a shared machine one round's ratio swings with
    the neighbours' load (seen: 68-91% within minutes), so a ratio is read off several."""
    units = ("%", " records/s", " customers/s", " us a customer")
    ratio, rate, read_rate, cpu = _figures(rounds, units)
    return (
        f"over {len(rounds)} rounds: full sync / read-only after median {ratio}; full sync "
        f"median {rate}; read-only after median {read_rate}; CPU of the syncing process "
        f"median {cpu}"
    )


MATRIX_PROVIDERS = ("qbo", "intacct")
"""Goal 2's platforms (QuickBooks Desktop's sync is bound by its sandbox)."""
MATRIX_SIZES = (10_000, 100_000, 1_000_000)
ONE_ROUND_FROM = 1_000_000
"""Sizes from which the matrix runs one round (a round of a million takes minutes)."""


def _rounds_json(rounds: list[Round]) -> str:
    """A run's rounds and its peak RSS, as `--summary-json` writes them."""
    return json.dumps({"rounds": [asdict(r) for r in rounds], "peak_rss_mb": _peak_rss_mb()})


def _table_row(provider: str, customers: int, rounds: list[Round], peak_rss_mb: float) -> str:
    """One line of the matrix's table: medians, with ranges when there are several rounds."""
    cells = " | ".join(_figures(rounds))
    return f"| {provider} | {customers:,} | {cells} | {peak_rss_mb:,.0f} MB |"


def _read_summary(path: Path) -> tuple[list[Round], float]:
    """What `_rounds_json` wrote: the rounds and the peak RSS."""
    written = json.loads(path.read_text())
    return [Round(**r) for r in written["rounds"]], float(written["peak_rss_mb"])


TABLE_HEAD = (
    "| provider | customers | full / read-only after | full sync, records/s "
    "| read-only after, customers/s | CPU a customer, us | peak RSS |\n"
    "| --- | --- | --- | --- | --- | --- | --- |"
)


def _matrix(sizes: tuple[int, ...]) -> None:
    """Each platform at each size in a process of its own, then the table of them all."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="sync-bench-matrix-") as folder:
        for provider in MATRIX_PROVIDERS:
            for customers in sizes:
                rounds = 1 if customers >= ONE_ROUND_FROM else 3
                summary = Path(folder) / f"{provider}-{customers}.json"
                print(f"-- {provider}, {customers:,} customers, {rounds} round(s)", flush=True)
                subprocess.run(
                    [
                        *(sys.executable, "-m", "bench", "sync_bench"),
                        *("--provider", provider, "--customers", str(customers)),
                        *("--rounds", str(rounds), "--summary-json", str(summary)),
                    ],
                    check=True,
                )
                rows.append(_table_row(provider, customers, *_read_summary(summary)))
    print(f"goal 2, {os.cpu_count()} cores (medians and ranges of rounds):")
    print(TABLE_HEAD)
    print("\n".join(rows))


def _sizes(text: str) -> tuple[int, ...]:
    """`--sizes`: whole numbers of customers, 1 or more, comma-separated."""
    try:
        sizes = tuple(int(size) for size in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("whole numbers of customers, 1 or more, comma-separated")
    return sizes


def _seed(env: dict[str, str], provider: str, tenant: str, customers: int) -> None:
    started = time.perf_counter()
    _cli(
        env,
        "sandbox",
        "seed",
        "--provider",
        provider,
        "--tenant",
        tenant,
        "--customers",
        str(customers),
        "--seed",
        "1",
    )
    print(f"seeded {customers:,} {provider} customers in {time.perf_counter() - started:.0f}s")


def _round(
    settings: Settings, provider: str, tenant: str, server_pid: int, began_cpu: float
) -> Round:
    """A new connection to the sandbox company served at `settings.base_url`, in the main
    database `settings` name, synced; `began_cpu` is this process's CPU when the round
    began (0 for the first, whose start-up includes the imports)."""
    databases = open_databases(settings)
    info = connect_sandbox(
        databases,
        CredentialCipher(load_or_create_key(settings)),
        provider=provider,
        tenant=tenant,
        server_url=settings.base_url,
    )
    databases.dispose()
    return asyncio.run(_sync(settings, info.id, server_pid, began_cpu))


def main(argv: list[str]) -> None:
    if not argv:
        _matrix(MATRIX_SIZES)
        return
    parser = argparse.ArgumentParser(prog="sync_bench")
    parser.add_argument("--provider", choices=sorted(TENANTS), default="qbo")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--database-url", default="", help="main database (default SQLite)")
    parser.add_argument(
        "--sandbox-database-url", default="", help="the sandbox's database (default SQLite)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="full syncs, each into a new main database (SQLite only), each between "
        "read-only passes; their medians and ranges are printed last",
    )
    parser.add_argument(
        "--seeded",
        action="store_true",
        help="the sandbox database already holds the company: do not seed it again",
    )
    parser.add_argument(
        "--summary-json", default="", help="also write the rounds' figures to this file"
    )
    parser.add_argument(
        "--latency-ms",
        type=int,
        default=0,
        help="the sandbox holds each request this long before answering (its `latency_ms` "
        "setting), as a platform across a network would; default 0, loopback as it is",
    )
    parser.add_argument(
        "--matrix",
        action="store_true",
        help="QuickBooks Online and Intacct at each of --sizes, each in a process of its own, "
        "then a table (the default with no options)",
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=MATRIX_SIZES,
        help="the matrix's sizes, comma-separated",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds: 1 or more")
    if args.matrix:
        _matrix(args.sizes)
        return
    # A given main database is used as it is: one first sync into it.
    count = 1 if args.database_url else args.rounds
    folder = Path(tempfile.mkdtemp(prefix="sync-bench-"))
    port = _free_port()
    env = server_env(folder, port)
    if args.database_url:
        env["LEDGERBRIDGE_DATABASE_URL"] = args.database_url
    if args.sandbox_database_url:
        env["LEDGERBRIDGE_SANDBOX_DATABASE_URL"] = args.sandbox_database_url
    tenant = TENANTS[args.provider]
    if not args.seeded:
        _seed(env, args.provider, tenant, args.customers)
    _cli(
        env,
        "sandbox",
        "configure",
        "--provider",
        args.provider,
        "--tenant",
        tenant,
        "requests_per_minute=off",
        "max_concurrent=off",
        "queue_when_busy=false",
        f"latency_ms={args.latency_ms}",
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "ledgerbridge", "serve"], env=env, stdout=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_up(url)
        # Every round reads the server's sandbox database, wherever its main database is.
        server_settings = Settings(data_dir=folder, _env_file=None)  # type: ignore[call-arg]
        sandbox_url = args.sandbox_database_url or server_settings.sandbox_url
        rounds = []
        for number in range(count):
            if count > 1:
                print(f"round {number + 1} of {count}", flush=True)
            # The first round's main database is the server's own (`folder`); later ones
            # are new, so each full sync is a connection's first, into an empty store.
            data_dir = folder / f"round-{number + 1}" if number else folder
            data_dir.mkdir(exist_ok=True)
            settings = Settings(
                data_dir=data_dir,
                database_url=args.database_url,
                sandbox_database_url=sandbox_url,
                port=port,
                scheduler=False,
                _env_file=None,  # type: ignore[call-arg]
            )
            began_cpu = time.process_time() if number else 0.0
            rounds.append(_round(settings, args.provider, tenant, server.pid, began_cpu))
        if count > 1:
            print(_summary(rounds))
        if args.summary_json:
            Path(args.summary_json).write_text(_rounds_json(rounds))
    finally:
        server.terminate()
        server.wait()
