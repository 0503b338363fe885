"""The admin API every sandbox mounts at `{mount}/_admin` (`sandbox/admin.py`), over real
loopback HTTP: tenants created with the platform's own defaults, knobs changed one at a
time, bad knobs refused with nothing changed, and the knobs taking effect at the
platform's API at once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from conftest import LiveServer
from ledgerbridge.providers.registry import get_platform, platform_names

# What a new tenant of each platform starts with: production's limits.
DEFAULTS: dict[str, dict[str, Any]] = {
    "qbo": {"requests_per_minute": 500, "max_concurrent": 10, "queue_when_busy": False},
    "qbd": {"requests_per_minute": None, "max_concurrent": None, "queue_when_busy": True},
    "intacct": {"requests_per_minute": None, "max_concurrent": 2, "queue_when_busy": False},
}
TENANTS = {"qbo": "9130350000000002", "qbd": "end_usr_admin", "intacct": "ADMINCO"}


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        yield client


def admin_url(provider: str, tenant: str | None = None) -> str:
    base = f"{get_platform(provider).sandbox.mount_path}/_admin/tenants"
    return base if tenant is None else f"{base}/{tenant}"


def list_customers(app: FastAPI, http: httpx.Client, provider: str) -> Callable[[], int]:
    """A call to the platform's customer list, as its clients make it; returns the status."""
    tenant = TENANTS[provider]
    issued = get_platform(provider).sandbox.credentials(app.state.sandbox, tenant)
    mount = get_platform(provider).sandbox.mount_path
    if provider == "qbo":
        url = f"{mount}/v3/company/{tenant}/query"
        params = {"query": "SELECT * FROM Customer"}
        headers = {"Authorization": f"Bearer {issued['access_token']}"}
    elif provider == "qbd":
        url, params = f"{mount}/quickbooks-desktop/customers", {}
        headers = {
            "Authorization": f"Bearer {issued['CONDUCTOR_SECRET_KEY']}",
            "Conductor-End-User-Id": tenant,
        }
    else:
        url, params = f"{mount}/objects/accounts-receivable/customer", {}
        headers = {"Authorization": f"Bearer {issued['access_token']}"}
    return lambda: http.get(url, params=params, headers=headers).status_code


@pytest.mark.parametrize("provider", platform_names())
def test_a_tenant_starts_with_the_platform_defaults_and_changes_one_knob_at_a_time(
    http: httpx.Client, provider: str
) -> None:
    tenant = TENANTS[provider]
    missing = http.get(admin_url(provider, tenant))
    assert missing.status_code == 404, missing.text

    created = http.put(admin_url(provider, tenant), json={})
    assert created.status_code == 200, created.text
    settings = created.json()["settings"]
    assert {name: settings[name] for name in DEFAULTS[provider]} == DEFAULTS[provider]

    slower = http.put(admin_url(provider, tenant), json={"latency_ms": 5})
    faulty = http.patch(admin_url(provider, tenant), json={"error_rate": 0.5})
    assert (slower.status_code, faulty.status_code) == (200, 200)
    expected = {**settings, "latency_ms": 5, "error_rate": 0.5}
    assert faulty.json()["settings"] == expected
    assert http.get(admin_url(provider, tenant)).json() == {
        "tenant_id": tenant,
        "settings": expected,
    }
    assert tenant in http.get(admin_url(provider)).json()["tenants"]


BAD_KNOBS = [
    ({"error_rate": 2}, "error_rate: Input should be less than or equal to 1"),
    ({"latency_ms": -1}, "latency_ms: Input should be greater than or equal to 0"),
    # None turns the limit off; 0 would refuse every request.
    ({"requests_per_minute": 0}, "requests_per_minute: Input should be greater than or equal"),
    ({"utc_offset": "7"}, "utc_offset: String should match pattern"),  # ±HH:MM
    ({"error_statuses": "500"}, "error_statuses: Input should be a valid list"),
    ({"throttle_as_xml": "sometimes"}, "throttle_as_xml: Input should be a valid boolean"),
    ({"no_such_knob": 1}, "no_such_knob: Extra inputs are not permitted"),
]


@pytest.mark.parametrize("provider", platform_names())
def test_bad_knobs_are_refused_in_plain_words_and_change_nothing(
    http: httpx.Client, provider: str
) -> None:
    tenant = TENANTS[provider]
    before = http.put(admin_url(provider, tenant), json={}).json()
    for body, reason in BAD_KNOBS:
        for method in ("PUT", "PATCH"):
            answer = http.request(method, admin_url(provider, tenant), json=body)
            assert answer.status_code == 422, (method, body, answer.text)
            assert reason in answer.text, answer.text  # in the platform's own envelope
    # Not an object, not JSON: refused by the app's own request validation (400 or 422).
    for content in (b"[1, 2]", b"{"):
        answer = http.patch(
            admin_url(provider, tenant),
            content=content,
            headers={"Content-Type": "application/json"},
        )
        assert answer.status_code in (400, 422), answer.text
    assert http.get(admin_url(provider, tenant)).json() == before
    unknown = http.patch(admin_url(provider, "nobody"), json={"latency_ms": 1})
    assert unknown.status_code == 404, unknown.text


@pytest.mark.parametrize("provider", platform_names())
def test_knobs_take_effect_at_the_platform_api_at_once(
    app: FastAPI, http: httpx.Client, provider: str
) -> None:
    get_platform(provider).sandbox.seed(app.state.sandbox, TENANTS[provider], 3, 7)
    call = list_customers(app, http, provider)
    knobs = admin_url(provider, TENANTS[provider])

    http.patch(knobs, json={"requests_per_minute": 2})
    assert [call() for _ in range(3)] == [200, 200, 429]
    http.patch(
        knobs, json={"requests_per_minute": None, "error_rate": 1.0, "error_statuses": [503]}
    )
    assert [call() for _ in range(3)] == [503] * 3
    http.patch(knobs, json={"error_rate": 0.0})
    assert call() == 200
