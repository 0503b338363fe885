"""Change-notification latency: a customer changed through the QuickBooks Online sandbox's
API, until that change is readable in `GET /customers`, on one `ledgerbridge serve`
process over loopback (its sandbox POSTs signed notifications to its own
`/notifications/qbo`; the scheduler runs the incremental syncs they ask for).

For each change it records when the change was made, when `GET /customers/{id}` first
shows it, and when it was announced: today the `finished_at` of the run that read it
(`GET /connections/{id}/syncs`); once outgoing webhooks exist, the arrival of their
`sync.succeeded` at a receiver takes that column (`Probe.announced`). Changes are made one
at a time, each once the previous one is readable.

`python -m bench notify_bench --changes 100 [--batch-window-ms 500] [--duplicate-rate 0.3
--delay-rate 0.3]` (no drop knob: a dropped notification waits for the schedule, which is
the guarantee, not the latency measured here).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.sync_bench import _cli, _free_port, _wait_until_up
from ledgerbridge.parsing import parse_datetime

REALM = "9130357992221047"
API_KEY = "lb_bench_key"
VERIFIER_TOKEN = "bench-verifier-token"


@dataclass
class Change:
    customer_id: str
    name: str
    made_at: datetime
    made: float
    readable: float | None = None
    announced: float | None = None


class Probe:
    """Where the bench looks for the two moments of a change."""

    def __init__(self, http: httpx.Client, connection_id: str) -> None:
        self.http = http
        self.connection_id = connection_id

    def readable(self, change: Change, timeout: float = 30) -> float:
        """When `GET /customers/{id}` first shows the change (polled every 10 ms)."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            answer = self.http.get(
                f"/customers/{change.customer_id}", headers={"Connection-Id": self.connection_id}
            )
            if answer.status_code == 200 and answer.json()["display_name"] == change.name:
                return time.perf_counter()
            time.sleep(0.01)
        raise SystemExit(f"change to {change.customer_id} not readable after {timeout}s")

    def announced(self, change: Change) -> float:
        """Seconds from the change to the end of the run that read it (to become: the
        arrival of the outgoing `sync.succeeded` webhook)."""
        answer = self.http.get(f"/connections/{self.connection_id}/syncs", params={"limit": 20})
        finished = sorted(
            parse_datetime(run["finished_at"])
            for run in answer.json()["syncs"]
            if run["status"] == "succeeded" and run["finished_at"]
        )
        after = [moment for moment in finished if moment >= change.made_at]
        if not after:
            raise SystemExit("no run finished after the change")
        return (after[0] - change.made_at).total_seconds()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _print_figures(label: str, seconds: list[float]) -> None:
    print(
        f"{label}: p50 {_percentile(seconds, 0.5) * 1000:.0f} ms, "
        f"p95 {_percentile(seconds, 0.95) * 1000:.0f} ms, "
        f"max {max(seconds) * 1000:.0f} ms, mean {statistics.mean(seconds) * 1000:.0f} ms "
        f"over {len(seconds)} changes"
    )


def _cli_output(env: dict[str, str], *args: str) -> str:
    command = [sys.executable, "-m", "ledgerbridge", *args]
    return subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout


