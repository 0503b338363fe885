"""The scheduler at scale: N connections (default 10,000) over small sandbox tenants of the
three platforms, synced by 1, 2 and 4 `ledgerbridge worker` processes against PostgreSQL,
with the sandboxes served by their own `ledgerbridge serve` process (limits off).

Each round spreads the connections' due times evenly over one sync period, starts the
workers, and measures for `--seconds`: runs started per minute, start delay (a run's
`started_at` minus its due time: the spread time for a connection's first run, the last
run's end plus the frequency after that) p50/p95/max, due runs never started, and the CPU
of each worker, of the sandbox server and of the workers' PostgreSQL backends (per process
and per run). Then the claim itself: `EXPLAIN ANALYZE` of the claim's queries on 10,000
connections with 100,000 and 1,000,000 past runs, beside the claim this replaced.

    python -m bench scheduler_bench [--quick] [--connections N] [--frequency S]
        [--seconds S] [--workers 1,2,4] [--history 100000,1000000] [--admin-url URL]

`--quick` (1,000 connections every minute, 45 s rounds, 100,000 past runs: the size the
scheduler was first measured at) takes about 6 minutes.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bench.databases import BENCH_POSTGRES, scratch_database
from bench.processes import cpu_s, machine_busy
from bench.sync_bench import _free_port, _wait_until_up
from ledgerbridge.config import Settings
from ledgerbridge.connections import SCHEDULABLE, create_connection
from ledgerbridge.crypto import CredentialCipher, load_or_create_key
from ledgerbridge.db import utcnow, write_transaction
from ledgerbridge.providers.registry import get_platform
from ledgerbridge.runtime import Databases, open_databases
from ledgerbridge.sandbox.base import SandboxContext
from ledgerbridge.sandbox.configure import configure_tenant
from ledgerbridge.sync import leases, runs
from ledgerbridge.tables import connections, sync_runs, sync_state

PROVIDERS = ("qbo", "qbd", "intacct")
CLAIM_BATCH = 32
WORKER_APP = "ledgerbridge-bench-worker"
"""The workers' PostgreSQL `application_name` (libpq's PGAPPNAME), to find their backends."""


# ---- processes and their CPU -------------------------------------------------------------


def _backend_pids(engine: Engine, database: str) -> list[int]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT pid FROM pg_stat_activity"
                    " WHERE datname = :d AND application_name = :app"
                ),
                {"d": database, "app": WORKER_APP},
            ).scalars()
        )


def _machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    load = os.getloadavg()
    return f"{os.cpu_count()} cores ({model}), load average {load[0]:.1f} at start"


# ---- the database and the fleet ----------------------------------------------------------


def _tenants(databases: Databases, per_platform: int, customers: int) -> dict[str, list[str]]:
    """Small seeded tenants of each platform, limits off (many connections share one)."""
    context = SandboxContext(engine=databases.sandbox, base_url="http://unused")
    tenants: dict[str, list[str]] = {}
    for provider in PROVIDERS:
        sandbox = get_platform(provider).sandbox
        names = [f"sched{provider}{i}" for i in range(per_platform)]
        if provider == "qbo":
            names = [str(9130357992000000 + i) for i in range(per_platform)]
        for index, tenant in enumerate(names):
            sandbox.seed(context, tenant, customers, index)
            configure_tenant(
                databases.sandbox,
                provider,
                tenant,
                ["requests_per_minute=off", "max_concurrent=off", "queue_when_busy=false"],
            )
        tenants[provider] = names
    return tenants


def _connect_all(
    databases: Databases,
    cipher: CredentialCipher,
    tenants: dict[str, list[str]],
    *,
    count: int,
    server_url: str,
    frequency_s: int,
) -> None:
    """`count` connections, round-robin over platforms and tenants, each with its own
    credentials issued by its tenant (as `connect_sandbox` makes them, in batches)."""
    context = SandboxContext(engine=databases.sandbox, base_url=server_url)
    now = utcnow()
    for start in range(0, count, 500):
        with write_transaction(databases.main) as conn:
            for i in range(start, min(start + 500, count)):
                provider = PROVIDERS[i % 3]
                platform = get_platform(provider)
                names = tenants[provider]
                issued = platform.sandbox.credentials(context, names[(i // 3) % len(names)])
                create_connection(
                    conn,
                    cipher,
                    provider=provider,
                    base_url=server_url + platform.sandbox_path,
                    credentials=platform.sandbox_credentials(issued, now),
                    sync_frequency_s=frequency_s,
                    now=now,
                )


# ---- one round ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundFigures:
    workers: int
    seconds: float
    runs: int
    failed: int
    delays: list[float]
    not_started: int
    manual_delays: list[float]
    worker_cpu_s: list[float]
    sandbox_cpu_s: float
    postgres_cpu_s: float
    machine_busy: float

    @property
    def per_minute(self) -> float:
        return self.runs / self.seconds * 60

    def delay(self, q: float) -> float:
        if not self.delays:
            return float("nan")
        ordered = sorted(self.delays)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _spread_due(engine: Engine, start: datetime, frequency_s: int) -> None:
    """Forget past runs and leases; due times evenly spread over one period from `start`
    (kept in `bench_due`, the first run's due time)."""
    with write_transaction(engine) as conn:
        conn.execute(sa.delete(sync_runs))
        conn.execute(
            sa.text(
                "UPDATE sync_state SET lease_owner = NULL, lease_expires_at = NULL,"
                " run_requested_at = NULL, next_run_at = :start + random() * :period"
            ),
            {"start": start, "period": timedelta(seconds=frequency_s)},
        )
        conn.exec_driver_sql("DROP TABLE IF EXISTS bench_due")
        conn.exec_driver_sql(
            "CREATE TABLE bench_due AS SELECT connection_id, next_run_at AS due_at FROM sync_state"
        )


def _delays(
    conn: Connection, start: datetime, end: datetime, frequency_s: int
) -> tuple[list[float], int, int, int]:
    """(start delays of runs due in the window, runs started in it, of which failed,
    connections due in the window more than a second before its end that never started)."""
    rows = conn.execute(
        sa.text(
            """
            SELECT r.connection_id, r.started_at, r.status, r.error, r.trigger, d.due_at,
                   lag(r.finished_at) OVER w AS prev_finished,
                   lag(r.status) OVER w AS prev_status,
                   row_number() OVER w AS n
            FROM sync_runs r JOIN bench_due d USING (connection_id)
            WHERE r.started_at IS NOT NULL
            WINDOW w AS (PARTITION BY r.connection_id ORDER BY r.id)
            """
        )
    ).all()
    period = timedelta(seconds=frequency_s)
    delays, started, failed = [], 0, 0
    for row in rows:
        if start <= row.started_at <= end:
            started += 1
            # Runs still in flight when the workers stop are cancelled: not failures.
            failed += row.status == "failed" and not str(row.error).startswith("cancelled")
        if row.trigger == "api":
            continue  # asked for by hand: measured apart
        if row.n == 1:
            due = row.due_at
        elif row.prev_status == "succeeded":
            due = row.prev_finished + period
        else:
            continue  # after a failure the back-off decides; not a scheduling delay
        if start <= due <= end:
            delays.append((row.started_at - due).total_seconds())
    never = conn.execute(
        sa.text(
            "SELECT count(*) FROM bench_due d WHERE d.due_at < :cut AND NOT EXISTS "
            "(SELECT 1 FROM sync_runs r WHERE r.connection_id = d.connection_id)"
        ),
        {"cut": end - timedelta(seconds=1)},
    ).scalar_one()
    return delays, started, failed, int(never)


def _wait_for_workers(engine: Engine, database: str, procs: list[subprocess.Popen[bytes]]) -> None:
    """Until every worker has started and opened its database connection (its first,
    empty, tick): start-up is not part of what a round measures."""
    deadline = time.monotonic() + 180
    while len(_backend_pids(engine, database)) < len(procs):
        if any(p.poll() is not None for p in procs):
            raise SystemExit("a worker exited while starting")
        if time.monotonic() > deadline:
            raise SystemExit("the workers did not start within 3 minutes")
        time.sleep(0.2)
    time.sleep(0.5)


MANUAL_RUNS = 10
"""Runs asked for by hand halfway through a round (through the database, as the API does
from another process): how long they wait, with scheduled work queued or not."""


def _request_runs(engine: Engine, count: int) -> None:
    with write_transaction(engine) as conn:
        chosen = conn.execute(
            sa.select(sync_state.c.connection_id).order_by(sa.func.random()).limit(count)
        ).scalars()
        for connection_id in list(chosen):
            runs.enqueue(conn, connection_id, full=False, trigger="api", now=utcnow())


def _manual_delays(conn: Connection) -> list[float]:
    rows = conn.execute(
        sa.select(sync_runs.c.queued_at, sync_runs.c.started_at).where(sync_runs.c.trigger == "api")
    ).all()
    return [(r.started_at - r.queued_at).total_seconds() for r in rows if r.started_at]


def _start_workers(
    count: int, env: dict[str, str], log_name: str
) -> tuple[list[subprocess.Popen[bytes]], Any]:
    log = (Path(env["LEDGERBRIDGE_DATA_DIR"]) / log_name).open("ab")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ledgerbridge", "worker"],
            env={**env, "PGAPPNAME": WORKER_APP},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        for _ in range(count)
    ]
    return procs, log


