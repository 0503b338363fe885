"""The runs chart: records added, updated and deleted per run, as inline SVG drawn on the
server (no JavaScript, no chart library), with a text alternative for screen readers."""

from __future__ import annotations

from dataclasses import dataclass

from ledgerbridge.sync.runs import SyncRunInfo

WIDTH, HEIGHT, GAP = 600, 160, 4
MAX_SLOT = 40
"""A bar's widest: a few runs read as bars, not as a wall of colour."""
SERIES = (("added", "#1a7f37"), ("updated", "#0969da"), ("deleted", "#cf222e"))


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    summary: str
    peak: int


def runs_chart(runs: list[SyncRunInfo]) -> Chart:
    """Stacked bars, oldest run on the left; heights relative to the busiest run."""
    peak = max((run.added + run.updated + run.deleted for run in runs), default=0)
    slot = min(WIDTH / max(len(runs), 1), MAX_SLOT)
    bars: list[Bar] = []
    for index, run in enumerate(runs):
        base = float(HEIGHT)
        for name, colour in SERIES:
            value = getattr(run, name)
            if not value or not peak:
                continue
            height = HEIGHT * value / peak
            base -= height
            bars.append(
                Bar(
                    x=index * slot + GAP / 2,
                    y=base,
                    width=max(slot - GAP, 1),
                    height=height,
                    colour=colour,
                    label=f"run {run.id}: {value:,} {name}",
                )
            )
    summary = "; ".join(
        f"run {run.id}: {run.added:,} added, {run.updated:,} updated, {run.deleted:,} deleted"
        for run in runs
    )
    return Chart(width=WIDTH, height=HEIGHT, bars=bars, summary=summary or "no runs", peak=peak)