def _token(env: dict[str, str], url: str) -> dict[str, str]:
    out = _cli_output(
        env, "sandbox", "token", "--provider", "qbo", "--tenant", REALM, "--server-url", url
    )
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def _run(url: str, env: dict[str, str], args: argparse.Namespace) -> None:
    connection_id = _cli_output(
        env, "connect", "--provider", "qbo", "--tenant", REALM, "--sandbox", "--server-url", url
    ).strip()
    issued = _token(env, url)
    with httpx.Client(
        base_url=url, timeout=30, headers={"Authorization": f"Bearer {API_KEY}"}
    ) as http:
        http.post(f"/connections/{connection_id}/sync").raise_for_status()
        webhook = {
            "endpoint_url": f"{url}/notifications/qbo",
            "verifier_token": VERIFIER_TOKEN,
            "batch_window_ms": args.batch_window_ms,
            "duplicate_rate": args.duplicate_rate,
            "delay_rate": args.delay_rate,
            "seed": 1,
        }
        http.put(
            f"/sandbox/qbo/_admin/apps/{issued['client_id']}/webhook", json=webhook
        ).raise_for_status()
        qbo = {"Authorization": f"Bearer {issued['access_token']}"}
        customers = _customers(http, qbo)
        probe = Probe(http, connection_id)
        probe.readable(Change(customers[0]["Id"], customers[0]["DisplayName"], _now(), 0))
        changes = [_change(http, qbo, customers, n, probe) for n in range(args.changes)]
        _print_figures("change -> readable in GET /customers", [c.readable or 0 for c in changes])
        _print_figures("change -> run finished (announced)", [c.announced or 0 for c in changes])
        runs = http.get(f"/connections/{connection_id}/syncs", params={"limit": 500}).json()
        triggered = [r for r in runs["syncs"] if r["trigger"] == "notification"]
        print(
            f"notification-triggered runs: {len(triggered)} for {args.changes} changes "
            f"(and {len(customers)} creates before them)"
        )
        stats = http.get("/sandbox/qbo/_admin/webhooks/stats").json()
        print("sandbox deliveries: " + ", ".join(f"{k} {v}" for k, v in stats.items()))


def _now() -> datetime:
    return datetime.now(UTC)


def _customers(http: httpx.Client, qbo: dict[str, str]) -> list[dict[str, Any]]:
    """Twenty plain customers, made through the API, to rename in turn."""
    made = []
    for n in range(20):
        answer = http.post(
            f"/sandbox/qbo/v3/company/{REALM}/customer",
            json={"DisplayName": f"Bench customer {n}", "BillAddr": {"Line1": "1 Main St"}},
            headers=qbo,
        )
        answer.raise_for_status()
        made.append(answer.json()["Customer"])
    return made


def _change(
    http: httpx.Client, qbo: dict[str, str], customers: list[dict[str, Any]], n: int, probe: Probe
) -> Change:
    """Rename one customer (round robin) through the sandbox API and time it."""
    index = n % len(customers)
    current = customers[index]
    name = f"Bench {n} {current['Id']}"
    made_at, made = _now(), time.perf_counter()
    answer = http.post(
        f"/sandbox/qbo/v3/company/{REALM}/customer",
        json={
            "Id": current["Id"],
            "SyncToken": current["SyncToken"],
            "sparse": True,
            "DisplayName": name,
        },
        headers=qbo,
    )
    if answer.status_code != 200:
        raise SystemExit(f"the sandbox refused the change: {answer.text}")
    customers[index] = answer.json()["Customer"]
    change = Change(current["Id"], name, made_at, made)
    change.readable = probe.readable(change) - made
    change.announced = probe.announced(change)
    return change


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="notify_bench")
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--batch-window-ms", type=int, default=500)
    parser.add_argument("--duplicate-rate", type=float, default=0.0)
    parser.add_argument("--delay-rate", type=float, default=0.0)
    parser.add_argument("--database-url", default="", help="main database (default SQLite)")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="notify-bench-"))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "LEDGERBRIDGE_DATA_DIR": str(folder),
        "LEDGERBRIDGE_PORT": str(port),
        "LEDGERBRIDGE_API_KEY": API_KEY,
        "LEDGERBRIDGE_QBO_WEBHOOK_VERIFIER_TOKEN": VERIFIER_TOKEN,
        "LEDGERBRIDGE_LOG_LEVEL": "warning",
    }
    if args.database_url:
        env["LEDGERBRIDGE_DATABASE_URL"] = args.database_url
    _cli(env, "sandbox", "create", "--provider", "qbo", "--tenant", REALM)
    _cli(env, "sandbox", "configure", "--provider", "qbo", "--tenant", REALM,
         "requests_per_minute=off", "max_concurrent=off")  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "ledgerbridge", "serve"], env=env, stdout=subprocess.DEVNULL
    )
    try:
        _wait_until_up(url)
        _run(url, env, args)
    finally:
        server.terminate()
        server.wait(timeout=30)
