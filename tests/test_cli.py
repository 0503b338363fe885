"""The `ledgerbridge` command as a user runs it: real processes. Set-up mistakes print one
line saying what is wrong and what to do, exit 1, and never a traceback; the sandbox
commands refuse unknown keys and tenants, ask before deleting, show progress in a pipe,
and print URLs with the port the server really runs on; `serve` stops on SIGTERM."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import free_port
from ledgerbridge.config import Settings
from ledgerbridge.connections import ConnectionChanges, get_connection, update_connection
from ledgerbridge.crypto import CredentialCipher, load_or_create_key
from ledgerbridge.db import utcnow, write_transaction
from ledgerbridge.runtime import open_main_database
from ledgerbridge.sandbox.tenants import TenantSettings

LEDGERBRIDGE = [sys.executable, "-m", "ledgerbridge"]


def _env(folder: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERBRIDGE_")}
    return {**env, "LEDGERBRIDGE_DATA_DIR": str(folder), "COLUMNS": "200", **extra}


def _run(
    folder: Path, *args: str, stdin: str = "", **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LEDGERBRIDGE, *args],
        env=_env(folder, **extra),
        cwd=folder,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ledgerbridge: error: ")
    return lines[0]


def _closed_port() -> int:
    return free_port()  # bound a moment ago and released: nothing listens there


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        # Not a URL at all: say so, and show the two forms that work.
        ("LEDGERBRIDGE_DATABASE_URL", "notaurl", "use sqlite:///path/to/file.db or postgresql"),
        # A folder that does not exist is refused, not created.
        ("LEDGERBRIDGE_DATABASE_URL", "sqlite:////nonexistent/dir/x.db", "/nonexistent/dir"),
        ("LEDGERBRIDGE_SANDBOX_DATABASE_URL", "sqlite:////nonexistent/s.db", "does not exist"),
        # An unreachable server is named by host and port.
        ("LEDGERBRIDGE_DATABASE_URL", "postgresql+psycopg://u@127.0.0.1:{port}/db", ":{port}"),
        ("LEDGERBRIDGE_LOG_LEVEL", "loud", "LEDGERBRIDGE_LOG_LEVEL"),
        ("LEDGERBRIDGE_PORT", "eighty", "LEDGERBRIDGE_PORT"),
    ],
)
def test_set_up_mistakes_are_one_line_and_exit_1(
    tmp_path: Path, setting: str, value: str, says: str
) -> None:
    port = str(_closed_port())
    # `sync` opens both databases before it looks for the connection.
    result = _run(tmp_path, "sync", "conn_none", **{setting: value.format(port=port)})
    assert says.format(port=port) in _one_line_error(result)
    assert not Path("/nonexistent").exists()


def test_a_port_in_use_is_named_with_what_to_do(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run(tmp_path, "serve", "--port", str(port))
    line = _one_line_error(result)
    assert f"port {port}" in line
    assert "--port" in line
    assert "LEDGERBRIDGE_PORT" in line
    assert "listening" not in result.stdout


def test_configure_lists_the_valid_keys(tmp_path: Path) -> None:
    seeded = _run(tmp_path, "sandbox", "seed", "--provider", "qbd", "--tenant", "end_usr_a")
    assert seeded.returncode == 0, seeded.stderr
    args = ["sandbox", "configure", "--provider", "qbd", "--tenant", "end_usr_a"]
    line = _one_line_error(_run(tmp_path, *args, "bogus=1"))
    assert all(key in line for key in TenantSettings.model_fields)
    invalid = _one_line_error(_run(tmp_path, *args, "error_rate=2"))
    assert "error_rate" in invalid
    changed = _run(tmp_path, *args, "queue_when_busy=true", "max_concurrent=none")
    assert changed.returncode == 0, changed.stderr
    assert '"queue_when_busy": true' in changed.stdout
    unknown = _one_line_error(_run(tmp_path, *args[:-1], "end_usr_nobody", "latency_ms=5"))
    assert "end_usr_nobody" in unknown
    helped = _run(tmp_path, "sandbox", "configure", "--help")
    assert all(key in helped.stdout for key in TenantSettings.model_fields), helped.stdout


def test_the_sandbox_app_webhook_is_set_from_the_command_line(tmp_path: Path) -> None:
    args = ["sandbox", "webhook", "--url", "http://127.0.0.1:8000/notifications/qbo"]
    missing = _one_line_error(_run(tmp_path, *args))  # no verifier token yet
    assert "verifier_token" in missing
    made = _run(tmp_path, *args, "--verifier-token", "vt", "payload_format=legacy")
    assert made.returncode == 0, made.stderr
    assert '"payload_format": "legacy"' in made.stdout
    assert '"client_id": "client_' in made.stdout
    invalid = _one_line_error(_run(tmp_path, "sandbox", "webhook", "drop_rate=2"))
    assert "drop_rate" in invalid
    changed = _run(tmp_path, "sandbox", "webhook", "drop_rate=0.5")
    assert '"drop_rate": 0.5' in changed.stdout
    assert '"verifier_token": "vt"' in changed.stdout  # kept


def test_reset_asks_first_and_refuses_unknown_tenants(tmp_path: Path) -> None:
    seeded = _run(tmp_path, "sandbox", "seed", "--provider", "qbd", "--tenant", "end_usr_b")
    assert seeded.returncode == 0, seeded.stderr
    token = ["sandbox", "token", "--provider", "qbd", "--tenant", "end_usr_b"]
    unknown = _run(tmp_path, "sandbox", "reset", "--provider", "qbd", "--tenant", "end_usr_zz")
    assert "end_usr_zz" in _one_line_error(unknown)
    declined = _run(tmp_path, "sandbox", "reset", "--provider", "qbd", stdin="n\n")
    assert declined.returncode == 1
    assert "end_usr_b" in declined.stdout  # it said what it would delete
    assert _run(tmp_path, *token).returncode == 0  # and deleted nothing
    done = _run(tmp_path, "sandbox", "reset", "--provider", "qbd", "--yes")
    assert done.returncode == 0, done.stderr
    assert "end_usr_b" in done.stdout
    gone = _one_line_error(_run(tmp_path, *token))
    assert "end_usr_b" in gone


def test_seeding_in_a_pipe_prints_plain_progress_lines(tmp_path: Path) -> None:
    args = ["sandbox", "seed", "--provider", "intacct", "--tenant", "PIPE-CO"]
    result = _run(tmp_path, *args, "--customers", "5000", "--seed", "3")
    assert result.returncode == 0, result.stderr
    assert "seeding intacct tenant PIPE-CO: 5,000/5,000" in result.stdout
    assert "…" not in result.stdout
    assert "added 5000 customers" in result.stdout


def test_help_answers_in_under_a_second_of_cpu(tmp_path: Path) -> None:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = _run(tmp_path, "--help")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert result.returncode == 0
    assert "sandbox" in result.stdout
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < 1.0, f"{cpu:.2f} s of CPU"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`ledgerbridge serve` on a free port; stopped with SIGTERM, always killed at the end."""
    port = free_port()
    process = subprocess.Popen(
        [*LEDGERBRIDGE, "serve", "--port", str(port)],
        env=_env(tmp_path, LEDGERBRIDGE_SCHEDULER="false"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "the server did not start"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield process, port
    finally:
        process.kill()
        process.communicate()


def test_serve_stops_on_sigterm_and_token_urls_name_its_port(
    tmp_path: Path, server: tuple[subprocess.Popen[str], int]
) -> None:
    process, port = server
    seeded = _run(tmp_path, "sandbox", "seed", "--provider", "qbd", "--tenant", "end_usr_c")
    assert seeded.returncode == 0, seeded.stderr
    token = _run(tmp_path, "sandbox", "token", "--provider", "qbd", "--tenant", "end_usr_c")
    assert f"CONDUCTOR_BASE_URL=http://127.0.0.1:{port}/sandbox/conductor/v1" in token.stdout
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0


def test_sync_refuses_a_paused_connection_as_the_api_does(tmp_path: Path) -> None:
    assert _run(tmp_path, "sandbox", "seed", "--provider", "qbo", "--tenant", "77").returncode == 0
    made = _run(tmp_path, "connect", "--provider", "qbo", "--tenant", "77", "--sandbox")
    connection_id = made.stdout.strip()
    settings = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    engine = open_main_database(settings)
    cipher = CredentialCipher(load_or_create_key(settings))
    with write_transaction(engine) as conn:
        info = get_connection(conn, connection_id)
        update_connection(conn, cipher, info, ConnectionChanges(paused=True), now=utcnow())
    engine.dispose()
    refused = _one_line_error(_run(tmp_path, "sync", connection_id))
    assert "paused" in refused
    assert "PATCH /connections/{id}" in refused
