"""One sync run of one connection, generic over connectors.

A run holds the connection's lease (`sync/leases.py`) from start to end. Each page the
connector yields is saved in one transaction together with the connector's checkpoint and
the run's counts, after checking the lease is still this process's: a run killed at any
moment resumes from its last saved page, and a run that lost its lease cannot write.

Active customers are saved; inactive ones are recorded as deleted with their payload kept
(`active: false`); a reactivated one is saved again and reads as ADDED. Deletes the
platform reports outright (`deleted_ids`) and ids missing from a full key list
(`key_list`, staged in the database part by part) are recorded as deleted too.

A key list proves absent only what existed before it was read: a customer written back
(`POST /customers`) or restored while a full pass reads was not in a list that predates
it. So each pass remembers the connection's change sequence when it began
(`pass_began_at_seq`, kept beside the connector's checkpoint while a full pass is under
way, so a pass resumed by a later run keeps its first run's value) and the reconciliation
deletes only records unchanged since then. For the same reason a pass that began on a
connection with nothing stored reads no key list at all (`needs_key_lists`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
import structlog
from sqlalchemy.engine import Connection, Engine

from ledgerbridge.connections import (
    ConnectionInfo,
    ConnectionStatus,
    get_connection,
    get_connection_for_run,
    set_status,
)
from ledgerbridge.crypto import CredentialCipher
from ledgerbridge.db import utcnow, wal_checkpoints, write_transaction
from ledgerbridge.errors import LedgerBridgeError
from ledgerbridge.observability import metrics
from ledgerbridge.providers.base import (
    AuthError,
    Connector,
    ConnectorSettings,
    CustomerPage,
    MappedCustomer,
)
from ledgerbridge.providers.registry import get_platform
from ledgerbridge.sync import health, leases, report, runs
from ledgerbridge.sync.credentials import DatabaseCredentials
from ledgerbridge.sync.hierarchy import DatabaseHierarchy
from ledgerbridge.sync.runs import RunKind, RunStatus, SyncRunInfo
from ledgerbridge.threads import in_thread
from ledgerbridge.unified import key_lists
from ledgerbridge.unified.cursor import encode_cursor
from ledgerbridge.unified.customer import MODEL_NAME
from ledgerbridge.unified.records import (
    IncomingRecord,
    WriteCounts,
    mark_deleted,
    record_version,
    save_records,
)
from ledgerbridge.webhooks import events

RETRY_FAILED_AFTER = timedelta(minutes=5)
"""A failed run is tried again after this long (or the sync frequency, if shorter)."""
READ_AHEAD_PAGES = 2
"""Pages read while earlier ones are being saved (memory: this many pages at most)."""
PASS_BEGAN_KEY = "pass_began_at_seq"
"""The engine's own key in a stored mid-pass checkpoint (never handed to the connector)."""


def process_owner() -> str:
    """A name for this process in leases and runs: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class SyncBusyError(LedgerBridgeError):
    """Another process is running a sync of this connection."""


class LeaseLostError(LedgerBridgeError):
    """This run's lease expired and was taken over; it stops without writing."""


class SyncProgress(Protocol):
    """What a run reports as it goes (the CLI draws a progress bar from it)."""

    def begin(self, run: SyncRunInfo) -> None: ...

    def advance(self, *, records: int, total: int | None, counts: WriteCounts) -> None: ...


@dataclass
class SyncEnvironment:
    """What runs need from the process: the database, the key to the credentials, one HTTP
    client shared by all connectors (the transport seam), and the connector knobs."""

    engine: Engine
    cipher: CredentialCipher
    http: httpx.AsyncClient
    connector_settings: ConnectorSettings = field(default_factory=ConnectorSettings)
    owner: str = field(default_factory=process_owner)
    lease_ttl: timedelta = timedelta(seconds=60)
    clock: Callable[[], datetime] = utcnow


BUDGET_SETTINGS = ("max_concurrent", "requests_per_minute")
"""Connection settings that set the request budget rather than a platform option."""


