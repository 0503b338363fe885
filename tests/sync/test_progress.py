"""Sync progress where no live bar fits (a pipe, a log file): plain periodic lines."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from rich.console import Console

from ledgerbridge.sync.progress import PlainSyncProgress, RichSyncProgress, sync_progress
from ledgerbridge.sync.runs import SyncRunInfo
from ledgerbridge.unified.records import WriteCounts


def _run() -> SyncRunInfo:
    now = datetime.now(UTC)
    return SyncRunInfo(
        id=1,
        connection_id="conn_x",
        kind="full",
        trigger="cli",
        status="running",
        queued_at=now,
        started_at=now,
        finished_at=None,
        pages=0,
        added=0,
        updated=0,
        deleted=0,
        unchanged=0,
        total=None,
        error=None,
    )


def test_a_pipe_gets_whole_lines_not_a_cut_bar() -> None:
    output = io.StringIO()
    console = Console(file=output, width=40)  # not a terminal, and narrow
    progress = sync_progress(console)
    assert isinstance(progress, PlainSyncProgress)
    progress.every_s = 0.0  # a line for every page
    with progress:
        progress.begin(_run())
        for _ in range(3):
            progress.advance(records=1000, total=3000, counts=WriteCounts())
    lines = output.getvalue().splitlines()
    assert lines[0].startswith("full sync of conn_x: 1,000/3,000 records, 1 pages")
    assert lines[-1].startswith("full sync of conn_x: 3,000/3,000 records, 3 pages")
    assert all("…" not in line for line in lines)


def test_a_terminal_gets_the_live_bar() -> None:
    console = Console(file=io.StringIO(), force_terminal=True)
    assert isinstance(sync_progress(console), RichSyncProgress)
