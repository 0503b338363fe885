"""A Rich progress bar for a sync run: pages, records, rate, and ETA when the platform
says how many customers there are."""

from __future__ import annotations

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