def open_connector(
    env: SyncEnvironment,
    info: ConnectionInfo,
    *,
    stored_credentials: str | None = None,
    key_lists: bool = True,
) -> Connector:
    """The connector of a stored connection; the connection's own settings (e.g. Intacct's
    `reconcile_every`) override the process-wide `extra` options, and `key_lists` False
    turns its key lists off (`ConnectorSettings.key_lists`). Its provider and connection
    are bound to the logging context, so its requests are logged and counted under them."""
    structlog.contextvars.bind_contextvars(connection_id=info.id, provider=info.provider)
    settings = env.connector_settings
    if not key_lists:
        settings = replace(settings, key_lists=False)
    if info.settings:
        options = dict(info.settings)
        budget = {key: options.pop(key) for key in BUDGET_SETTINGS if key in options}
        settings = replace(settings, **budget, extra={**settings.extra, **options})
    return get_platform(info.provider).connector(
        base_url=info.base_url,
        credentials=DatabaseCredentials(
            env.engine, env.cipher, info.id, snapshot=stored_credentials
        ),
        http=env.http,
        settings=settings,
        stored=DatabaseHierarchy(env.engine, info.id),
    )


def needs_key_lists(pass_began_at_seq: int) -> bool:
    """Whether a run of a pass that began at `pass_began_at_seq` reads key lists. A pass
    that began on a connection with nothing stored (its change sequence at 0: every record
    takes a number from 1) cannot delete anything by one: the reconciliation deletes only
    records unchanged since the pass began, and every record was stored after. So the
    first sync of a connection reads no key list: half the requests of a QuickBooks Online
    first sync (2,001 → 1,001 for a million customers, which at Intuit's 500 requests a
    minute is four minutes instead of eight). A customer removed while that pass reads is
    left as it would have been with the list (spared as changed since the pass began), to
    the next run that reports it (QuickBooks Online's change data capture, Conductor's
    deleted list, the next reconciliation)."""
    return pass_began_at_seq > 0


def incoming_record(record: MappedCustomer) -> IncomingRecord:
    """A mapped customer as the record store takes it, with its platform version, so a
    page read before a write-back can never put the older version back."""
    token = record.version.token
    # isascii and isdigit together: `is_ascii_digits` without a regular expression per record.
    digits = token is not None and token.isascii() and token.isdigit() and len(token) <= 20
    counter = token if digits else None
    return IncomingRecord(
        external_id=record.external_id,
        payload=record.payload,
        remote_data=record.native,
        deleted=record.deleted,
        version=record_version(record.version.modified_at, counter),
    )


def _mid_pass(checkpoint: dict[str, Any] | None) -> bool:
    """A checkpoint taken inside a full pass (the `Connector.pages` convention)."""
    return bool(checkpoint and checkpoint.get("full"))


def _stored_checkpoint(page: CustomerPage, pass_began_at_seq: int) -> dict[str, Any] | None:
    """The page's checkpoint as stored: inside a full pass, with where the pass began."""
    if page.checkpoint is not None and _mid_pass(page.checkpoint):
        return {**page.checkpoint, PASS_BEGAN_KEY: pass_began_at_seq}
    return page.checkpoint


def _save_page(
    env: SyncEnvironment, run: SyncRunInfo, page: CustomerPage, pass_began_at_seq: int
) -> WriteCounts:
    """The page, its deletes, its part of a key list, its checkpoint and the run's counts:
    one transaction. A key list deletes only records unchanged since its pass began."""
    batch = [incoming_record(record) for record in page.records]
    connection_id, now = run.connection_id, env.clock()
    checkpoint = _stored_checkpoint(page, pass_began_at_seq)
    with write_transaction(env.engine) as conn:
        if not leases.save_checkpoint(conn, connection_id, env.owner, checkpoint):
            raise LeaseLostError(
                f"the lease on {connection_id} expired and was taken over; stopping"
            )
        scope: dict[str, Any] = {"connection_id": connection_id, "model": MODEL_NAME}
        counts = save_records(conn, batch=batch, now=now, **scope)
        counts.deleted += mark_deleted(conn, external_ids=page.deleted_ids, now=now, **scope)
        if (part := page.key_list) is not None:
            key_lists.stage(conn, ids=part.ids, first=part.first, **scope)
            if part.last:
                counts.deleted += key_lists.reconcile(
                    conn, now=now, pass_began_at_seq=pass_began_at_seq, **scope
                )
        runs.add_counts(
            conn,
            run.id,
            added=counts.added,
            updated=counts.updated,
            deleted=counts.deleted,
            unchanged=counts.unchanged,
            total=page.total,
        )
    return counts


