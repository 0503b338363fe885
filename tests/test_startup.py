"""Start-up: what a CLI command pays before it does anything.

`ledgerbridge sync` and `worker` need neither the web stack nor Alembic when the database
is already migrated, so they do not import them (FastAPI and Alembic are a third of the
import time). The figures are `bench/startup_bench.py`'s; these tests hold the imports."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from ledgerbridge.db import alembic_heads, create_engine, migrate
from ledgerbridge.migrations import HEADS
from ledgerbridge.providers.registry import all_platforms
from ledgerbridge.runtime import MAIN_MIGRATIONS, MALLOC_ARENAS, migrate_sandbox_database
from ledgerbridge.sandbox.tables import SHARED_MIGRATIONS, sandbox_heads, version_locations
from ledgerbridge.unified.records import children_of

_OPEN_AND_REPORT = """
import sys
from ledgerbridge.config import Settings
from ledgerbridge import runtime
import ledgerbridge.cli, ledgerbridge.sync.engine, ledgerbridge.sync.progress
settings = Settings(database_url=sys.argv[1], sandbox_database_url=sys.argv[1], _env_file=None)
getattr(runtime, sys.argv[2])(settings).dispose()
print(sorted(m for m in ("fastapi", "starlette", "alembic") if m in sys.modules))
"""


def test_the_declared_heads_are_alembics() -> None:
    assert alembic_heads(MAIN_MIGRATIONS) == HEADS


def _imports_when_opening(url: str, opener: str = "open_main_database") -> str:
    done = subprocess.run(
        [sys.executable, "-c", _OPEN_AND_REPORT, url, opener],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_a_sync_at_head_imports_no_web_stack_nor_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'main.db'}"
    # A new database is migrated (Alembic loads); one at head is not touched.
    assert _imports_when_opening(url) == "['alembic']"
    assert _imports_when_opening(url) == "[]"


def test_the_declared_sandbox_heads_are_alembics() -> None:
    sandboxes = [each.sandbox for each in all_platforms()]
    locations = version_locations(sandboxes)
    assert alembic_heads(SHARED_MIGRATIONS, locations) == sandbox_heads(sandboxes)


def test_a_sandbox_database_at_its_heads_is_opened_without_alembic(tmp_path: Path) -> None:
    """A sandbox command (`sandbox token`, `configure`, `seed`) opens the sandbox database:
    at every branch's head, neither Alembic nor a sandbox's web app is imported for it."""
    url = f"sqlite:///{tmp_path / 'sandbox.db'}"
    # New: migrated, and Alembic reads every sandbox's scripts (not their web apps).
    assert _imports_when_opening(url, "open_sandbox_database") == "['alembic']"
    assert _imports_when_opening(url, "open_sandbox_database") == "[]"


_SANDBOX_COMMANDS = """
import sys
from ledgerbridge import runtime
from ledgerbridge.config import Settings
from ledgerbridge.providers.registry import get_platform
from ledgerbridge.sandbox.base import SandboxContext
url, provider, tenant = sys.argv[1:]
settings = Settings(database_url=url, sandbox_database_url=url, _env_file=None)
engine = runtime.open_sandbox_database(settings)
sandbox, context = get_platform(provider).sandbox, SandboxContext(engine=engine, base_url="")
try:
    sandbox.credentials(context, tenant)
except LookupError:
    pass
sandbox.create(context, tenant)
sandbox.credentials(context, tenant)
sandbox.reset(context, tenant)
engine.dispose()
print(sorted(m for m in ("fastapi", "faker") if m in sys.modules))
"""


@pytest.mark.parametrize(
    ("provider", "tenant"), [("qbd", "end_usr_nobody"), ("qbo", "9999"), ("intacct", "NOBODY")]
)
def test_sandbox_commands_import_neither_the_app_nor_the_seeder(
    tmp_path: Path, provider: str, tenant: str
) -> None:
    """`sandbox token`, `create` and `reset` read and write the sandbox's tables only:
    FastAPI and Faker (0.15-0.2 s of a command's imports) stay unloaded."""
    url = f"sqlite:///{tmp_path / 'sandbox.db'}"
    run = [sys.executable, "-c", _SANDBOX_COMMANDS, url, provider, tenant]
    subprocess.run(run, capture_output=True, check=True)  # migrates the new database
    assert subprocess.run(run, capture_output=True, text=True, check=True).stdout.strip() == "[]"


def test_a_sandbox_database_behind_a_head_is_still_migrated(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'sandbox.db'}")
    migrate_sandbox_database(engine)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE sandbox_alembic_version SET version_num = 'q0002'"
                " WHERE version_num = 'q0003'"
            )
        )
        connection.execute(sa.text("DROP TABLE qbo_webhook_events"))  # q0003's, undone
        connection.execute(sa.text("DROP TABLE qbo_webhook_apps"))
    migrate_sandbox_database(engine)
    with engine.connect() as connection:
        assert sa.inspect(connection).has_table("qbo_webhook_events")
        version = connection.execute(sa.text("SELECT version_num FROM sandbox_alembic_version"))
        assert frozenset(row[0] for row in version) == sandbox_heads(
            each.sandbox for each in all_platforms()
        )
    engine.dispose()