def _stop_workers(procs: list[subprocess.Popen[bytes]], log: Any) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.close()


def _count(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql)).scalar_one())


def _warm(
    workers: int, *, engine: Engine, database: str, env: dict[str, str], sandbox_pid: int
) -> None:
    """Every connection's first run (a full read, QuickBooks Online's first token refresh),
    all due at once, so the rounds measure the steady state: incremental runs, as a fleet
    that has been running for a while does them. Printed as its own figure."""
    _spread_due(engine, utcnow() + timedelta(days=1), 1)
    procs, log = _start_workers(workers, env, "warm.log")
    try:
        _wait_for_workers(engine, database, procs)
        with write_transaction(engine) as conn:
            total = conn.execute(sa.text("UPDATE sync_state SET next_run_at = now()")).rowcount
        cpu0, sandbox0 = [cpu_s(p.pid) for p in procs], cpu_s(sandbox_pid)
        started, done = time.perf_counter(), 0
        while done < total:
            time.sleep(1.0)
            done = _count(
                engine,
                "SELECT count(DISTINCT connection_id) FROM sync_runs WHERE finished_at IS NOT NULL",
            )
            if time.perf_counter() - started > 3600:
                raise SystemExit(f"warm-up: {done:,} of {total:,} connections synced in an hour")
        elapsed = time.perf_counter() - started
        worker_cpu = sum(cpu_s(p.pid) for p in procs) - sum(cpu0)
        sandbox_cpu = cpu_s(sandbox_pid) - sandbox0
    finally:
        _stop_workers(procs, log)
    failed = _count(
        engine,
        "SELECT count(*) FROM sync_runs WHERE status = 'failed' AND error NOT LIKE 'cancelled%'",
    )
    print(
        f"first runs (every connection at once, {workers} workers): {total:,} in {elapsed:.0f}s"
        f" ({failed} failed)"
        f" = {total / elapsed * 60:,.0f} runs/min; CPU per run: workers"
        f" {worker_cpu / total * 1000:.1f} ms, sandbox server {sandbox_cpu / total * 1000:.1f} ms",
        flush=True,
    )


