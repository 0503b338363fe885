"""Start-up of the CLI: wall time of `ledgerbridge --help`, of a `ledgerbridge sync` that
finds nothing to do (an incremental run of a small QuickBooks Online sandbox company
already synced, the sandbox served by a separate `ledgerbridge serve`), and of a sandbox
command (`sandbox token`), each run as a new process, as a person or a cron job would.
Prints the median, best and worst of `--runs`.

`python -m bench startup_bench --runs 9`; `--ledgerbridge PATH` times another install's
command (a baseline checkout's `.venv/bin/ledgerbridge`) against the same data.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.sync_bench import _free_port, _wait_until_up, server_env

TENANT = "9130357992221047"


def _timed(
    commands: list[str], args: list[str], env: dict[str, str], runs: int
) -> dict[str, list[float]]:
    """Seconds of each command's runs, the commands taking turns (so a change in the
    machine's load falls on all of them)."""
    seconds: dict[str, list[float]] = {command: [] for command in commands}
    for _ in range(runs):
        for command in commands:
            started = time.perf_counter()
            subprocess.run([command, *args], env=env, check=True, stdout=subprocess.DEVNULL)
            seconds[command].append(time.perf_counter() - started)
    return seconds


def _report(what: str, seconds: list[float]) -> None:
    print(
        f"{what}: median {statistics.median(seconds):.2f} s "
        f"(best {min(seconds):.2f}, worst {max(seconds):.2f}, {len(seconds)} runs)"
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="startup_bench")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--ledgerbridge",
        action="append",
        default=[],
        help="a ledgerbridge command to time (repeatable); default this environment's",
    )
    args = parser.parse_args(argv)
    mine = shutil.which("ledgerbridge", path=str(Path(sys.executable).parent))
    commands = args.ledgerbridge or [mine or "ledgerbridge"]
    folder = Path(tempfile.mkdtemp(prefix="startup-bench-"))
    port = _free_port()
    env = server_env(folder, port)
    first = commands[0]
    seed = ["sandbox", "seed", "--provider", "qbo", "--tenant", TENANT, "--customers", "100"]
    subprocess.run([first, *seed], env=env, check=True, stdout=subprocess.DEVNULL)
    server = subprocess.Popen([first, "serve"], env=env, stdout=subprocess.DEVNULL)
    try:
        _wait_until_up(f"http://127.0.0.1:{port}")
        connect = ["connect", "--provider", "qbo", "--tenant", TENANT, "--sandbox"]
        connection = subprocess.run(
            [first, *connect], env=env, check=True, capture_output=True, text=True
        ).stdout.strip()
        subprocess.run([first, "sync", connection], env=env, check=True, stdout=subprocess.DEVNULL)
        helps = _timed(commands, ["--help"], env, args.runs)
        noops = _timed(commands, ["sync", connection], env, args.runs)
        token = ["sandbox", "token", "--provider", "qbo", "--tenant", TENANT]
        tokens = _timed(commands, token, env, args.runs)
        for command in commands:
            print(f"{command}:")
            _report("  ledgerbridge --help", helps[command])
            _report("  ledgerbridge sync (no-op incremental)", noops[command])
            _report("  ledgerbridge sandbox token", tokens[command])
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(folder, ignore_errors=True)
