"""Progress of a sync run (pages, records, rate, and ETA when the platform says how many
customers there are) and of seeding: a Rich bar on a terminal, plain periodic lines when
the output goes to a pipe or a file."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from ledgerbridge.sync.runs import SyncRunInfo
from ledgerbridge.unified.records import WriteCounts


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} records/s", style="cyan")


class RichSyncProgress:
    """`SyncProgress` drawn on a console. Use as a context manager around the run."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[pages]} pages"),
            _RateColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self._task: TaskID | None = None
        self._pages = 0

    def __enter__(self) -> RichSyncProgress:
        self.progress.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.progress.stop()

    def begin(self, run: SyncRunInfo) -> None:
        self._task = self.progress.add_task(
            f"{run.kind} sync of {run.connection_id}", total=None, pages=0
        )

    def advance(self, *, records: int, total: int | None, counts: WriteCounts) -> None:
        assert self._task is not None, "begin() comes first"
        self._pages += 1
        self.progress.update(self._task, advance=records, total=total, pages=self._pages)


def run_table(run: SyncRunInfo) -> Table:
    """The counts of a finished run."""
    table = Table(title=f"sync run {run.id}: {run.kind}, {run.status}", show_header=True)
    for column in ("pages", "added", "updated", "deleted", "unchanged"):
        table.add_column(column, justify="right")
    table.add_row(
        *(f"{getattr(run, c):,}" for c in ("pages", "added", "updated", "deleted", "unchanged"))
    )
    return table


class PlainSyncProgress:
    """`SyncProgress` as plain lines, at most one every `every_s` seconds and one at the
    end: what a log file or a pipe can show (a live bar there is cut to `2000/… reco…`)."""

    def __init__(self, console: Console, every_s: float = 2.0) -> None:
        self.console = console
        self.every_s = every_s
        self._records = self._pages = 0
        self._total: int | None = None
        self._started = self._last = 0.0
        self._label = "sync"

    def __enter__(self) -> PlainSyncProgress:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._pages:
            self._line()

    def begin(self, run: SyncRunInfo) -> None:
        self._label = f"{run.kind} sync of {run.connection_id}"
        self._started = self._last = time.monotonic()

    def advance(self, *, records: int, total: int | None, counts: WriteCounts) -> None:
        self._records += records
        self._pages += 1
        self._total = total if total is not None else self._total
        if time.monotonic() - self._last >= self.every_s:
            self._line()

    def _line(self) -> None:
        self._last = time.monotonic()
        elapsed = max(self._last - self._started, 1e-9)
        of = f"/{self._total:,}" if self._total is not None else ""
        self.console.print(
            f"{self._label}: {self._records:,}{of} records, {self._pages} pages, "
            f"{self._records / elapsed:,.0f} records/s, {elapsed:.1f} s",
            soft_wrap=True,
        )


def sync_progress(console: Console) -> RichSyncProgress | PlainSyncProgress:
    """A live bar on a terminal, plain periodic lines anywhere else."""
    return RichSyncProgress(console) if console.is_terminal else PlainSyncProgress(console)


class CountingProgress:
    """Progress of a known amount of work (seeding): a bar on a terminal, plain periodic
    lines anywhere else."""

    def __init__(self, console: Console, label: str, total: int, every_s: float = 2.0) -> None:
        self.console, self.label, self.total, self.every_s = console, label, total, every_s
        self.done = 0
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._last = time.monotonic()

    def __enter__(self) -> CountingProgress:
        if self.console.is_terminal:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def advance(self, amount: int) -> None:
        self.done += amount
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=amount)
        elif time.monotonic() - self._last >= self.every_s or self.done >= self.total:
            self._last = time.monotonic()
            self.console.print(f"{self.label}: {self.done:,}/{self.total:,}", soft_wrap=True)


def counting_progress(console: Console, label: str, total: int) -> CountingProgress:
    return CountingProgress(console, label, total)
