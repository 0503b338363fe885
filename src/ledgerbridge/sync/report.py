"""What a finished sync run tells operators: one log line with its connection, provider,
trigger, counts, pages, duration and outcome, and the run metrics. Called from one place
in the engine, when the run's end is stored."""

from __future__ import annotations

from ledgerbridge.observability import metrics
from ledgerbridge.observability.logs import get_logger
from ledgerbridge.sync.runs import SyncRunInfo

log = get_logger("ledgerbridge.sync")

_ACTIONS = ("added", "updated", "deleted", "unchanged")


def outcome_of(run: SyncRunInfo) -> str:
    """`succeeded`, `interrupted` (its process stopped) or `failed`."""
    if run.status == "failed" and run.error and run.error.startswith(("cancelled", "interrupted")):
        return "interrupted"
    return run.status


def run_finished(run: SyncRunInfo, provider: str) -> None:
    outcome = outcome_of(run)
    duration = (
        (run.finished_at - run.started_at).total_seconds()
        if run.finished_at is not None and run.started_at is not None
        else 0.0
    )
    metrics.SYNC_RUNS.labels(provider, run.trigger, outcome).inc()
    metrics.SYNC_RUN_DURATION.labels(provider, outcome).observe(duration)
    metrics.SYNC_PAGES.labels(provider).inc(run.pages)
    for action in _ACTIONS:
        metrics.SYNC_RECORDS.labels(provider, action).inc(getattr(run, action))
    fields = {
        "run_id": run.id,
        "connection_id": run.connection_id,
        "provider": provider,
        "trigger": run.trigger,
        "kind": run.kind,
        "outcome": outcome,
        "pages": run.pages,
        "added": run.added,
        "updated": run.updated,
        "deleted": run.deleted,
        "unchanged": run.unchanged,
        "duration_s": round(duration, 3),
        "error": run.error,
    }
    if outcome == "succeeded":
        log.info("sync run finished", **fields)
    else:
        log.warning("sync run finished", **fields)