def _round(
    workers: int,
    *,
    engine: Engine,
    database: str,
    env: dict[str, str],
    sandbox_pid: int,
    frequency_s: int,
    seconds: float,
) -> RoundFigures:
    far = utcnow() + timedelta(days=1)
    _spread_due(engine, far, frequency_s)  # nothing due while workers start
    procs, log = _start_workers(workers, env, f"workers-{workers}.log")
    try:
        _wait_for_workers(engine, database, procs)
        start = utcnow() + timedelta(seconds=1)
        _spread_due(engine, start, frequency_s)
        backends = _backend_pids(engine, database)
        cpu0 = [cpu_s(p.pid) for p in procs]
        sandbox0, pg0 = cpu_s(sandbox_pid), sum(cpu_s(b) for b in backends)
        busy0, total0 = machine_busy()
        time.sleep(1.0 + seconds / 2)
        _request_runs(engine, MANUAL_RUNS)  # as `POST /connections/{id}/sync` does
        time.sleep(seconds / 2)
        end = start + timedelta(seconds=seconds)
        backends = sorted(set(backends) | set(_backend_pids(engine, database)))
        cpu1 = [cpu_s(p.pid) for p in procs]
        sandbox1, pg1 = cpu_s(sandbox_pid), sum(cpu_s(b) for b in backends)
        busy1, total1 = machine_busy()
    finally:
        _stop_workers(procs, log)
    with engine.connect() as conn:
        delays, started, failed, never = _delays(conn, start, end, frequency_s)
        manual = _manual_delays(conn)
    return RoundFigures(
        workers=workers,
        seconds=seconds,
        runs=started,
        failed=failed,
        delays=delays,
        not_started=never,
        manual_delays=manual,
        worker_cpu_s=[b - a for a, b in zip(cpu0, cpu1, strict=True)],
        sandbox_cpu_s=sandbox1 - sandbox0,
        postgres_cpu_s=max(pg1 - pg0, 0.0),
        machine_busy=(busy1 - busy0) / max(total1 - total0, 1e-9),
    )