_END = object()


async def _read_ahead(
    pages: AsyncIterator[CustomerPage], depth: int
) -> AsyncIterator[CustomerPage]:
    """The connector's pages, read up to `depth` pages ahead of the caller, so the next
    request is on the wire while this page is being saved. Pages still come out in order
    and each is saved with its own checkpoint, so reading ahead changes nothing on a crash:
    pages read but not saved are read again by the next run."""
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=depth)

    async def pump() -> None:
        try:
            async for page in pages:
                await queue.put(page)
            await queue.put(_END)
        except Exception as exc:  # handed to the reader, raised there
            await queue.put(exc)

    task = asyncio.create_task(pump())
    try:
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, Exception):
                raise item
            assert isinstance(item, CustomerPage)
            yield item
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        # Stop the connector's own requests in flight (its prefetches) now, not at GC.
        close = getattr(pages, "aclose", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()


@dataclass(frozen=True)
class _Begun:
    """A run as it starts: the connection, the run, where the connector starts reading,
    the change sequence its pass began at, and the one this run began at (its
    `sync.succeeded` event tells readers to resume from there)."""

    info: ConnectionInfo
    run: SyncRunInfo
    checkpoint: dict[str, Any] | None
    pass_began_at_seq: int
    run_began_at_seq: int
    credentials: str
    """The connection's stored credentials as the run began (its connector's first read)."""


def _start(
    env: SyncEnvironment, connection_id: str, *, full: bool, trigger: str, leased: bool
) -> _Begun:
    """Take the lease (unless the scheduler holds it for us), turn the waiting or a new run
    into the running one, and return where to start reading. A run that resumes a full
    pass keeps the pass's beginning; any other run begins a pass now. A handful of
    statements: at ten thousand connections a run's cost is mostly its round trips."""
    now = env.clock()
    with write_transaction(env.engine) as conn:
        if not leased and not leases.claim(
            conn, connection_id, env.owner, now=now, ttl=env.lease_ttl
        ):
            holder = leases.holder(conn, connection_id, now=now)
            raise SyncBusyError(f"a sync of {connection_id} is already running ({holder})")
        found = get_connection_for_run(conn, connection_id)
        checkpoint, requested = leases.starting_point(conn, connection_id)
        unfinished = runs.unfinished(conn, connection_id)
        if unfinished.running:
            runs.fail_interrupted(conn, connection_id, now=now)
        full = full or unfinished.waiting_full
        resuming_full = _mid_pass(checkpoint)
        if full and not resuming_full:
            checkpoint = None
        kind = RunKind.FULL if checkpoint is None or resuming_full else RunKind.INCREMENTAL
        run = runs.start_run(
            conn,
            connection_id,
            waiting=unfinished.waiting,
            kind=kind,
            trigger=trigger,
            owner=env.owner,
            now=now,
        )
        if requested:
            leases.take_request(conn, connection_id)  # this run serves every request so far
    began = run_began = found.change_seq
    if checkpoint is not None:
        checkpoint = dict(checkpoint)
        stored_began = checkpoint.pop(PASS_BEGAN_KEY, None)
        if resuming_full and isinstance(stored_began, int):
            began = min(began, stored_began)
    return _Begun(found.info, run, checkpoint, began, run_began, found.credentials)


def _finish(env: SyncEnvironment, begun: _Begun, error: BaseException | None) -> SyncRunInfo:
    """Record how the run ended, announce it (`sync.succeeded` or `sync.failed`, in the
    same transaction), schedule the next one and release the lease."""
    info, run_id, now = begun.info, begun.run.id, env.clock()
    with write_transaction(env.engine) as conn:
        if error is None:
            finished = runs.end_run(conn, run_id, status=RunStatus.SUCCEEDED, finished_at=now)
            if info.consecutive_failures or info.status == ConnectionStatus.ERROR:
                health.run_succeeded(conn, info.id)  # only runs set either, under the lease
            wait = timedelta(seconds=info.sync_frequency_s)
        else:
            finished, wait = _failed(conn, begun, error, now)
        if not isinstance(error, LeaseLostError):
            leases.schedule_and_release(conn, info.id, env.owner, at=now + wait)
        events.sync_finished(
            conn,
            finished,
            provider=info.provider,
            environment=info.environment,
            model=MODEL_NAME,
            resume_cursor=encode_cursor(
                begun.run_began_at_seq, connection_id=info.id, model=MODEL_NAME
            ),
            # Every failure is retried on the connection's back-off, unless it needs a person.
            will_retry=error is None
            or get_connection(conn, info.id).status != ConnectionStatus.NEEDS_REAUTH,
            now=now,
        )
    report.run_finished(finished, info.provider)
    return finished


def _failed(
    conn: Connection, begun: _Begun, error: BaseException, now: datetime
) -> tuple[SyncRunInfo, timedelta]:
    """A failed run recorded, with its reason and the connection's health; the run, and
    how long until the next one."""
    info = begun.info
    stopped = isinstance(error, asyncio.CancelledError | KeyboardInterrupt)
    if stopped:
        message = "cancelled: the process stopped; the next run resumes from here"
    else:
        message = str(error) or type(error).__name__
    finished = runs.end_run(
        conn, begun.run.id, status=RunStatus.FAILED, finished_at=now, error=message[:4000]
    )
    if stopped or isinstance(error, LeaseLostError):
        # Not the connection's fault: no failure counted, resume soon.
        wait = min(timedelta(seconds=info.sync_frequency_s), RETRY_FAILED_AFTER)
    else:
        wait = health.run_failed(conn, info.id, message[:4000], now)
    if isinstance(error, AuthError):
        current = get_connection(conn, info.id)
        if current.status != ConnectionStatus.NEEDS_REAUTH:
            set_status(
                conn,
                info.id,
                ConnectionStatus.NEEDS_REAUTH,
                f"credentials refused: {message}",
                now=now,
            )
    return finished, wait


async def _keep_lease(env: SyncEnvironment, connection_id: str) -> None:
    """Renew the lease while the run lasts; a lost lease is noticed at the next page."""

    def renew() -> bool:
        with write_transaction(env.engine) as conn:
            return leases.renew(conn, connection_id, env.owner, now=env.clock(), ttl=env.lease_ttl)

    while True:
        await asyncio.sleep(env.lease_ttl.total_seconds() / 3)
        if not await in_thread(renew):
            return


async def run_sync(
    env: SyncEnvironment,
    connection_id: str,
    *,
    full: bool = False,
    trigger: str = "cli",
    progress: SyncProgress | None = None,
    leased: bool = False,
) -> SyncRunInfo:
    """Run one sync of the connection to the end and return the finished run (succeeded
    or failed). `leased` says the caller (the scheduler) already holds the lease.
    Raises `SyncBusyError` when another process holds it."""
    begun = await in_thread(
        lambda: _start(env, connection_id, full=full, trigger=trigger, leased=leased),
        # Stopped as the run began: it began all the same, so it is recorded cancelled.
        undo=lambda begun: _finish(env, begun, asyncio.CancelledError()),
    )
    info, run, checkpoint = begun.info, begun.run, begun.checkpoint
    if progress is not None:
        progress.begin(run)
    in_progress = metrics.SYNC_RUNS_IN_PROGRESS.labels(info.provider)
    with (
        structlog.contextvars.bound_contextvars(
            run_id=run.id, connection_id=info.id, provider=info.provider
        ),
        in_progress.track_inprogress(),
    ):
        keeper = asyncio.create_task(_keep_lease(env, connection_id))
        checkpoints = wal_checkpoints(env.engine)  # copies the saved pages' log meanwhile
        error: BaseException | None = None
        total: int | None = None
        try:
            connector = open_connector(
                env,
                info,
                stored_credentials=begun.credentials,
                key_lists=needs_key_lists(begun.pass_began_at_seq),
            )
            async for page in _read_ahead(connector.pages(checkpoint), READ_AHEAD_PAGES):
                counts = await in_thread(_save_page, env, run, page, begun.pass_began_at_seq)
                checkpoints.request()
                total = page.total if page.total is not None else total
                if progress is not None:
                    progress.advance(records=len(page.records), total=total, counts=counts)
        except Exception as exc:  # every failure ends the run as failed, with its reason
            error = exc
        except BaseException as exc:  # cancelled or interrupted: record it, then go on
            await in_thread(_finish, env, begun, exc)  # outlasts another cancellation
            raise
        finally:
            keeper.cancel()
            await in_thread(checkpoints.close)
        return await in_thread(_finish, env, begun, error)
