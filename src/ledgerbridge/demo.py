"""`ledgerbridge demo`: the product running locally with nothing to configure.

State the demo creates (its API key) is kept in `ledgerbridge-demo.json` in the data folder,
so running it again in the same folder reuses what is there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

from ledgerbridge.config import Settings
from ledgerbridge.db import utcnow, write_transaction
from ledgerbridge.keys import create_api_key
from ledgerbridge.runtime import Databases

STATE_FILE = "ledgerbridge-demo.json"


def _load_state(path: Path) -> dict[str, Any]:
    if path.exists():
        state: dict[str, Any] = orjson.loads(path.read_bytes())
        return state
    return {}


def prepare(settings: Settings, databases: Databases) -> dict[str, Any]:
    """Create (once) what the demo needs and return its state."""
    path = settings.data_dir / STATE_FILE
    state = _load_state(path)
    if "api_key" not in state:
        with write_transaction(databases.main) as conn:
            state["api_key"] = create_api_key(conn, name="demo", now=utcnow())
        path.write_bytes(orjson.dumps(state, option=orjson.OPT_INDENT_2))
        path.chmod(0o600)
    return state


def print_welcome(settings: Settings, state: dict[str, Any], console: Console) -> None:
    base = settings.base_url
    key = state["api_key"]
    console.print(f"\n[bold green]ledgerbridge is listening on {base}[/bold green]")
    console.print(f"API docs:  {base}/docs")
    console.print(f"API key:   [bold]{key}[/bold]\n")
    console.print("Try:")
    console.print(f'  curl -s -H "Authorization: Bearer {key}" {base}/connections', soft_wrap=True)
