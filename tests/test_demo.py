"""`ledgerbridge demo` as a user runs it: a real process that seeds, connects, syncs and
serves; the curl commands it prints work; a second run in the same folder reuses it all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import free_port


def _run_demo(folder: Path, port: int) -> tuple[subprocess.Popen[str], str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LEDGERBRIDGE_")}
    env.update(LEDGERBRIDGE_DATA_DIR=str(folder), COLUMNS="200", TERM="dumb")
    process = subprocess.Popen(
        [sys.executable, "-m", "ledgerbridge", "demo", "--port", str(port)],
        env=env,
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = []
    deadline = time.monotonic() + 240
    assert process.stdout is not None
    for line in process.stdout:
        output.append(line)
        if "Serving until Ctrl+C" in line:
            return process, "".join(output)
        assert time.monotonic() < deadline, "".join(output)
    raise AssertionError("the demo stopped:\n" + "".join(output))


def _stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


@pytest.mark.slow
def test_demo_seeds_syncs_serves_and_reuses(tmp_path: Path) -> None:
    port = free_port()
    process, output = _run_demo(tmp_path, port)
    try:
        assert output.count("Seeding") == 3
        # The dashboard and how to sign in come first, before any seeding.
        assert output.index(f"http://127.0.0.1:{port}/ui") < output.index("Seeding")
        assert output.index("Sign in with the API key") < output.index("Seeding")
        commands = re.findall(r"curl -s (.+)", output)
        assert len(commands) == 3
        key = re.search(r"Bearer (lb_[\w-]+)", commands[0])
        connection = re.search(r"Connection-Id: (conn_\w+)", commands[0])
        assert key is not None
        assert connection is not None
        headers = {"Authorization": f"Bearer {key[1]}", "Connection-Id": connection[1]}
        urls = [re.search(r'"(http[^"]+)"', command) for command in commands]
        pages = [httpx.get(url[1], headers=headers).json() for url in urls if url]
        first, second, deleted = pages
        assert len(first["records"]) == 100
        assert first["next_cursor"] is not None
        assert second["records"][0]["id"] not in {r["id"] for r in first["records"]}
        assert deleted["records"]
        assert all(r["active"] is False for r in deleted["records"])
        connections = httpx.get(f"http://127.0.0.1:{port}/connections", headers=headers).json()
        assert sorted(c["provider"] for c in connections["connections"]) == [
            "intacct",
            "qbd",
            "qbo",
        ]
    finally:
        _stop(process)

    process, again = _run_demo(tmp_path, port)
    try:
        assert "Seeding" not in again
        assert key[1] in again
        assert connection[1] in again
    finally:
        _stop(process)
