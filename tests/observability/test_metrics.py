"""`GET /metrics`, scraped from a running server and parsed with prometheus-client's own
parser: every metric is `ledgerbridge_...`, and a sync with a token refresh, throttling
and records-API reads moves the metrics the README documents."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from conftest import FAST_RETRY
from ledgerbridge.connections import read_credentials, write_credentials
from ledgerbridge.db import write_transaction
from ledgerbridge.providers.base import ConnectorSettings
from ledgerbridge.sync.engine import SyncEnvironment, run_sync
from ledgerbridge.sync.runs import SyncRunInfo
from ledgerbridge.sync.worker import new_http_client
from providers.qbo.live_sync import SyncSetup, qbo, seed_realm

__all__ = ["qbo"]  # fixture

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(base_url: str) -> Samples:
    response = httpx.get(f"{base_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        assert family.name.startswith("ledgerbridge_"), family.name
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def _sync(app: FastAPI, connection_id: str) -> SyncRunInfo:
    async with new_http_client() as client:
        env = SyncEnvironment(
            app.state.databases.main,
            app.state.cipher,
            client,
            connector_settings=ConnectorSettings(page_size=5, retry=FAST_RETRY),
        )
        return await run_sync(env, connection_id, full=True)


def _expire_access_token(app: FastAPI, connection_id: str) -> None:
    with write_transaction(app.state.databases.main) as conn:
        stored = read_credentials(conn, app.state.cipher, connection_id)
        stored["access_token_expires_at"] = 0
        write_credentials(conn, app.state.cipher, connection_id, stored)


def test_a_sync_and_api_reads_show_in_the_scraped_metrics(qbo: SyncSetup) -> None:
    seed_realm(qbo.app, 40)
    url = qbo.server.url
    before = scrape(url)
    _expire_access_token(qbo.app, qbo.connection_id)
    # Half the requests answered 429: this 9-page sync is throttled (all but surely).
    qbo.realm.configure(error_rate=0.5, error_statuses=[429])
    run = asyncio.run(_sync(qbo.app, qbo.connection_id))
    assert run.status == "succeeded", run.error
    headers = {"Authorization": "Bearer lb_test_key", "Connection-Id": qbo.connection_id}
    assert httpx.get(f"{url}/customers", headers=headers).status_code == 200
    after = scrape(url)

    def delta(name: str, **labels: str) -> float:
        return moved(before, after, name, **labels)

    qbo_labels = {"provider": "qbo"}
    runs = "ledgerbridge_sync_runs_total"
    assert delta(runs, trigger="cli", outcome="succeeded", **qbo_labels) == 1
    assert delta("ledgerbridge_sync_records_total", action="added", **qbo_labels) == run.added
    assert delta("ledgerbridge_sync_records_total", action="deleted", **qbo_labels) == run.deleted
    assert delta("ledgerbridge_sync_pages_total", **qbo_labels) == run.pages
    duration = "ledgerbridge_sync_run_duration_seconds_count"
    assert delta(duration, outcome="succeeded", **qbo_labels) == 1
    assert delta("ledgerbridge_token_refreshes_total", outcome="ok", **qbo_labels) == 1
    assert delta("ledgerbridge_provider_throttles_total", **qbo_labels) >= 1
    assert delta("ledgerbridge_provider_retries_total", reason="throttled", **qbo_labels) >= 1
    assert delta("ledgerbridge_provider_wait_seconds_total", reason="throttled", **qbo_labels) > 0
    ok = delta("ledgerbridge_provider_requests_total", method="GET", status="200", **qbo_labels)
    assert ok >= run.pages
    latency = "ledgerbridge_http_request_duration_seconds_count"
    assert delta(latency, method="GET", route="/customers") == 1
    assert delta("ledgerbridge_http_requests_total", method="GET", route="/customers", status="200")
    assert after[("ledgerbridge_process_resident_memory_bytes", frozenset())] > 0


COUNT_ONE = """
from ledgerbridge.observability import metrics
metrics.SYNC_RUNS.labels("qbo", "schedule", "succeeded").inc()
"""
EXPOSE = """
import sys
from ledgerbridge.observability import metrics
sys.stdout.write(metrics.exposition()[0].decode())
"""


def test_processes_sharing_a_multiprocess_folder_report_their_sum(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(2):  # two workers, each counting one run
        subprocess.run([sys.executable, "-c", COUNT_ONE], env=env, check=True)
    text = subprocess.run(
        [sys.executable, "-c", EXPOSE], env=env, check=True, capture_output=True, text=True
    ).stdout
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    labels = frozenset({"provider": "qbo", "trigger": "schedule", "outcome": "succeeded"}.items())
    assert samples[("ledgerbridge_sync_runs_total", labels)] == 2