def _print_round(figures: RoundFigures) -> None:
    f, runs = figures, max(figures.runs, 1)
    worker_total = sum(f.worker_cpu_s)
    per_process = ", ".join(f"{c / f.seconds:.0%}" for c in f.worker_cpu_s)
    print(
        f"  {f.workers} worker(s): {f.runs:,} runs in {f.seconds:.0f}s = "
        f"{f.per_minute:,.0f} runs/min ({f.failed} failed); start delay "
        f"p50 {f.delay(0.5):.3f}s p95 {f.delay(0.95):.3f}s max {max(f.delays, default=0):.3f}s "
        f"({len(f.delays):,} due runs); due but never started {f.not_started}",
        flush=True,
    )
    manual = sorted(f.manual_delays)
    print(
        f"    {len(manual)} runs asked for by hand mid-round started after "
        + (f"{manual[len(manual) // 2]:.2f}s median, {manual[-1]:.2f}s max" if manual else "-")
        + f" ({MANUAL_RUNS - len(manual)} not started)",
        flush=True,
    )
    print(
        f"    CPU: workers {per_process} of a core each, {worker_total / runs * 1000:.1f} ms/run; "
        f"sandbox server {f.sandbox_cpu_s / f.seconds:.0%} ({f.sandbox_cpu_s / runs * 1000:.1f} "
        f"ms/run); PostgreSQL backends {f.postgres_cpu_s / f.seconds:.0%} "
        f"({f.postgres_cpu_s / runs * 1000:.1f} ms/run); machine {f.machine_busy:.0%} busy",
        flush=True,
    )
    shares = {
        "the workers": worker_total,
        "the sandbox server": f.sandbox_cpu_s,
        "PostgreSQL": f.postgres_cpu_s,
    }
    top = max(shares, key=lambda k: shares[k])
    if f.machine_busy > 0.85:
        print(f"    bottleneck: the machine's CPU ({f.machine_busy:.0%} busy), most of it {top}")
    elif f.delay(0.95) > 1.0 or f.not_started:
        print(f"    bottleneck: capacity of the workers' slots (max_parallel); busiest: {top}")
    else:
        print(f"    keeping up: every due run started on time; busiest: {top}")


# ---- the claim alone ----------------------------------------------------------------------


def _previous_claim(now: datetime, limit: int) -> sa.Select[Any]:
    """The claim this replaced (revision 0004): a queued-run test on `sync_runs`."""
    queued = sa.exists().where(
        sync_runs.c.connection_id == sync_state.c.connection_id, sync_runs.c.status == "queued"
    )
    free = sa.or_(sync_state.c.lease_owner.is_(None), sync_state.c.lease_expires_at < now)
    return (
        sa.select(sync_state.c.connection_id)
        .join(connections, connections.c.id == sync_state.c.connection_id)
        .where(
            connections.c.status.in_(SCHEDULABLE),
            free,
            sa.or_(queued, sync_state.c.next_run_at.is_(None), sync_state.c.next_run_at <= now),
        )
        .order_by(sync_state.c.next_run_at)
        .limit(limit)
        .with_for_update(of=sync_state, skip_locked=True)
    )