def test_a_database_behind_the_heads_is_still_migrated(tmp_path: Path) -> None:
    """A database two migrations behind (0009: no `listed_keys`, parents indexed as a
    payload expression) is brought to the heads, and 0011 fills the `parent_id` column
    from the payloads stored before it."""
    engine = create_engine(f"sqlite:///{tmp_path / 'main.db'}")
    migrate(engine, MAIN_MIGRATIONS, known_heads=HEADS)
    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", MAIN_MIGRATIONS)
        config.attributes["connection"] = connection
        command.downgrade(config, "0009")
        assert "parent_id" not in {c["name"] for c in sa.inspect(connection).get_columns("records")}
        connection.execute(
            sa.text(
                "INSERT INTO connections (id, provider, environment, base_url, status,"
                " credentials, change_seq, sync_frequency_s, created_at)"
                " VALUES ('c1', 'qbd', 'default', 'http://x', 'active', '', 2, 60,"
                " '2026-01-01')"
            )
        )
        for external_id, payload in (("p1", '{"parent_id": null}'), ("j1", '{"parent_id": "p1"}')):
            connection.execute(
                sa.text(
                    "INSERT INTO records (connection_id, model, external_id, payload,"
                    " content_hash, first_seen_at, last_modified_at, last_action, change_seq)"
                    " VALUES ('c1', 'customer', :id, :payload, 'h', '2026-01-01',"
                    " '2026-01-01', 'ADDED', :seq)"
                ),
                {"id": external_id, "payload": payload, "seq": 1 + (external_id == "j1")},
            )
    migrate(engine, MAIN_MIGRATIONS, known_heads=HEADS)
    with engine.connect() as connection:
        assert sa.inspect(connection).has_table("listed_keys")
        version = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
        assert [row[0] for row in version] == sorted(HEADS)
        parents = connection.execute(sa.text("SELECT external_id, parent_id FROM records"))
        assert sorted(parents) == [("j1", "p1"), ("p1", None)]
        found = children_of(connection, connection_id="c1", model="customer", parent_ids=["p1"])
        assert found == [("j1", "p1", None)]
    engine.dispose()


def _probe(source: str, mode: str) -> subprocess.CompletedProcess[str]:
    """`source` run in a new interpreter, with `runtime.started()` first when `mode` is
    "started" (MALLOC_ARENA_MAX unset, as on a default install)."""
    return subprocess.run(
        [sys.executable, "-c", source, mode],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"},
    )


COLLECTIONS_PROBE = """
import gc, sys
from ledgerbridge import runtime
if sys.argv[1] == "started":
    runtime.started()
before = sum(generation["collections"] for generation in gc.get_stats())
for _ in range(20):  # twenty pages of 1,000 customers, each alive until it is saved
    page = [{"Id": str(n), "BillAddr": {"Line1": "1 Main St"}, "MetaData": {}} for n in range(1000)]
    payloads = [dict(customer, payload={"id": customer["Id"]}) for customer in page]
    del page, payloads
print(sum(generation["collections"] for generation in gc.get_stats()) - before)
"""


def test_a_started_process_does_not_collect_garbage_for_each_page_it_holds() -> None:
    """Twenty pages of 1,000 customers (5,000 container objects each, all alive until the
    page is done, then freed by reference counting): CPython's threshold of 700 new objects
    collects several times a page, though none of it is garbage; a started process none."""

    assert int(_probe(COLLECTIONS_PROBE, "plain").stdout) >= 20 * 5
    assert int(_probe(COLLECTIONS_PROBE, "started").stdout) == 0


ARENA_PROBE = """
import ctypes, sys, threading
from ledgerbridge import runtime
if sys.argv[1] == "started":
    runtime.started()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def churn():
    for _ in range(20000):
        libc.free(libc.malloc(4096))  # ctypes drops the GIL: the threads meet in malloc
threads = [threading.Thread(target=churn) for _ in range(8)]
for thread in threads: thread.start()
for thread in threads: thread.join()
libc.malloc_stats()  # a block per arena on stderr
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="glibc's malloc arenas",
)
def test_a_started_process_keeps_to_two_malloc_arenas() -> None:
    """Eight threads contending in malloc: glibc gives them arenas of their own, except in a
    process that has `runtime.started()`."""

    def arenas(mode: str) -> int:
        stderr = _probe(ARENA_PROBE, mode).stderr
        return sum(line.startswith("Arena ") for line in stderr.splitlines())

    assert arenas("plain") > MALLOC_ARENAS
    assert arenas("started") == MALLOC_ARENAS
