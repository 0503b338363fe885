"""`ledgerbridge demo`: the whole product running locally with nothing to configure.

It serves the API and the sandboxes, seeds a QuickBooks Online sandbox company with 2,000
customers (sub-customers and inactive ones among them), a QuickBooks Desktop company and an
Intacct company with 1,000 each, connects them, runs their first syncs with a progress
bar, and prints copy-paste `curl` commands. The dashboard's URL and the API key to sign in
with come first, before the seeding. What it creates (API key, tenants, connection
ids) is kept in `ledgerbridge-demo.json` in the data folder, so running it again in the
same folder reuses all of it and only syncs what changed.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from rich.console import Console

from ledgerbridge import serving
from ledgerbridge.config import Settings
from ledgerbridge.connect import connect_sandbox
from ledgerbridge.connections import get_connection
from ledgerbridge.crypto import CredentialCipher
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.environments import DEFAULT_ENVIRONMENT
from ledgerbridge.errors import NotFoundError
from ledgerbridge.keys import create_api_key
from ledgerbridge.providers.registry import get_platform
from ledgerbridge.runtime import Databases
from ledgerbridge.sandbox.base import SandboxContext
from ledgerbridge.sync import runs
from ledgerbridge.sync.engine import SyncBusyError, SyncEnvironment, run_sync
from ledgerbridge.sync.progress import run_table, sync_progress
from ledgerbridge.sync.runs import RunStatus, SyncRunInfo
from ledgerbridge.sync.worker import new_http_client
from ledgerbridge.unified.cursor import encode_cursor
from ledgerbridge.unified.customer import MODEL_NAME
from ledgerbridge.unified.records import list_records

STATE_FILE = "ledgerbridge-demo.json"


@dataclass(frozen=True)
class DemoCompany:
    provider: str
    tenant: str
    customers: int
    title: str


COMPANIES = (
    DemoCompany("qbo", "9130357992221046", 2000, "QuickBooks Online"),
    DemoCompany("qbd", "end_usr_demo", 1000, "QuickBooks Desktop"),
    DemoCompany("intacct", "DEMO-CO", 1000, "Sage Intacct"),
)


def _load_state(path: Path) -> dict[str, Any]:
    if path.exists():
        state: dict[str, Any] = orjson.loads(path.read_bytes())
        return state
    return {}


def _save_state(path: Path, state: dict[str, Any]) -> None:
    path.write_bytes(orjson.dumps(state, option=orjson.OPT_INDENT_2))
    path.chmod(0o600)


def prepare(settings: Settings, databases: Databases) -> dict[str, Any]:
    """Create (once) the demo's API key and return the demo's state."""
    path = settings.data_dir / STATE_FILE
    state = _load_state(path)
    if "api_key" not in state:
        with write_transaction(databases.main) as conn:
            state["api_key"] = create_api_key(
                conn, name="demo", now=utcnow(), environment=DEFAULT_ENVIRONMENT
            )[1]
        _save_state(path, state)
    return state


def _connection_exists(databases: Databases, connection_id: str) -> bool:
    with read_transaction(databases.main) as conn:
        try:
            get_connection(conn, connection_id)
        except NotFoundError:
            return False
    return True


def connect_companies(
    settings: Settings, databases: Databases, cipher: CredentialCipher, console: Console
) -> dict[str, Any]:
    """Seed and connect each demo company once; later runs find them in the state file."""
    path = settings.data_dir / STATE_FILE
    state = _load_state(path)
    connections: dict[str, str] = state.setdefault("connections", {})
    context = SandboxContext(engine=databases.sandbox, base_url=settings.base_url)
    for company in COMPANIES:
        known = connections.get(company.provider)
        if known and _connection_exists(databases, known):
            continue
        console.print(
            f"Seeding the {company.title} sandbox company {company.tenant} with "
            f"{company.customers:,} customers..."
        )
        get_platform(company.provider).sandbox.seed(context, company.tenant, company.customers, 42)
        info = connect_sandbox(
            databases,
            cipher,
            provider=company.provider,
            tenant=company.tenant,
            server_url=settings.base_url,
        )
        connections[company.provider] = info.id
        _save_state(path, state)
    return state


async def _sync(
    databases: Databases, cipher: CredentialCipher, connection_id: str, console: Console
) -> SyncRunInfo:
    async with new_http_client() as http:
        env = SyncEnvironment(engine=databases.main, cipher=cipher, http=http)
        try:
            with sync_progress(console) as progress:
                return await run_sync(env, connection_id, trigger="cli", progress=progress)
        except SyncBusyError:
            # The server's scheduler got there first: wait for its run instead.
            while True:
                with read_transaction(databases.main) as conn:
                    latest = runs.list_runs(conn, connection_id, limit=1)
                if latest and latest[0].status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
                    return latest[0]
                await asyncio.sleep(0.5)


def sync_all(
    databases: Databases, cipher: CredentialCipher, state: dict[str, Any], console: Console
) -> None:
    for company in COMPANIES:
        connection_id = state["connections"][company.provider]
        console.print(f"\n[bold]{company.title}[/bold] ({connection_id})")
        run = asyncio.run(_sync(databases, cipher, connection_id, console))
        console.print(run_table(run))
        if run.error:
            console.print(f"[red]{run.error}[/red]")


def start_server(settings: Settings, app: Any, sock: socket.socket) -> uvicorn.Server:
    """The API and the sandboxes on `sock` (bound to `settings.base_url`), in a background
    thread."""
    server = serving.server(app, keep_alive_s=settings.keep_alive_s)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="ledgerbridge-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise SystemExit(f"the server could not start on {settings.base_url}")
        time.sleep(0.05)
    return server


def print_dashboard(settings: Settings, state: dict[str, Any], console: Console) -> None:
    """The first thing the demo says: where the dashboard is and how to sign in (it is
    usable at once and shows the companies being seeded, connected and synced)."""
    console.print(f"[bold green]Dashboard:[/bold green] {settings.base_url}/ui", soft_wrap=True)
    console.print(
        f"Sign in with the API key [bold]{state['api_key']}[/bold] "
        "(kept in ledgerbridge-demo.json; `ledgerbridge keys create` makes more).\n",
        soft_wrap=True,
    )


def print_welcome(
    settings: Settings, databases: Databases, state: dict[str, Any], console: Console
) -> None:
    base = settings.base_url
    key = state["api_key"]
    qbo = state["connections"]["qbo"]
    with read_transaction(databases.main) as conn:
        page, has_more = list_records(conn, connection_id=qbo, model=MODEL_NAME, limit=100)
    cursor = ""
    if page and has_more:
        cursor = encode_cursor(page[-1].change_seq, connection_id=qbo, model=MODEL_NAME)
    auth = f'-H "Authorization: Bearer {key}" -H "Connection-Id: {qbo}"'
    console.print(f"\n[bold green]ledgerbridge is listening on {base}[/bold green]")
    console.print(f"Dashboard:    {base}/ui (sign in with the API key)")
    console.print(f"API docs:     {base}/docs")
    console.print(f"API key:      [bold]{key}[/bold]")
    for company in COMPANIES:
        console.print(f"{company.title + ':':<19} {state['connections'][company.provider]}")
    console.print("\nThe first page of QuickBooks Online customers:")
    console.print(f'  curl -s {auth} "{base}/customers?limit=100"', soft_wrap=True)
    console.print("The next page, by cursor:")
    console.print(f'  curl -s {auth} "{base}/customers?limit=100&cursor={cursor}"', soft_wrap=True)
    console.print("Customers deleted (inactive) in QuickBooks:")
    console.print(f'  curl -s {auth} "{base}/customers?filter=deleted"', soft_wrap=True)
    console.print(
        "\nThe CLI: `ledgerbridge --help` (run `source .venv/bin/activate` in the repository "
        "first, or call `.venv/bin/ledgerbridge`)."
    )
    console.print("\nServing until Ctrl+C.")