def _explain_ms(conn: Connection, query: sa.Select[Any]) -> float:
    sql = query.compile(conn, compile_kwargs={"literal_binds": True})
    plan = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT TEXT) {sql}"))
    planning = re.search(r"Planning Time: ([\d.]+) ms", plan)
    execution = re.search(r"Execution Time: ([\d.]+) ms", plan)
    if planning is None or execution is None:
        raise SystemExit(f"no timing in the plan:\n{plan}")
    return float(planning.group(1)) + float(execution.group(1))


def _fill_to(engine: Engine, cipher: CredentialCipher, connections_wanted: int) -> None:
    """Pad the fleet with placeholder connections (never synced) up to the wanted count,
    all due (a backlog: the claim's worst case)."""
    with write_transaction(engine) as conn:
        have = conn.execute(sa.select(sa.func.count()).select_from(connections)).scalar_one()
        secret = cipher.encrypt({})
        conn.execute(
            sa.text(
                "INSERT INTO connections (id, provider, base_url, credentials, sync_frequency_s,"
                " created_at) SELECT 'pad_' || g, 'qbo', 'http://pad', :secret, 300, now()"
                " FROM generate_series(1, :n) g"
            ),
            {"secret": secret, "n": max(connections_wanted - have, 0)},
        )
        conn.execute(
            sa.text(
                "INSERT INTO sync_state (connection_id) SELECT id FROM connections"
                " WHERE id LIKE 'pad_%' ON CONFLICT DO NOTHING"
            )
        )
        conn.execute(
            sa.text(
                "UPDATE sync_state SET lease_owner = NULL, lease_expires_at = NULL,"
                " run_requested_at = NULL,"
                " next_run_at = now() - random() * interval '300 seconds'"
            )
        )


