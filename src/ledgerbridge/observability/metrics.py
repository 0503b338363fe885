"""Prometheus metrics (prometheus-client), all named `ledgerbridge_...`, served at
`GET /metrics`. The README lists each one.

Several processes on one machine (serve replicas, workers) each count their own; with
`PROMETHEUS_MULTIPROC_DIR` set (an empty folder, set before the processes start), each
writes its values there and `/metrics` of any of them reports the sum over all, through
prometheus-client's multi-process mode.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

REGISTRY = CollectorRegistry()
"""Ours alone, so every metric served is named `ledgerbridge_...` (the process's CPU,
memory and file descriptors too: `ledgerbridge_process_...`)."""
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # In multi-process mode one scraped process's own figures would mislead.
    ProcessCollector(namespace="ledgerbridge", registry=REGISTRY)

_RUN_SECONDS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
_REQUEST_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120)

SYNC_RUNS = Counter(
    "ledgerbridge_sync_runs",
    "Sync runs finished, by provider, what started them and how they ended.",
    ["provider", "trigger", "outcome"],
    registry=REGISTRY,
)
SYNC_RECORDS = Counter(
    "ledgerbridge_sync_records",
    "Records a sync saved, by provider and what happened to each.",
    ["provider", "action"],
    registry=REGISTRY,
)
SYNC_PAGES = Counter(
    "ledgerbridge_sync_pages", "Pages a sync saved.", ["provider"], registry=REGISTRY
)
SYNC_RUN_DURATION = Histogram(
    "ledgerbridge_sync_run_duration_seconds",
    "How long sync runs took, start to end, by provider and outcome.",
    ["provider", "outcome"],
    buckets=_RUN_SECONDS,
    registry=REGISTRY,
)
SYNC_RUNS_IN_PROGRESS = Gauge(
    "ledgerbridge_sync_runs_in_progress",
    "Sync runs going on now.",
    ["provider"],
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
INTERRUPTED_RUNS = Counter(
    "ledgerbridge_sync_runs_interrupted",
    "Runs found `running` under an expired lease (their process died) and marked failed.",
    registry=REGISTRY,
)
LEASE_TAKEOVERS = Counter(
    "ledgerbridge_lease_takeovers",
    "Connection leases taken over after their holder let them expire.",
    registry=REGISTRY,
)
PROVIDER_REQUESTS = Counter(
    "ledgerbridge_provider_requests",
    "HTTP requests to the platforms, by provider, method and status (`error`: no answer).",
    ["provider", "method", "status"],
    registry=REGISTRY,
)
PROVIDER_REQUEST_DURATION = Histogram(
    "ledgerbridge_provider_request_duration_seconds",
    "How long the platforms took to answer, by provider.",
    ["provider"],
    buckets=_REQUEST_SECONDS,
    registry=REGISTRY,
)
PROVIDER_THROTTLES = Counter(
    "ledgerbridge_provider_throttles",
    "429 answers from the platforms, by provider.",
    ["provider"],
    registry=REGISTRY,
)
PROVIDER_RETRIES = Counter(
    "ledgerbridge_provider_retries",
    "Requests tried again, by provider and reason (`throttled` or `retriable`).",
    ["provider", "reason"],
    registry=REGISTRY,
)
PROVIDER_WAIT = Counter(
    "ledgerbridge_provider_wait_seconds",
    "Seconds spent waiting before retries, by provider and reason.",
    ["provider", "reason"],
    registry=REGISTRY,
)
TOKEN_REFRESHES = Counter(
    "ledgerbridge_token_refreshes",
    "OAuth access-token refreshes, by provider and outcome (`ok`, `refused`, `error`).",
    ["provider", "outcome"],
    registry=REGISTRY,
)
WEBHOOK_ATTEMPTS = Counter(
    "ledgerbridge_webhook_attempts",
    "Webhook deliveries attempted, by outcome (`succeeded`: a 2xx answer; `failed`).",
    ["outcome"],
    registry=REGISTRY,
)
WEBHOOK_GIVEN_UP = Counter(
    "ledgerbridge_webhook_deliveries_given_up",
    "Webhook deliveries that failed past the retry window (their subscription disabled).",
    registry=REGISTRY,
)
WEBHOOK_LATENCY = Histogram(
    "ledgerbridge_webhook_attempt_duration_seconds",
    "How long receivers took to answer a webhook (or to fail).",
    buckets=_REQUEST_SECONDS,
    registry=REGISTRY,
)
WEBHOOK_BACKLOG = Gauge(
    "ledgerbridge_webhook_outbox_backlog",
    "Webhook deliveries pending (not yet succeeded or given up), as a worker last counted.",
    multiprocess_mode="mostrecent",
    registry=REGISTRY,
)
API_REQUESTS = Counter(
    "ledgerbridge_http_requests",
    "Requests to this server, by method, route template and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
API_REQUEST_DURATION = Histogram(
    "ledgerbridge_http_request_duration_seconds",
    "Latency of this server's answers (the records API included), by method and route.",
    ["method", "route"],
    buckets=_REQUEST_SECONDS,
    registry=REGISTRY,
)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition() -> tuple[bytes, str]:
    """The current metrics in Prometheus' text format, and its content type: this
    process's, or every process's when they share `PROMETHEUS_MULTIPROC_DIR`."""
    if (folder := multiprocess_dir()) is not None:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def process_exiting() -> None:
    """Drop this process's live gauges from the shared folder (multi-process mode)."""
    if multiprocess_dir() is not None:
        mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