def _grow_history(engine: Engine, runs_wanted: int) -> None:
    with write_transaction(engine) as conn:
        have = conn.execute(sa.select(sa.func.count()).select_from(sync_runs)).scalar_one()
        missing = runs_wanted - have
        if missing > 0:
            conn.execute(
                sa.text(
                    "INSERT INTO sync_runs (connection_id, kind, trigger, status, queued_at,"
                    " started_at, finished_at, owner) SELECT c.id, 'incremental', 'schedule',"
                    " 'succeeded', now() - interval '1 day', now() - interval '1 day',"
                    " now() - interval '1 day', 'bench' FROM (SELECT id, row_number() OVER ()"
                    " AS k FROM connections) c, generate_series(1, :per) g"
                    " WHERE (g - 1) * (SELECT count(*) FROM connections) + c.k <= :n"
                ),
                {"per": missing // 10_000 + 1, "n": missing},
            )
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")


def _claim_figures(
    engine: Engine, cipher: CredentialCipher, histories: list[int], *, fleet: int
) -> None:
    _fill_to(engine, cipher, fleet)
    for history in histories:
        _grow_history(engine, history)
        now = utcnow()
        with engine.connect() as conn:
            trans = conn.begin()
            conn.exec_driver_sql("SET LOCAL jit = off")
            new_ms = sum(
                _explain_ms(conn, q.with_for_update(of=sync_state, skip_locked=True))
                for q in leases.due_queries(now, CLAIM_BATCH)
            )
            trans.rollback()
            trans = conn.begin()
            old_ms = _explain_ms(conn, _previous_claim(now, 1))
            old_batch_ms = _explain_ms(conn, _previous_claim(now, CLAIM_BATCH))
            trans.rollback()
            whole, got = [], []
            for _ in range(20):
                trans = conn.begin()
                started = time.perf_counter()
                got = leases.claim_due(
                    conn, "bench", now=now, ttl=timedelta(minutes=1), limit=CLAIM_BATCH
                )
                whole.append((time.perf_counter() - started) * 1000)
                trans.rollback()
        per_run = statistics.median(whole) / max(len(got), 1)
        print(
            f"  {fleet:,} connections (all due), {history:,} past runs: claim queries "
            f"{new_ms:.2f} ms for a batch of {CLAIM_BATCH} (EXPLAIN ANALYZE, planning included); "
            f"whole claim_due from Python {statistics.median(whole):.2f} ms = {per_run:.3f} ms "
            f"per claimed run. Before (one at a time, JIT on): {old_ms:.2f} ms per claimed run; "
            f"its batch of {CLAIM_BATCH}: {old_batch_ms:.2f} ms",
            flush=True,
        )


# ---- main ---------------------------------------------------------------------------------


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="scheduler_bench")
    parser.add_argument("--quick", action="store_true", help="1,000 connections each minute")
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--frequency", type=int, default=300, help="sync frequency (s)")
    parser.add_argument(
        "--seconds", type=float, default=0, help="round length (default: one period)"
    )
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--max-parallel", type=int, default=32)
    parser.add_argument("--tenants", type=int, default=10, help="per platform")
    parser.add_argument("--customers", type=int, default=5, help="per tenant")
    parser.add_argument("--history", default="100000,1000000", help="past runs for the claim")
    parser.add_argument("--claim-only", action="store_true")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="measure first runs in the rounds (no warm-up pass before them)",
    )
    parser.add_argument(
        "--admin-url",
        default=BENCH_POSTGRES,
        help="a PostgreSQL database to create the bench's own database from",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.connections, args.frequency, args.history = 1_000, 60, "100000"
        args.seconds = args.seconds or 45
    print(f"machine: {_machine()}", flush=True)
    with scratch_database(args.admin_url, "lb_sched_bench") as url:
        _measure(args, url)


def _measure(args: argparse.Namespace, url: str) -> None:
    """Every round and the claim's figures, in the database at `url`."""
    seconds = args.seconds or args.frequency
    database = sa.engine.make_url(url).database
    assert database is not None
    folder = Path(tempfile.mkdtemp(prefix="sched-bench-"))
    port = _free_port()
    env = {
        **os.environ,
        "LEDGERBRIDGE_DATA_DIR": str(folder),
        "LEDGERBRIDGE_DATABASE_URL": url,
        "LEDGERBRIDGE_PORT": str(port),
        "LEDGERBRIDGE_SCHEDULER": "false",
        "LEDGERBRIDGE_LOG_LEVEL": "warning",
        "LEDGERBRIDGE_WORKER_MAX_PARALLEL": str(args.max_parallel),
    }
    settings = Settings(
        data_dir=folder,
        database_url=url,
        port=port,
        scheduler=False,
        _env_file=None,  # type: ignore[call-arg]
    )
    databases = open_databases(settings)
    cipher = CredentialCipher(load_or_create_key(settings))
    server = None
    try:
        if not args.claim_only:
            started = time.perf_counter()
            tenants = _tenants(databases, args.tenants, args.customers)
            server = subprocess.Popen(
                [sys.executable, "-m", "ledgerbridge", "serve"], env=env, stdout=subprocess.DEVNULL
            )
            server_url = f"http://127.0.0.1:{port}"
            _wait_until_up(server_url)
            _connect_all(
                databases,
                cipher,
                tenants,
                count=args.connections,
                server_url=server_url,
                frequency_s=args.frequency,
            )
            print(
                f"{args.connections:,} connections over {args.tenants} tenants of each platform "
                f"({args.customers} customers each), every {args.frequency}s, max_parallel "
                f"{args.max_parallel}; set up in {time.perf_counter() - started:.0f}s",
                flush=True,
            )
            worker_counts = [int(w) for w in args.workers.split(",")]
            if not args.cold:
                _warm(
                    max(worker_counts),
                    engine=databases.main,
                    database=database,
                    env=env,
                    sandbox_pid=server.pid,
                )
            for workers in worker_counts:
                figures = _round(
                    workers,
                    engine=databases.main,
                    database=database,
                    env=env,
                    sandbox_pid=server.pid,
                    frequency_s=args.frequency,
                    seconds=seconds,
                )
                _print_round(figures)
        print("the claim alone:", flush=True)
        _claim_figures(
            databases.main,
            cipher,
            [int(h) for h in args.history.split(",")],
            fleet=max(args.connections, 10_000),
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        databases.dispose()
